//! The metrics snapshot (docs/semantics.md, "Observability").

use std::time::Duration;

use crate::state::State;

/// A consistent-enough snapshot: state, generation and window are read together under the state
/// lock; lifetime totals are summed from per-thread stripes at the same moment (a call racing the
/// snapshot may or may not be included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Current state (lazy transitions applied).
    pub state: State,
    /// Current generation (starts at 0, +1 per transition).
    pub generation: u64,
    /// Current run of consecutive failures in this generation.
    pub consecutive_failures: u64,
    /// Outcomes in the window (0 when no rate rule is configured).
    pub window_calls: u64,
    /// Failures in the window.
    pub window_failures: u64,
    /// Slow calls in the window.
    pub window_slow: u64,
    /// `window_failures / window_calls` (0 for an empty window).
    pub failure_rate: f64,
    /// `window_slow / window_calls` (0 for an empty window).
    pub slow_rate: f64,
    /// Calls admitted, lifetime.
    pub admitted: u64,
    /// Calls rejected, lifetime.
    pub rejected: u64,
    /// Successes counted, lifetime (stale ones excluded).
    pub successes: u64,
    /// Failures counted, lifetime (stale ones excluded).
    pub failures: u64,
    /// Ignored outcomes (including permits dropped unrecorded), lifetime.
    pub ignored: u64,
    /// Slow successes and failures counted, lifetime.
    pub slow: u64,
    /// Outcomes recorded with a stale permit, lifetime.
    pub stale: u64,
    /// Times the breaker entered `open`, lifetime.
    pub opened: u64,
    /// Time since the current state was entered.
    pub time_in_state: Duration,
    /// Time until a probe may be admitted, when `open`.
    pub retry_after: Option<Duration>,
}
