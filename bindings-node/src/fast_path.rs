//! The hot path: plain N-API functions that take their arguments from the thread's call frame
//! and write their result into it (`frame.rs`; the slots and numbers are laid out as
//! `protocol.rs` says), registered by [`register_fast_path`]. napi-rs 3.16 wraps every
//! generated callback in per-call borrow tracking that allocates (about 100 ns for a no-op
//! function and 270 ns for a method on this machine), which would be more than the rest of
//! `breaker.execute`; and reading argument handles and creating a result value costs about as
//! much as the N-API call itself, which the frame avoids. Each runs its body under
//! `catch_unwind`; module-level functions (the breaker id is in the frame) keep every call site
//! in `lib/breaker.js` monomorphic.

use std::cell::Cell;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use engine::{Outcome, RawPermit, Recorded};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use engine::fleet::Refused;

use crate::protocol::{
    ALREADY_RECORDED, COUNTED, EXACT_GENERATIONS, FRAME_ARGS, FRAME_BREAKER, FRAME_RESULT, FRAME_SLOTS, NO_FLEET_PROBE,
    OUTCOME_SCALE, PACKED_GENERATIONS, PART_ADMITTED_HIGH, PART_ADMITTED_LOW, PART_EVENTS, PART_FLEET_EPOCH,
    PART_FLEET_ID, PART_GENERATION, PART_TICKET, PERMIT_PARTS, PERMIT_SCALE, REJECTED, STATE_SCALE,
};
use crate::registry::{Entry, Failure, LOCAL, Local};

type Raw = sys::napi_value;
type Slots = [Cell<f64>; FRAME_SLOTS];

/// Runs a callback body with this thread's `Local` and call frame; an error or a panic becomes a
/// thrown JS `Error`. Returns nothing (the result is in the frame) unless the body returns a value.
fn guard(env: sys::napi_env, body: impl FnOnce(&Local, &Slots) -> std::result::Result<Raw, Failure>) -> Raw {
    let run = || LOCAL.with(|local| body(local, local.frame.slots(env)?));
    let message = match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(value)) => return value,
        Ok(Err(message)) => message,
        Err(_) => c"circuit: panic in native code",
    };
    // SAFETY: `env` is the live environment of the current callback; both strings are
    // NUL-terminated and outlive the call.
    unsafe { sys::napi_throw_error(env, c"ERR_CIRCUIT_NATIVE".as_ptr(), message.as_ptr()) };
    ptr::null_mut()
}

/// A whole number in [0, 2^53) read from a frame slot.
#[inline]
fn whole(slot: &Cell<f64>) -> std::result::Result<u64, Failure> {
    let value = slot.get();
    if (0.0..9_007_199_254_740_992.0).contains(&value) && (value as u64) as f64 == value {
        Ok(value as u64)
    } else {
        Err(c"circuit: expected a whole number")
    }
}

/// A whole number in [0, 2^32) read from a frame slot (the saturating cast and the exact
/// conversion back reject NaN, negatives, fractions and larger numbers in two instructions).
#[inline]
fn u32_at(slot: &Cell<f64>) -> std::result::Result<u32, Failure> {
    let value = slot.get();
    let n = value as u32;
    if f64::from(n) == value { Ok(n) } else { Err(c"circuit: expected a 32-bit whole number") }
}

/// A whole number below 2^53 as a double (through `i64`: one instruction, where `u64` takes six).
#[inline]
fn exact(n: u64) -> f64 {
    debug_assert!(n < 1 << 53);
    n as i64 as f64
}

/// Runs `f` on the breaker whose id is in the frame.
#[inline]
fn on_breaker<R>(
    local: &Local,
    frame: &Slots,
    f: impl FnOnce(&mut Entry, engine::ThreadSlot) -> std::result::Result<R, Failure>,
) -> std::result::Result<R, Failure> {
    local.with(u32_at(&frame[FRAME_BREAKER])?, f)?
}

/// Writes a result into the frame; the callback returns nothing.
#[inline]
fn answer(frame: &Slots, value: f64) -> std::result::Result<Raw, Failure> {
    frame[FRAME_RESULT].set(value);
    Ok(ptr::null_mut())
}

fn outcome(code: u64) -> std::result::Result<Outcome, Failure> {
    u8::try_from(code).ok().and_then(Outcome::from_code).ok_or(c"circuit: unknown outcome")
}

/// Records `successes` held-back successes of ordinary permits of the trivial generation.
fn settle(e: &Entry, slot: engine::ThreadSlot, successes: u32) -> std::result::Result<(), Failure> {
    if successes != 0 {
        let generation = e.trivial.get();
        if generation < 0.0 {
            return Err(c"circuit: successes held back without a trivial generation");
        }
        let permit = RawPermit::from_parts(generation as u64, RawPermit::NO_TIME, RawPermit::NO_TICKET);
        // An error partway (a saturated generation) leaves the count unknown: then nothing more
        // goes to an attached fleet's tally (an undercount of at most the batch, never a double).
        let counted = e.breaker.record_successes_on(slot, permit, successes).unwrap_or(successes);
        // The fleet counts them too (held back only for permits that were not its probe): from
        // the breaker's counters if it is attached, else in its tally.
        if let Some(fleet) = &e.fleet {
            fleet.record_successes_after(&e.breaker, slot, successes, counted);
        }
    }
    Ok(())
}

