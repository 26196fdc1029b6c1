//! Permits: `circuit_permit` (caller-owned), `circuit_allow` and the `circuit_record_*` functions.

use engine::{Outcome, PermitError, RawPermit, Recorded, RejectReason};

use crate::breaker::with_breaker_on;
use crate::family_permit::release_recorded;
use crate::status::*;
use crate::types::*;

/// `flags` bit: the permit is a half-open probe.
pub const CIRCUIT_PERMIT_PROBE: u32 = 1;
/// `flags` bit: the permit has been recorded; recording it again returns
/// `CIRCUIT_ERR_ALREADY_RECORDED`.
pub const CIRCUIT_PERMIT_SPENT: u32 = 2;
/// `flags` bit: the permit comes from `circuit_family_allow` and its `breaker` is a member handle
/// made for it, which pins the member until a `circuit_record_*` records it (and releases the
/// handle).
pub const CIRCUIT_PERMIT_MEMBER: u32 = 4;
/// `flags` bit: the permit comes from a breaker with a fleet (`circuit_config_set_fleet`); its
/// `circuit_record_*` records on both levels.
pub const CIRCUIT_PERMIT_FLEET: u32 = 8;
/// `flags` bit: the call is the fleet's probe: it holds the probe lease `fleet_epoch` /
/// `fleet_probe` granted by the store, and its outcome is the lease's verdict.
pub const CIRCUIT_PERMIT_FLEET_PROBE: u32 = 16;
/// An admitted call, filled in by `circuit_allow` (or `circuit_family_allow`) and spent by one `circuit_record_*`. Owned by
/// the caller (copy it, keep it on the stack, anywhere); treat the fields as read-only. A permit
/// that is never recorded holds a half-open probe slot until `half_open_max_wait` or the next
/// transition: record `circuit_record_ignored` for calls you abandon.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct circuit_permit {
    /// The breaker that issued it.
    pub breaker: circuit_breaker,
    /// The breaker's generation at admission.
    pub generation: u64,
    /// Admission instant on the breaker's clock, or `CIRCUIT_NO_TIME`.
    pub admitted_at_ns: u64,
    /// Opaque: the probe ticket (with `CIRCUIT_PERMIT_PROBE`) or, with `CIRCUIT_PERMIT_FLEET`,
    /// the ticket as the fleet level carries it.
    pub ticket: u32,
    /// `CIRCUIT_PERMIT_PROBE`, `CIRCUIT_PERMIT_SPENT`, `CIRCUIT_PERMIT_MEMBER`,
    /// `CIRCUIT_PERMIT_FLEET` and `CIRCUIT_PERMIT_FLEET_PROBE` bits.
    pub flags: u32,
    /// The fleet epoch of the probe lease (meaningful only with `CIRCUIT_PERMIT_FLEET_PROBE`).
    pub fleet_epoch: u64,
    /// The fleet probe lease id (meaningful only with `CIRCUIT_PERMIT_FLEET_PROBE`).
    pub fleet_probe: u64,
}

/// Asks to make a call.
///
/// Returns `CIRCUIT_OK` and fills `*out_permit`; or a rejection, `CIRCUIT_REJECTED_OPEN`,
/// `CIRCUIT_REJECTED_HALF_OPEN_FULL` or `CIRCUIT_REJECTED_FORCED_OPEN` (the local breaker), or,
/// for a breaker with a fleet (`circuit_config_set_fleet`), `CIRCUIT_REJECTED_FLEET_OPEN` or
/// `CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL` (the local breaker admitted, the fleet refused),
/// leaving `*out_permit` untouched and writing the time until a probe may be admitted to
/// `*out_retry_after_ns` (if not NULL; `CIRCUIT_NO_TIME` when there is none); or
/// `CIRCUIT_ERR_INVALID_HANDLE`, `CIRCUIT_ERR_NULL_POINTER` (`out_permit` NULL).
///
/// # Safety
/// `out_permit` is NULL or writable; `out_retry_after_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_allow(
    breaker: circuit_breaker,
    out_permit: *mut circuit_permit,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    // A breaker with a fleet takes its own way before anything else: a tail call, so its path
    // runs in one frame as this one does (a nested call saved and restored every register twice).
    if breaker & crate::handle::HANDLE_TAG != 0 {
        return allow_path::<true>(breaker, out_permit, out_retry_after_ns);
    }
    allow_path::<false>(breaker, out_permit, out_retry_after_ns)
}

