//! The metrics snapshot: `circuit_metrics_snapshot` and `circuit_metrics`.

use crate::breaker::with_breaker;
use crate::status::*;
use crate::types::*;

/// A metrics snapshot (docs/semantics.md "Observability"). Durations in nanoseconds.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct circuit_metrics_snapshot {
    /// Current state.
    pub state: circuit_breaker_state,
    /// Current generation.
    pub generation: u64,
    /// Current run of consecutive failures.
    pub consecutive_failures: u64,
    /// Outcomes in the window.
    pub window_calls: u64,
    /// Failures in the window.
    pub window_failures: u64,
    /// Slow calls in the window.
    pub window_slow: u64,
    /// window_failures / window_calls (0 when empty).
    pub failure_rate: f64,
    /// window_slow / window_calls (0 when empty).
    pub slow_rate: f64,
    /// Lifetime admissions.
    pub admitted: u64,
    /// Lifetime rejections (the sum of the three below).
    pub rejected: u64,
    /// Lifetime rejections because the breaker was open.
    pub rejected_open: u64,
    /// Lifetime rejections because every half-open probe slot was taken.
    pub rejected_half_open_full: u64,
    /// Lifetime rejections because the breaker was forced open.
    pub rejected_forced_open: u64,
    /// Lifetime counted successes.
    pub successes: u64,
    /// Lifetime counted failures.
    pub failures: u64,
    /// Lifetime ignored outcomes.
    pub ignored: u64,
    /// Lifetime slow outcomes.
    pub slow: u64,
    /// Lifetime stale outcomes.
    pub stale: u64,
    /// Times the breaker opened.
    pub opened: u64,
    /// Time since the current state was entered.
    pub time_in_state_ns: u64,
    /// Time until a probe may be admitted when open, else `CIRCUIT_NO_TIME`.
    pub retry_after_ns: u64,
}

impl From<&engine::Metrics> for circuit_metrics_snapshot {
    fn from(m: &engine::Metrics) -> Self {
        Self {
            state: m.state.into(),
            generation: m.generation,
            consecutive_failures: m.consecutive_failures,
            window_calls: m.window_calls,
            window_failures: m.window_failures,
            window_slow: m.window_slow,
            failure_rate: m.failure_rate,
            slow_rate: m.slow_rate,
            admitted: m.admitted,
            rejected: m.rejected,
            rejected_open: m.rejected_open,
            rejected_half_open_full: m.rejected_half_open_full,
            rejected_forced_open: m.rejected_forced_open,
            successes: m.successes,
            failures: m.failures,
            ignored: m.ignored,
            slow: m.slow,
            stale: m.stale,
            opened: m.opened,
            time_in_state_ns: nanos(m.time_in_state),
            retry_after_ns: m.retry_after.map_or(CIRCUIT_NO_TIME, nanos),
        }
    }
}

/// Writes a metrics snapshot to `*out_metrics`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_metrics` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_metrics(
    breaker: circuit_breaker,
    out_metrics: *mut circuit_metrics_snapshot,
) -> circuit_status {
    guard("circuit_metrics", || {
        non_null!("circuit_metrics", out_metrics);
        with_breaker("circuit_metrics", breaker, |b| {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_metrics.write((&b.metrics()).into()) };
            CIRCUIT_OK
        })
    })
}
