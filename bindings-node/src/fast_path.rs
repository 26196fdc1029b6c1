//! The hot path: plain N-API functions taking and returning numbers only, registered by
//! [`register_fast_path`] (the numbers are laid out as `protocol.rs` says). napi-rs 3.16 wraps
//! every generated callback in per-call borrow tracking that allocates (about 100 ns for a no-op
//! function and 270 ns for a method on this machine), which would be more than the rest of
//! `breaker.execute`. Each runs its body under `catch_unwind`; module-level functions (each takes
//! the breaker's id) keep every call site in `lib/breaker.js` monomorphic.

use std::ffi::{CStr, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Arc;

use engine::{Outcome, RawPermit, Recorded};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::protocol::{
    ALREADY_RECORDED, COUNTED, EXACT_GENERATIONS, NO_TRIVIAL_GENERATION, OUTCOME_SCALE, PACKED_GENERATIONS,
    PART_ADMITTED_HIGH, PART_ADMITTED_LOW, PART_EVENTS, PART_GENERATION, PART_TICKET, PARTS, PERMIT_SCALE, REJECTED,
    SMALL_PERMIT_MAX, STATE_SCALE,
};
use crate::registry::{Failure, LOCAL, Local, Trivial};

type Raw = sys::napi_value;

/// Runs a callback body; an error or a panic becomes a thrown JS `Error` (and a null return).
fn guard(env: sys::napi_env, body: impl FnOnce() -> std::result::Result<Raw, Failure>) -> Raw {
    let message = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return value,
        Ok(Err(message)) => message,
        Err(_) => c"circuit: panic in native code",
    };
    // SAFETY: `env` is the live environment of the current callback; both strings are
    // NUL-terminated and outlive the call.
    unsafe { sys::napi_throw_error(env, c"ERR_CIRCUIT_NATIVE".as_ptr(), message.as_ptr()) };
    ptr::null_mut()
}

/// The first `N` arguments (missing ones fail the number checks), the breaker id (the first
/// argument) and the thread's `Local`, which every fast-path function receives as callback data.
fn args<'a, const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> std::result::Result<([Raw; N], u32, &'a Local), Failure> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    // SAFETY: `argv` holds `argc` slots, as N-API requires.
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || argc < N || data.is_null() {
        return Err(c"circuit: missing argument");
    }
    let id = get_u32(env, argv[0])?;
    // SAFETY: `data` is the address of the `LOCAL` of the thread that created the function
    // (`register_fast_path`). A JS function runs only on the thread of its environment, and a
    // thread-local lives until its thread exits, after its environment is torn down.
    Ok((argv, id, unsafe { &*(data as *const Local) }))
}

fn get_u32(env: sys::napi_env, value: Raw) -> std::result::Result<u32, Failure> {
    let mut out = 0;
    // SAFETY: `value` is an argument handle of the current callback.
    match unsafe { sys::napi_get_value_uint32(env, value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        _ => Err(c"circuit: expected a number"),
    }
}

/// A whole number in [0, 2^53), passed as a JS number.
fn get_whole(env: sys::napi_env, value: Raw) -> std::result::Result<u64, Failure> {
    let mut out = 0.0;
    // SAFETY: as in `get_u32`.
    match unsafe { sys::napi_get_value_double(env, value, &mut out) } {
        sys::Status::napi_ok if (0.0..9_007_199_254_740_992.0).contains(&out) && (out as u64) as f64 == out => {
            Ok(out as u64)
        }
        _ => Err(c"circuit: expected a whole number"),
    }
}

fn int32(env: sys::napi_env, value: i32) -> std::result::Result<Raw, Failure> {
    let mut out = ptr::null_mut();
    // SAFETY: `out` receives a handle valid for the rest of the callback.
    match unsafe { sys::napi_create_int32(env, value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        _ => Err(c"circuit: cannot create a number"),
    }
}

fn double(env: sys::napi_env, value: f64) -> std::result::Result<Raw, Failure> {
    let mut out = ptr::null_mut();
    // SAFETY: as in `int32`.
    match unsafe { sys::napi_create_double(env, value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        _ => Err(c"circuit: cannot create a number"),
    }
}

fn array(env: sys::napi_env, values: &[f64]) -> std::result::Result<Raw, Failure> {
    let mut out = ptr::null_mut();
    // SAFETY: as in `int32`; every element handle is created in the same scope.
    unsafe {
        if sys::napi_create_array_with_length(env, values.len(), &mut out) != sys::Status::napi_ok {
            return Err(c"circuit: cannot create an array");
        }
        for (i, v) in values.iter().enumerate() {
            let element = double(env, *v)?;
            if sys::napi_set_element(env, out, i as u32, element) != sys::Status::napi_ok {
                return Err(c"circuit: cannot create an array");
            }
        }
    }
    Ok(out)
}

fn outcome(code: u64) -> std::result::Result<Outcome, Failure> {
    u8::try_from(code).ok().and_then(Outcome::from_code).ok_or(c"circuit: unknown outcome")
}

/// `fastAllow(id)`: asks to make a call.
/// * `generation * PERMIT_SCALE + events` (a number >= 0): admitted, an ordinary permit;
/// * `[generation, admittedHigh, admittedLow, ticket, events]`: admitted, a probe or a permit
///   stamped with its admission time (`NO_TIME_HALF` halves mean "no time", `NO_TICKET` "not a
///   probe");
/// * `REJECTED - events`: rejected; `takeRejection()` has the details.
///
/// Publishes the permit's generation in the trivial-generation cell when the core says its
/// success would be trivial (`success_is_trivial`).
extern "C" fn fast_allow(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let (_, id, local) = args::<1>(env, info)?;
        allow(env, local, id)
    })
}

/// `fastSettleAllow(id, successes)`: `fastSettle` then `fastAllow`, in one call.
extern "C" fn fast_settle_allow(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, successes], id, local) = args::<2>(env, info)?;
        settle(local, id, get_u32(env, successes)?)?;
        allow(env, local, id)
    })
}