/// `circuit_allow` of a breaker with a fleet (`FLEET`) or without, each in a frame of its own.
/// `extern "C"` (it cannot unwind), so the dispatcher needs no landing pad and jumps here.
#[inline(never)]
extern "C" fn allow_path<const FLEET: bool>(
    breaker: circuit_breaker,
    out_permit: *mut circuit_permit,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    guard("circuit_allow", || {
        non_null!("circuit_allow", out_permit);
        if FLEET {
            return crate::fleet::allow(breaker, out_permit, out_retry_after_ns);
        }
        let args = (out_permit, out_retry_after_ns);
        with_breaker_on("circuit_allow", breaker, args, |b, slot, breaker, (out_permit, out_retry_after_ns)| {
            match b.allow_raw_on(slot) {
                Ok(raw) => {
                    let (generation, admitted_at_ns, ticket) = raw.to_parts();
                    let flags = if raw.is_probe() { CIRCUIT_PERMIT_PROBE } else { 0 };
                    // SAFETY: non-null and writable per the contract.
                    unsafe {
                        out_permit.write(circuit_permit {
                            breaker,
                            generation,
                            admitted_at_ns,
                            ticket,
                            flags,
                            fleet_epoch: 0,
                            fleet_probe: 0,
                        })
                    };
                    CIRCUIT_OK
                }
                Err(rejected) => {
                    if !out_retry_after_ns.is_null() {
                        // SAFETY: non-null and writable per the contract.
                        unsafe { out_retry_after_ns.write(rejected.retry_after().map_or(CIRCUIT_NO_TIME, nanos)) };
                    }
                    match rejected.reason() {
                        RejectReason::Open => CIRCUIT_REJECTED_OPEN,
                        RejectReason::HalfOpenFull => CIRCUIT_REJECTED_HALF_OPEN_FULL,
                        RejectReason::ForcedOpen => CIRCUIT_REJECTED_FORCED_OPEN,
                    }
                }
            }
        })
    })
}

const fn outcome_of(code: u8) -> Outcome {
    match Outcome::from_code(code) {
        Some(outcome) => outcome,
        None => panic!("not an outcome code"),
    }
}

/// The exported function that records `code`, for messages (a constant: nothing to pass around).
const fn function_of(code: u8) -> &'static str {
    match outcome_of(code) {
        Outcome::Success => "circuit_record_success",
        Outcome::Failure => "circuit_record_failure",
        Outcome::Ignored => "circuit_record_ignored",
    }
}

/// The body of every `circuit_record_*`. The outcome is a constant (its code), so that each
/// exported function gets its own copy with its own panic-guard closure, which the compiler then
/// inlines whole (one shared closure was left out of line, behind an extra call).
#[inline(always)]
fn record<const OUTCOME: u8>(breaker: circuit_breaker, permit: *mut circuit_permit) -> circuit_status {
    // Two tail calls: a permit of a breaker with a fleet takes its own way, each path runs in
    // one frame, and neither saves registers for the other.
    // SAFETY: non-null, and valid per the contract.
    if !permit.is_null() && unsafe { std::ptr::read_volatile(&raw const (*permit).flags) } & CIRCUIT_PERMIT_FLEET != 0 {
        return record_path::<OUTCOME, true>(breaker, permit);
    }
    record_path::<OUTCOME, false>(breaker, permit)
}

/// `record` of a permit of a breaker with a fleet (`FLEET`: `CIRCUIT_PERMIT_FLEET`) or of any
/// other, each in a frame of its own (`record` is a dispatcher of two tail calls, so neither
/// path saves registers for the other).
#[inline(never)]
extern "C" fn record_path<const OUTCOME: u8, const FLEET: bool>(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    let function = const { function_of(OUTCOME) };
    guard(function, || {
        non_null!("circuit_record_*", permit);
        let flags = match check_permit(function, breaker, permit) {
            Ok(flags) => flags,
            Err(status) => return status,
        };
        // The rest of the permit is read once the handle is validated: two words of arguments
        // travel in registers, more would be spilled on every call (see `with_breaker_on`). The
        // closures capture nothing.
        let status = if FLEET {
            crate::breaker::with_fleet_breaker(function, breaker, (permit, flags), |held, slot, _, (permit, flags)| {
                let (function, outcome) = const { (function_of(OUTCOME), outcome_of(OUTCOME)) };
                crate::fleet::record_held(function, held, slot, permit, flags, outcome, None)
            })
        } else {
            with_breaker_on(function, breaker, (permit, flags), |b, slot, _, (permit, flags)| {
                let function = const { function_of(OUTCOME) };
                // SAFETY: as in `check_permit`; nothing ran in between that could touch the struct.
                let raw = unsafe { read_permit(permit, flags) };
                // SAFETY: as above.
                unsafe { finish(function, permit, b.record_raw_on(slot, raw, const { outcome_of(OUTCOME) })) }
            })
        };
        if flags & CIRCUIT_PERMIT_MEMBER != 0 {
            release_recorded(breaker, status);
        }
        status
    })
}

/// The permit's flags if it may be recorded on `breaker` (not spent, issued by it).
///
/// Reads the fields through the raw pointer, one at a time (no reference is kept across the
/// engine call, during which listeners run and could legally touch the same struct), and 8 bytes
/// at a time (a merged 16-byte load of fields the caller stored separately stalls on store
/// forwarding).
#[inline(always)]
fn check_permit(function: &str, breaker: circuit_breaker, permit: *mut circuit_permit) -> Result<u32, circuit_status> {
    // SAFETY: non-null (checked by the caller) and points to a valid permit per the contract.
    let (flags, issuer) = unsafe {
        (std::ptr::read_volatile(&raw const (*permit).flags), std::ptr::read_volatile(&raw const (*permit).breaker))
    };
    if flags & CIRCUIT_PERMIT_SPENT != 0 {
        return Err(fail(CIRCUIT_ERR_ALREADY_RECORDED, format!("{function}: the permit was already recorded")));
    }
    if issuer != breaker {
        return Err(fail(
            CIRCUIT_ERR_FOREIGN_PERMIT,
            format!("{function}: the permit was issued by breaker {issuer}, not {breaker}"),
        ));
    }
    Ok(flags)
}