/// `fastAllow(id, successes)`: hands over `successes` held-back successes (as `fastSettle`),
/// then asks to make a call. Gives an ordinary permit as `generation * PERMIT_SCALE + events`,
/// `PERMIT_PARTS` for a probe or a permit stamped with its admission time (its parts are then in
/// the frame from `FRAME_ARGS` on), or `REJECTED - events` (`takeRejection()` has the details).
///
/// Publishes the permit's generation in the trivial-generation cell when the core says its
/// success would be trivial (`success_is_trivial`).
extern "C" fn fast_allow(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    guard(env, |local, frame| {
        let successes = u32_at(&frame[FRAME_ARGS])?;
        let (permit, events) = on_breaker(local, frame, |e, slot| {
            settle(e, slot, successes)?;
            if let Some(fleet) = &e.fleet {
                // Both levels (`fleet.rs`): the local breaker, then the fleet. A success of an
                // ordinary permit that the fleet did not grant as its probe may be held back like
                // a local one: `settle` hands it to both levels.
                let admitted = match fleet.allow_call_on(&e.breaker, slot, || fleet.now()) {
                    Ok(permit) => {
                        let generation = permit.local().generation();
                        if !permit.is_fleet_probe()
                            && generation < EXACT_GENERATIONS
                            && e.trivial.get() != exact(generation)
                            && e.breaker.success_is_trivial(&permit.local())
                        {
                            e.trivial.set(exact(generation));
                        }
                        Some(permit)
                    }
                    Err(refused) => {
                        e.rejection = Some(refused);
                        None
                    }
                };
                return Ok((admitted.map(|p| (p.local(), crate::fleet::probe_parts(&p))), e.queue.pending_bit()));
            }
            let permit = match e.breaker.allow_raw_on(slot) {
                Ok(permit) => {
                    let generation = permit.generation();
                    if generation < EXACT_GENERATIONS
                        && e.trivial.get() != exact(generation)
                        && e.breaker.success_is_trivial(&permit)
                    {
                        e.trivial.set(exact(generation));
                    }
                    Some(permit)
                }
                Err(rejected) => {
                    e.rejection = Some(Refused::Local(rejected));
                    None
                }
            };
            Ok((permit.map(|p| (p, (NO_FLEET_PROBE, NO_FLEET_PROBE))), e.queue.pending_bit()))
        })?;
        let Some((permit, (fleet_epoch, fleet_id))) = permit else {
            return answer(frame, f64::from(REJECTED - events));
        };
        let (generation, admitted_at, ticket) = permit.to_parts();
        if admitted_at == RawPermit::NO_TIME
            && ticket == RawPermit::NO_TICKET
            && fleet_epoch == NO_FLEET_PROBE
            && generation < PACKED_GENERATIONS
        {
            return answer(frame, exact(generation * PERMIT_SCALE as u64 + events as u64));
        }
        let parts = &frame[FRAME_ARGS..];
        parts[PART_GENERATION].set(generation as f64);
        parts[PART_ADMITTED_HIGH].set(f64::from((admitted_at >> 32) as u32));
        parts[PART_ADMITTED_LOW].set(f64::from(admitted_at as u32));
        parts[PART_TICKET].set(f64::from(ticket));
        parts[PART_EVENTS].set(f64::from(events));
        parts[PART_FLEET_EPOCH].set(fleet_epoch);
        parts[PART_FLEET_ID].set(fleet_id);
        answer(frame, f64::from(PERMIT_PARTS))
    })
}

/// `fastSettle(id, successes)`: records `successes` successes that `lib/breaker.js` held back, all
/// of ordinary permits of the trivial generation (the cell's value: JavaScript holds a success back
/// only when its permit's generation is the cell's, and the cell changes only in native calls,
/// each of which settles first). Gives the events bit.
extern "C" fn fast_settle(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    guard(env, |local, frame| {
        let successes = u32_at(&frame[FRAME_ARGS])?;
        let events = on_breaker(local, frame, |e, slot| {
            settle(e, slot, successes)?;
            Ok(e.queue.pending_bit())
        })?;
        answer(frame, f64::from(events))
    })
}

/// Records `permit` (with its fleet probe lease `probe`, for a breaker with a fleet: then through
/// `Fleet::record_call`, on both levels).
fn record(
    local: &Local,
    frame: &Slots,
    outcome: Outcome,
    permit: RawPermit,
    probe: Option<(u64, u64)>,
) -> std::result::Result<Raw, Failure> {
    let result = on_breaker(local, frame, |e, slot| {
        let recorded = match &e.fleet {
            Some(fleet) => {
                fleet.record_call_on(&e.breaker, slot, fleet.permit_from_parts(&e.breaker, permit, probe), outcome)
            }
            None => e.breaker.record_raw_on(slot, permit, outcome),
        };
        Ok(match recorded {
            Ok(Recorded::Counted) => COUNTED | e.queue.pending_bit(),
            Ok(Recorded::Stale) => e.queue.pending_bit(),
            Err(_) => ALREADY_RECORDED,
        })
    })?;
    answer(frame, f64::from(result))
}