/// `fastSettle(id, successes)`: records `successes` successes that `lib/breaker.js` held back, all
/// of ordinary permits of the trivial generation (the cell's value: JavaScript holds a success back
/// only when its permit's generation is the cell's, and the cell changes only in native calls,
/// each of which settles first). Returns the events bit.
extern "C" fn fast_settle(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, successes], id, local) = args::<2>(env, info)?;
        let events = settle(local, id, get_u32(env, successes)?)?;
        int32(env, events)
    })
}

fn settle(local: &Local, id: u32, successes: u32) -> std::result::Result<i32, Failure> {
    local.with(id, |e, slot| {
        if successes != 0 {
            let generation = e.trivial.get();
            if generation < 0.0 {
                return Err(c"circuit: successes held back without a trivial generation");
            }
            let permit = RawPermit::from_parts(generation as u64, RawPermit::NO_TIME, RawPermit::NO_TICKET);
            let _ = e.breaker.record_successes_on(slot, permit, successes);
        }
        Ok(e.queue.pending_bit())
    })?
}

fn allow(env: sys::napi_env, local: &Local, id: u32) -> std::result::Result<Raw, Failure> {
    let (result, events) = local.with(id, |e, slot| {
        let result = e.breaker.allow_raw_on(slot);
        match result {
            Ok(permit) => {
                let generation = permit.generation();
                if generation < EXACT_GENERATIONS
                    && e.trivial.get() != generation as f64
                    && e.breaker.success_is_trivial(&permit)
                {
                    e.trivial.set(generation as f64);
                }
                (Ok(permit), e.queue.pending_bit())
            }
            Err(rejected) => {
                e.rejection = Some(rejected);
                (Err(()), e.queue.pending_bit())
            }
        }
    })?;
    let Ok(permit) = result else {
        return int32(env, REJECTED - events);
    };
    let (generation, admitted_at, ticket) = permit.to_parts();
    if admitted_at == RawPermit::NO_TIME && ticket == RawPermit::NO_TICKET {
        if generation <= ((SMALL_PERMIT_MAX - 1) / PERMIT_SCALE) as u64 {
            return int32(env, generation as i32 * PERMIT_SCALE + events);
        }
        if generation < PACKED_GENERATIONS {
            return double(env, (generation * PERMIT_SCALE as u64 + events as u64) as f64);
        }
    }
    let mut parts = [0.0; PARTS];
    parts[PART_GENERATION] = generation as f64;
    parts[PART_ADMITTED_HIGH] = f64::from((admitted_at >> 32) as u32);
    parts[PART_ADMITTED_LOW] = f64::from(admitted_at as u32);
    parts[PART_TICKET] = f64::from(ticket);
    parts[PART_EVENTS] = f64::from(events);
    array(env, &parts)
}

#[inline]
fn record(local: &Local, id: u32, outcome: Outcome, permit: RawPermit) -> std::result::Result<i32, Failure> {
    local.with(id, |e, slot| match e.breaker.record_raw_on(slot, permit, outcome) {
        Ok(Recorded::Counted) => COUNTED | e.queue.pending_bit(),
        Ok(Recorded::Stale) => e.queue.pending_bit(),
        Err(_) => ALREADY_RECORDED,
    })
}

/// `fastRecord(id, generation * OUTCOME_SCALE + outcome)`: records an ordinary permit. Returns
/// `counted * COUNTED + events`, or `ALREADY_RECORDED`.
extern "C" fn fast_record(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, token], id, local) = args::<2>(env, info)?;
        let token = get_whole(env, token)?;
        let permit = RawPermit::from_parts(token / OUTCOME_SCALE, RawPermit::NO_TIME, RawPermit::NO_TICKET);
        int32(env, record(local, id, outcome(token % OUTCOME_SCALE)?, permit)?)
    })
}

