//! Status codes, the per-thread last-error message, and the panic boundary.
//!
//! Every exported function runs its body inside [`guard`], so no panic ever unwinds into C:
//! a panic becomes `CIRCUIT_ERR_PANIC` with its message available from
//! `circuit_last_error_message`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The result of every fallible function. `CIRCUIT_OK` is 0; numbers are never reused.
///
/// Codes 1-99 are successful outcomes that carry information, 100-199 are rejections, 200 and up
/// are errors. On any status other than `CIRCUIT_OK`, out-parameters are left untouched unless the
/// function's documentation says otherwise.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum circuit_status {
    /// Success.
    CIRCUIT_OK = 0,
    /// A `circuit_record_*` call was accepted but the permit was from an earlier generation:
    /// the outcome did not count (it is tallied in the `stale` metric). The permit is spent.
    CIRCUIT_STALE = 1,
    /// `circuit_process_counts`: the breaker object has no process entry of its own (a shared
    /// breaker with more than sixteen objects alive at once); nothing was written.
    CIRCUIT_NO_PROCESS_ENTRY = 2,
    /// `circuit_allow` rejected the call: the breaker is open. `retry_after_ns` is set.
    CIRCUIT_REJECTED_OPEN = 100,
    /// `circuit_allow` rejected the call: half-open and every probe slot is taken.
    CIRCUIT_REJECTED_HALF_OPEN_FULL = 101,
    /// `circuit_allow` rejected the call: the breaker was forced open.
    CIRCUIT_REJECTED_FORCED_OPEN = 102,
    /// `circuit_allow` on a breaker with a fleet: the local breaker admitted, the fleet breaker is
    /// open (or the store is unreachable with `CIRCUIT_FLEET_DEGRADED_OPEN`). `retry_after_ns` is
    /// set (`CIRCUIT_NO_TIME` when unknown).
    CIRCUIT_REJECTED_FLEET_OPEN = 103,
    /// `circuit_allow` on a breaker with a fleet: the fleet breaker is half-open and this instance
    /// holds no probe lease (every fleet-wide probe slot is taken, or one is being asked for).
    CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL = 104,
    /// The permit was already recorded (or is not a permit this breaker issued as a probe);
    /// nothing changed.
    CIRCUIT_ERR_ALREADY_RECORDED = 200,
    /// The configuration was refused; the message names the option. Nothing was created.
    CIRCUIT_ERR_INVALID_CONFIG = 201,
    /// A required pointer argument was NULL; nothing changed.
    CIRCUIT_ERR_NULL_POINTER = 202,
    /// The handle is zero, destroyed, forged, or of the wrong kind; nothing changed.
    CIRCUIT_ERR_INVALID_HANDLE = 203,
    /// A panic inside the library was caught; the message says where. The library stays usable.
    CIRCUIT_ERR_PANIC = 204,
    /// An argument is out of range (for example a NaN ratio or a non-UTF-8 name).
    CIRCUIT_ERR_INVALID_ARGUMENT = 205,
    /// The permit was issued by a different breaker; nothing changed.
    CIRCUIT_ERR_FOREIGN_PERMIT = 206,
    /// `circuit_restore` refused the state document (malformed, foreign, another name, out of
    /// range, or the breaker was used already); the message names the field, which
    /// `circuit_last_error_field` returns. The breaker is unchanged.
    CIRCUIT_ERR_INVALID_STATE = 207,
    /// A host region refused the operation (`circuit_region_open*`, `circuit_create` in a region,
    /// `circuit_region_advance`): the message names the region's path and the problem (a bad or
    /// foreign file, another capacity or clock, a full region, an unnamed breaker, or a breaker
    /// that exists with other options, naming each differing option). Nothing was created.
    CIRCUIT_ERR_REGION = 208,
}

pub use circuit_status::*;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    static LAST_FIELD: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Stores the message for `circuit_last_error_message` and returns `status`.
#[cold]
#[inline(never)]
pub(crate) fn fail(status: circuit_status, message: impl Into<String>) -> circuit_status {
    fail_field(status, None, message)
}

/// [`fail`], also recording the document field at fault for `circuit_last_error_field`.
#[cold]
#[inline(never)]
pub(crate) fn fail_field(status: circuit_status, field: Option<&str>, message: impl Into<String>) -> circuit_status {
    let message = message.into();
    let _ = LAST_ERROR.try_with(|cell| *cell.borrow_mut() = message);
    let _ = LAST_FIELD.try_with(|cell| *cell.borrow_mut() = field.map(str::to_owned));
    status
}

pub(crate) fn last_field() -> Option<String> {
    LAST_FIELD.try_with(|cell| cell.borrow().clone()).unwrap_or_default()
}

pub(crate) fn last_error() -> String {
    LAST_ERROR.try_with(|cell| cell.borrow().clone()).unwrap_or_default()
}

/// Runs an exported function's body, turning a panic into `CIRCUIT_ERR_PANIC`.
#[inline(always)]
pub(crate) fn guard(function: &'static str, body: impl FnOnce() -> circuit_status) -> circuit_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(payload) => panicked(function, payload),
    }
}

#[cold]
#[inline(never)]
fn panicked(function: &'static str, payload: Box<dyn std::any::Any + Send>) -> circuit_status {
    {
        {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            fail(CIRCUIT_ERR_PANIC, format!("{function}: internal panic caught: {detail}"))
        }
    }
}

/// Refuses a NULL pointer argument.
macro_rules! non_null {
    ($function:literal, $($ptr:ident),+) => {
        $(
            if $ptr.is_null() {
                return $crate::status::fail(
                    $crate::status::CIRCUIT_ERR_NULL_POINTER,
                    concat!($function, ": `", stringify!($ptr), "` is NULL"),
                );
            }
        )+
    };
}
pub(crate) use non_null;
