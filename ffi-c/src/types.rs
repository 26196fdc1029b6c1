//! Vocabulary shared by the C types: the breaker handle, states, reasons, the "no time" value.

/// A breaker handle (see `circuit_create`). 0 is never a valid handle; values are never reused.
#[allow(non_camel_case_types)]
pub type circuit_breaker = u64;

/// `admitted_at_ns` value of a permit whose admission time was not read (closed state without a
/// slow-call rule), and `retry_after_ns` value when there is no retry-after.
pub const CIRCUIT_NO_TIME: u64 = u64::MAX;

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

/// A duration in whole nanoseconds, saturating.
pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
