//! The metrics snapshot (docs/semantics.md, "Observability").

use std::time::Duration;

use crate::state::{Reason, State};

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
    /// Calls rejected, lifetime (the sum of the three `rejected_*` below).
    pub rejected: u64,
    /// Calls rejected because the breaker was open, lifetime.
    pub rejected_open: u64,
    /// Calls rejected because every half-open probe slot was taken, lifetime.
    pub rejected_half_open_full: u64,
    /// Calls rejected because the breaker was forced open, lifetime.
    pub rejected_forced_open: u64,
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
    /// Transitions by (from, to, reason), lifetime.
    pub transitions: TransitionCounts,
}

/// One breaker object's own lifetime totals. For a breaker shared through a host region
/// (docs/shared.md) these are the calls this object admitted and recorded, while [`Metrics`]
/// holds the region-wide totals; for a breaker of one process they equal the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessCounts {
    /// Calls admitted.
    pub admitted: u64,
    /// Calls rejected because the breaker was open.
    pub rejected_open: u64,
    /// Successes counted.
    pub successes: u64,
    /// Failures counted.
    pub failures: u64,
    /// Ignored outcomes.
    pub ignored: u64,
    /// Slow calls counted.
    pub slow: u64,
    /// Outcomes recorded with a stale permit.
    pub stale: u64,
}

const STATES: usize = State::ALL.len();
const REASONS: usize = Reason::ALL.len();

/// Lifetime count of transitions by (from, reason); the reason determines the state entered
/// ([`Reason::target`]), so this counts every (from, to, reason) that can happen.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TransitionCounts([u64; STATES * REASONS]);

impl Default for TransitionCounts {
    fn default() -> Self {
        Self([0; STATES * REASONS])
    }
}

impl TransitionCounts {
    /// How many transitions left `from` for `reason` (entering `reason.target()`).
    pub fn get(&self, from: State, reason: Reason) -> u64 {
        self.0[from as usize * REASONS + reason as usize]
    }

    /// Every (from, to, reason, count) with a count above zero, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (State, State, Reason, u64)> + '_ {
        State::ALL.iter().flat_map(move |&from| {
            Reason::ALL.iter().filter_map(move |&reason| {
                let count = self.get(from, reason);
                (count > 0).then_some((from, reason.target(), reason, count))
            })
        })
    }

    /// All transitions, lifetime (equals the generation, until it saturates).
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// Counts one transition out of `from` for `reason` (the engine's own bookkeeping; also how a
    /// test or an aggregator builds the counts it expects).
    pub fn add(&mut self, from: State, reason: Reason) {
        self.add_many(from, reason, 1);
    }

    /// Every count, in code order (a shared record's encoding).
    #[cfg(not(loom))]
    pub(crate) fn raw(&self) -> &[u64] {
        &self.0
    }

    /// Rebuilds counts from [`Self::raw`]; `None` for the wrong length.
    #[cfg(not(loom))]
    pub(crate) fn from_raw(raw: &[u64]) -> Option<Self> {
        raw.try_into().ok().map(Self)
    }

    /// How many counts there are.
    #[cfg(not(loom))]
    pub(crate) const LEN: usize = STATES * REASONS;

    pub(crate) fn add_many(&mut self, from: State, reason: Reason, n: u64) {
        let count = &mut self.0[from as usize * REASONS + reason as usize];
        *count = count.saturating_add(n);
    }
}

impl std::fmt::Debug for TransitionCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|(from, to, reason, n)| format!("{from}->{to} {reason}: {n}"))).finish()
    }
}