/// `fastRecordParts(id, outcome, generation, admittedHigh, admittedLow, ticket)`: records any
/// permit, as returned in array form by `fastAllow`. Same result as `fastRecord`.
extern "C" fn fast_record_parts(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, code, generation, high, low, ticket], id, local) = args::<6>(env, info)?;
        let outcome = outcome(get_whole(env, code)?)?;
        let generation = get_whole(env, generation)?;
        let admitted_at = (u64::from(get_u32(env, high)?) << 32) | u64::from(get_u32(env, low)?);
        let ticket = get_u32(env, ticket)?;
        int32(env, record(local, id, outcome, RawPermit::from_parts(generation, admitted_at, ticket))?)
    })
}

/// `fastState(id)`: the state code with due transitions applied, `code * STATE_SCALE + events`.
extern "C" fn fast_state(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let (_, id, local) = args::<1>(env, info)?;
        let value = local.with(id, |e, _| i32::from(e.breaker.state().code()) * STATE_SCALE + e.queue.pending_bit())?;
        int32(env, value)
    })
}

/// `trivialView(id)`: a `Float64Array` of length 1 over the breaker's trivial-generation cell
/// ([`Trivial`]), which `lib/breaker.js` reads on every success. The memory is shared (an external
/// `ArrayBuffer` holding a reference to the cell), so the view always shows the current value.
/// Where external buffers are not allowed, the view is a plain array holding
/// `NO_TRIVIAL_GENERATION` for good: no success is held back then.
extern "C" fn trivial_view(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    unsafe extern "C" fn release(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
        // SAFETY: `hint` is the `Arc` leaked for this buffer below, released exactly once.
        drop(unsafe { Arc::from_raw(hint as *const Trivial) });
    }
    guard(env, || {
        let (_, id, local) = args::<1>(env, info)?;
        let cell = local.with(id, |e, _| Arc::clone(&e.trivial))?;
        let data = cell.as_ptr().cast::<c_void>();
        let hint = Arc::into_raw(cell).cast_mut().cast::<c_void>();
        let mut buffer = ptr::null_mut();
        // SAFETY: `data` is 8 aligned bytes inside the `Arc` that `hint` keeps alive until the
        // buffer is collected (`release`); JavaScript only reads them.
        let status = unsafe { sys::napi_create_external_arraybuffer(env, data, 8, Some(release), hint, &mut buffer) };
        if status != sys::Status::napi_ok {
            // SAFETY: the buffer was not created, so `release` will not run for `hint`.
            drop(unsafe { Arc::from_raw(hint as *const Trivial) });
            if status != sys::Status::napi_no_external_buffers_allowed {
                return Err(c"circuit: cannot create the trivial-generation view");
            }
            let mut bytes = ptr::null_mut();
            // SAFETY: N-API allocates 8 bytes, aligned for an `f64`, which are written once.
            unsafe {
                if sys::napi_create_arraybuffer(env, 8, &mut bytes, &mut buffer) != sys::Status::napi_ok {
                    return Err(c"circuit: cannot create the trivial-generation view");
                }
                bytes.cast::<f64>().write(NO_TRIVIAL_GENERATION);
            }
        }
        let mut view = ptr::null_mut();
        // SAFETY: `buffer` is a live 8-byte `ArrayBuffer` of this callback's scope.
        match unsafe { sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, 1, buffer, 0, &mut view) } {
            sys::Status::napi_ok => Ok(view),
            _ => Err(c"circuit: cannot create the trivial-generation view"),
        }
    })
}

/// Adds the raw fast-path functions to the module's exports. They are plain N-API callbacks taking
/// and returning numbers only: napi-rs 3.16's generated callbacks track borrows per call, which
/// costs about 100 ns for a no-op function and 270 ns for a method on this machine, more than the
/// rest of `breaker.execute`. Module-level functions (rather than functions bound to each breaker)
/// keep every call site in `lib/breaker.js` monomorphic, whatever the number of breakers.
#[napi(module_exports)]
pub fn register_fast_path(exports: Object, env: Env) -> Result<()> {
    type Callback = extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Raw;
    let functions: [(&CStr, Callback); 7] = [
        (c"fastAllow", fast_allow),
        (c"fastSettleAllow", fast_settle_allow),
        (c"fastSettle", fast_settle),
        (c"fastRecord", fast_record),
        (c"fastRecordParts", fast_record_parts),
        (c"fastState", fast_state),
        (c"trivialView", trivial_view),
    ];
    let local = LOCAL.with(|local| local as *const Local as *mut c_void);
    for (name, callback) in functions {
        let mut function = ptr::null_mut();
        // SAFETY: `env` and `exports` are live for the module initialisation; `name` is
        // NUL-terminated (length -1 = NAPI_AUTO_LENGTH); the callback has the N-API signature.
        let status = unsafe {
            let created = sys::napi_create_function(env.raw(), name.as_ptr(), -1, Some(callback), local, &mut function);
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