/// The engine's view of a checked permit.
///
/// # Safety
/// `permit` is non-null and valid (checked by `check_permit` in the same call).
#[inline(always)]
pub(crate) unsafe fn read_permit(permit: *mut circuit_permit, flags: u32) -> RawPermit {
    // SAFETY: per the function's contract.
    let (generation, admitted_at, ticket) = unsafe {
        (
            std::ptr::read_volatile(&raw const (*permit).generation),
            std::ptr::read_volatile(&raw const (*permit).admitted_at_ns),
            std::ptr::read_volatile(&raw const (*permit).ticket),
        )
    };
    let ticket = if flags & CIRCUIT_PERMIT_PROBE != 0 { ticket } else { RawPermit::NO_TICKET };
    RawPermit::from_parts(generation, admitted_at, ticket)
}

/// Marks the permit spent on a recorded outcome and maps the engine's answer to a status.
///
/// # Safety
/// `permit` is non-null and valid (checked by `check_permit` in the same call).
#[inline(always)]
pub(crate) unsafe fn finish(
    function: &str,
    permit: *mut circuit_permit,
    recorded: Result<Recorded, PermitError>,
) -> circuit_status {
    match recorded {
        Ok(recorded) => {
            // SAFETY: per the function's contract; written through the raw pointer.
            unsafe { (*permit).flags |= CIRCUIT_PERMIT_SPENT };
            match recorded {
                Recorded::Counted => CIRCUIT_OK,
                Recorded::Stale => CIRCUIT_STALE,
            }
        }
        Err(PermitError::AlreadyRecorded) => fail(
            CIRCUIT_ERR_ALREADY_RECORDED,
            format!("{function}: the probe permit was already recorded or was not issued"),
        ),
        Err(PermitError::ForeignPermit) => fail(CIRCUIT_ERR_FOREIGN_PERMIT, format!("{function}: foreign permit")),
    }
}

/// Records a failure that came with the dependency's retry time (an HTTP `Retry-After`), in
/// nanoseconds: if this failure opens the breaker (it trips it, or a probe's failure re-opens it),
/// the breaker stays open at least that long, capped by `max_reset_timeout`; otherwise it is an
/// ordinary failure. Same statuses as `circuit_record_failure`.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_failure_retry_after(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
    retry_after_ns: u64,
) -> circuit_status {
    const FUNCTION: &str = "circuit_record_failure_retry_after";
    guard(FUNCTION, || {
        non_null!("circuit_record_failure_retry_after", permit);
        let flags = match check_permit(FUNCTION, breaker, permit) {
            Ok(flags) => flags,
            Err(status) => return status,
        };
        if flags & CIRCUIT_PERMIT_FLEET != 0 {
            let retry = std::time::Duration::from_nanos(retry_after_ns);
            let status = crate::fleet::record(FUNCTION, breaker, permit, flags, Outcome::Failure, Some(retry));
            if flags & CIRCUIT_PERMIT_MEMBER != 0 {
                release_recorded(breaker, status);
            }
            return status;
        }
        let status = with_breaker_on(FUNCTION, breaker, (permit, flags), move |b, _, _, (permit, flags)| {
            // SAFETY: checked above; nothing ran in between that could touch the struct.
            let raw = unsafe { read_permit(permit, flags) };
            let recorded = b.record_raw_retry_after(raw, std::time::Duration::from_nanos(retry_after_ns));
            // SAFETY: as above.
            unsafe { finish(FUNCTION, permit, recorded) }
        });
        if flags & CIRCUIT_PERMIT_MEMBER != 0 {
            release_recorded(breaker, status);
        }
        status
    })
}

/// Records a success. Returns `CIRCUIT_OK` (counted) or `CIRCUIT_STALE` (from an earlier
/// generation: not counted), both marking the permit spent; `CIRCUIT_ERR_ALREADY_RECORDED`,
/// `CIRCUIT_ERR_FOREIGN_PERMIT`, `CIRCUIT_ERR_INVALID_HANDLE`, `CIRCUIT_ERR_NULL_POINTER`, which
/// change nothing.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_success(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    record::<{ Outcome::Success.code() }>(breaker, permit)
}

/// Records a failure. Same statuses as `circuit_record_success`.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_failure(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    record::<{ Outcome::Failure.code() }>(breaker, permit)
}

/// Records a neutral outcome (cancelled, or an error that is not the dependency's fault): it
/// enters no window and returns a probe's slot. Same statuses as `circuit_record_success`.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_ignored(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    record::<{ Outcome::Ignored.code() }>(breaker, permit)
}
