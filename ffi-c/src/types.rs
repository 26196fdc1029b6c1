//! Plain data exchanged with C: permits, states, reasons, transitions, metrics.

/// A breaker handle (see `circuit_create`). 0 is never a valid handle; values are never reused.
#[allow(non_camel_case_types)]
pub type circuit_breaker = u64;

/// `flags` bit: the permit is a half-open probe.
pub const CIRCUIT_PERMIT_PROBE: u32 = 1;
/// `flags` bit: the permit has been recorded; recording it again returns
/// `CIRCUIT_ERR_ALREADY_RECORDED`.
pub const CIRCUIT_PERMIT_SPENT: u32 = 2;
/// `admitted_at_ns` value of a permit whose admission time was not read (closed state without a
/// slow-call rule), and `retry_after_ns` value when there is no retry-after.
pub const CIRCUIT_NO_TIME: u64 = u64::MAX;

/// An admitted call, filled in by `circuit_allow` and spent by one `circuit_record_*`. Owned by
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
    /// Probe ticket (meaningful only with `CIRCUIT_PERMIT_PROBE`).
    pub ticket: u32,
    /// `CIRCUIT_PERMIT_PROBE` and `CIRCUIT_PERMIT_SPENT` bits.
    pub flags: u32,
}

/// A breaker state.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum circuit_breaker_state {
    /// Admits every call.
    CIRCUIT_STATE_CLOSED = 0,
    /// Admits nothing until the open duration has elapsed.
    CIRCUIT_STATE_OPEN = 1,
    /// Admits at most `half_open_max_calls` probes.
    CIRCUIT_STATE_HALF_OPEN = 2,
    /// Manually isolated.
    CIRCUIT_STATE_FORCED_OPEN = 3,
    /// Admits everything, never trips.
    CIRCUIT_STATE_DISABLED = 4,
}

impl From<engine::State> for circuit_breaker_state {
    fn from(state: engine::State) -> Self {
        use circuit_breaker_state::*;
        match state {
            engine::State::Closed => CIRCUIT_STATE_CLOSED,
            engine::State::Open => CIRCUIT_STATE_OPEN,
            engine::State::HalfOpen => CIRCUIT_STATE_HALF_OPEN,
            engine::State::ForcedOpen => CIRCUIT_STATE_FORCED_OPEN,
            engine::State::Disabled => CIRCUIT_STATE_DISABLED,
        }
    }
}

/// Why a transition happened (spelled as in docs/semantics.md by `circuit_reason_name`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum circuit_reason {
    /// closed -> open: consecutive failures.
    CIRCUIT_REASON_FAILURE_THRESHOLD = 0,
    /// closed -> open: failure rate.
    CIRCUIT_REASON_FAILURE_RATE = 1,
    /// closed -> open: slow-call rate.
    CIRCUIT_REASON_SLOW_CALL_RATE = 2,
    /// open -> half_open.
    CIRCUIT_REASON_OPEN_ELAPSED = 3,
    /// half_open -> open: a probe failed.
    CIRCUIT_REASON_PROBE_FAILURE = 4,
    /// half_open -> open: no verdict within the max wait.
    CIRCUIT_REASON_HALF_OPEN_MAX_WAIT = 5,
    /// half_open -> closed.
    CIRCUIT_REASON_PROBE_SUCCESS = 6,
    /// `circuit_reset`.
    CIRCUIT_REASON_RESET = 7,
    /// `circuit_force_open`.
    CIRCUIT_REASON_FORCE_OPEN = 8,
    /// `circuit_disable`.
    CIRCUIT_REASON_DISABLE = 9,
}

impl From<engine::Reason> for circuit_reason {
    fn from(reason: engine::Reason) -> Self {
        use circuit_reason::*;
        match reason {
            engine::Reason::FailureThreshold => CIRCUIT_REASON_FAILURE_THRESHOLD,
            engine::Reason::FailureRate => CIRCUIT_REASON_FAILURE_RATE,
            engine::Reason::SlowCallRate => CIRCUIT_REASON_SLOW_CALL_RATE,
            engine::Reason::OpenElapsed => CIRCUIT_REASON_OPEN_ELAPSED,
            engine::Reason::ProbeFailure => CIRCUIT_REASON_PROBE_FAILURE,
            engine::Reason::HalfOpenMaxWait => CIRCUIT_REASON_HALF_OPEN_MAX_WAIT,
            engine::Reason::ProbeSuccess => CIRCUIT_REASON_PROBE_SUCCESS,
            engine::Reason::Reset => CIRCUIT_REASON_RESET,
            engine::Reason::ForceOpen => CIRCUIT_REASON_FORCE_OPEN,
            engine::Reason::Disable => CIRCUIT_REASON_DISABLE,
        }
    }
}

/// One state transition, passed to listeners.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct circuit_transition {
    /// State left.
    pub from: circuit_breaker_state,
    /// State entered.
    pub to: circuit_breaker_state,
    /// Why.
    pub reason: circuit_reason,
    /// When, in nanoseconds on the breaker's clock (the due instant for lazy transitions).
    pub at_ns: u64,
    /// The generation the transition started.
    pub generation: u64,
}

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
    /// Lifetime rejections.
    pub rejected: u64,
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

pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