/// `fastRecord(id, generation * OUTCOME_SCALE + outcome)`: records an ordinary permit. Gives
/// `counted * COUNTED + events`, or `ALREADY_RECORDED`.
extern "C" fn fast_record(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    guard(env, |local, frame| {
        let token = whole(&frame[FRAME_ARGS])?;
        let permit = RawPermit::from_parts(token / OUTCOME_SCALE, RawPermit::NO_TIME, RawPermit::NO_TICKET);
        record(local, frame, outcome(token % OUTCOME_SCALE)?, permit, None)
    })
}

/// `fastRecordParts(id, outcome, generation, admittedHigh, admittedLow, ticket, fleetEpoch,
/// fleetId)`: records any permit, as `fastAllow` gave its parts (the fleet parts only for a
/// breaker with a fleet). Same result as `fastRecord`.
extern "C" fn fast_record_parts(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    guard(env, |local, frame| {
        let args = &frame[FRAME_ARGS..];
        let outcome = outcome(whole(&args[0])?)?;
        let generation = whole(&args[1])?;
        let admitted_at = (u64::from(u32_at(&args[2])?) << 32) | u64::from(u32_at(&args[3])?);
        let ticket = u32_at(&args[4])?;
        // The fleet parts are read only for a breaker with a fleet (the frame may hold anything
        // there otherwise).
        let has_fleet = on_breaker(local, frame, |e, _| Ok(e.fleet.is_some()))?;
        let probe = if has_fleet { crate::fleet::probe_of(args[5].get(), args[6].get())? } else { None };
        record(local, frame, outcome, RawPermit::from_parts(generation, admitted_at, ticket), probe)
    })
}

/// `fastState(id)`: the state code with due transitions applied, `code * STATE_SCALE + events`.
extern "C" fn fast_state(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    guard(env, |local, frame| {
        let value = on_breaker(local, frame, |e, _| {
            Ok(i32::from(e.breaker.state().code()) * STATE_SCALE + e.queue.pending_bit())
        })?;
        answer(frame, f64::from(value))
    })
}

/// `frameView()`: this thread's call frame, a `Float64Array` of `FRAME_SLOTS` numbers (the same
/// object on every call).
extern "C" fn frame_view(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    let run = || LOCAL.with(|local| local.frame.view(env));
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(view)) => view,
        Ok(Err(message)) => {
            // SAFETY: as in `guard`.
            unsafe { sys::napi_throw_error(env, c"ERR_CIRCUIT_NATIVE".as_ptr(), message.as_ptr()) };
            ptr::null_mut()
        }
        Err(_) => {
            // SAFETY: as in `guard`.
            unsafe {
                sys::napi_throw_error(env, c"ERR_CIRCUIT_NATIVE".as_ptr(), c"circuit: panic in native code".as_ptr())
            };
            ptr::null_mut()
        }
    }
}

/// `trivialView(id)`: the `Float64Array` over the page of trivial-generation cells that holds
/// breaker `id`'s (`trivial.rs`), which `lib/breaker.js` reads on every success.
extern "C" fn trivial_view(env: sys::napi_env, _info: sys::napi_callback_info) -> Raw {
    guard(env, |local, frame| {
        let id = u32_at(&frame[FRAME_BREAKER])?;
        local.with(id, |_, _| ())?;
        local.pages.view(env, id)
    })
}

/// Adds the raw fast-path functions to the module's exports (see the module documentation).
#[napi(module_exports)]
pub fn register_fast_path(exports: Object, env: Env) -> Result<()> {
    type Callback = extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Raw;
    let functions: [(&CStr, Callback); 7] = [
        (c"fastAllow", fast_allow),
        (c"fastSettle", fast_settle),
        (c"fastRecord", fast_record),
        (c"fastRecordParts", fast_record_parts),
        (c"fastState", fast_state),
        (c"trivialView", trivial_view),
        (c"frameView", frame_view),
    ];
    for (name, callback) in functions {
        let mut function = ptr::null_mut();
        // SAFETY: `env` and `exports` are live for the module initialisation; `name` is
        // NUL-terminated (length -1 = NAPI_AUTO_LENGTH); the callback has the N-API signature.
        let status = unsafe {
            let created =
                sys::napi_create_function(env.raw(), name.as_ptr(), -1, Some(callback), ptr::null_mut(), &mut function);
            if created == sys::Status::napi_ok {
                sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr() as *const c_char, function)
            } else {
                created
            }
        };
        if status != sys::Status::napi_ok {
            return Err(Error::new(Status::GenericFailure, format!("cannot register {}", name.to_string_lossy())));
        }
    }
    Ok(())
}
