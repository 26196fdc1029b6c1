//! Manual clocks: start at 0, move only when advanced; shareable by any number of breakers.

use engine::ManualClock;

use crate::config::circuit_clock;
use crate::handle::Table;
use crate::status::{
    CIRCUIT_ERR_INVALID_ARGUMENT, CIRCUIT_ERR_INVALID_HANDLE, CIRCUIT_OK, circuit_status, fail, guard, non_null,
};

pub(crate) static CLOCKS: Table<ManualClock> = Table::new();

fn invalid(function: &str, clock: circuit_clock) -> circuit_status {
    fail(CIRCUIT_ERR_INVALID_HANDLE, format!("{function}: {clock} is not a live clock handle"))
}

/// Creates a manual clock at instant 0 and writes its handle to `*out_clock`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_ARGUMENT` (too many
/// live clocks). Destroy it with `circuit_clock_destroy`.
///
/// # Safety
/// `out_clock` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_clock_manual_new(out_clock: *mut circuit_clock) -> circuit_status {
    guard("circuit_clock_manual_new", || {
        non_null!("circuit_clock_manual_new", out_clock);
        match CLOCKS.insert(std::sync::Arc::new(ManualClock::new())) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_clock.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_clock_manual_new: too many live clocks"),
        }
    })
}

/// Moves the clock forward by `nanos` (saturating); writes the new instant to `*out_now_ns` if it
/// is not NULL. Thread-safe.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `out_now_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_clock_manual_advance(
    clock: circuit_clock,
    nanos: u64,
    out_now_ns: *mut u64,
) -> circuit_status {
    guard("circuit_clock_manual_advance", || match CLOCKS.get(clock) {
        Some(manual) => {
            let now = manual.advance_nanos(nanos);
            if !out_now_ns.is_null() {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_now_ns.write(u64::try_from(now.as_nanos()).unwrap_or(u64::MAX)) };
            }
            CIRCUIT_OK
        }
        None => invalid("circuit_clock_manual_advance", clock),
    })
}

/// Writes the clock's current instant, in nanoseconds, to `*out_now_ns`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `out_now_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_clock_manual_now(clock: circuit_clock, out_now_ns: *mut u64) -> circuit_status {
    guard("circuit_clock_manual_now", || {
        non_null!("circuit_clock_manual_now", out_now_ns);
        match CLOCKS.get(clock) {
            Some(manual) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_now_ns.write(u64::try_from(manual.now().as_nanos()).unwrap_or(u64::MAX)) };
                CIRCUIT_OK
            }
            None => invalid("circuit_clock_manual_now", clock),
        }
    })
}

/// Destroys a clock handle. Breakers created with it keep using the clock's (now frozen) time.
/// Destroying twice returns `CIRCUIT_ERR_INVALID_HANDLE` the second time.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_clock_destroy(clock: circuit_clock) -> circuit_status {
    guard("circuit_clock_destroy", || match CLOCKS.remove(clock) {
        Some(_) => CIRCUIT_OK,
        None => invalid("circuit_clock_destroy", clock),
    })
}
