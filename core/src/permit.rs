//! Permits: what `allow` hands out and `record_*` takes back.
//!
//! * [`Permit`] borrows its breaker; recording consumes it, so recording twice does not compile.
//!   Dropping it unrecorded records it as `ignored` (a probe's slot is returned).
//! * [`OwnedPermit`] holds an `Arc` of its breaker, for permits that outlive a borrow (async
//!   tasks, language bindings). Recording it twice returns [`PermitError::AlreadyRecorded`].
//! * [`RawPermit`] is plain data for foreign-function interfaces: no drop behaviour, and the
//!   holder is responsible for recording it once (a probe recorded twice is still refused).

use std::sync::Arc;
use std::time::Duration;

use crate::breaker::CircuitBreaker;
use crate::error::PermitError;
use crate::state::{Outcome, Recorded};
use crate::sync::{AtomicBool, Ordering};

pub(crate) const NO_TIME: u64 = RawPermit::NO_TIME;
pub(crate) const NO_TICKET: u32 = RawPermit::NO_TICKET;

/// The data of a permit: the generation it was admitted in, when (if the clock was read), and
/// its probe ticket if it is a half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawPermit {
    pub(crate) generation: u64,
    pub(crate) admitted_at: u64,
    pub(crate) ticket: u32,
}

impl RawPermit {
    /// The `admitted_at` part of [`Self::to_parts`] when the clock was not read.
    pub const NO_TIME: u64 = u64::MAX;
    /// The `ticket` part of [`Self::to_parts`] for a permit that is not a half-open probe.
    pub const NO_TICKET: u32 = u32::MAX;

    /// The generation the permit was admitted in.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Admission instant on the breaker's clock. The closed-state path reads the clock only when
    /// a slow-call rule needs it, so this is `None` for closed-state permits without one.
    pub fn admitted_at(&self) -> Option<Duration> {
        (self.admitted_at != NO_TIME).then(|| Duration::from_nanos(self.admitted_at))
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket != NO_TICKET
    }

    /// The three fields, for storage in a foreign struct: `(generation, admitted_at or
    /// [`Self::NO_TIME`], ticket or [`Self::NO_TICKET`])`.
    pub fn to_parts(&self) -> (u64, u64, u32) {
        (self.generation, self.admitted_at, self.ticket)
    }

    /// Rebuilds a permit from [`RawPermit::to_parts`]. Any value is safe: a forged permit is
    /// reported stale or already recorded, never trusted to free a probe slot it does not hold.
    pub fn from_parts(generation: u64, admitted_at: u64, ticket: u32) -> Self {
        Self { generation, admitted_at, ticket }
    }

    /// This permit with its ticket marked ([`TICKET_MARK`] flipped): a ticket no probe holds and
    /// never [`NO_TICKET`], so the breaker's inlined record paths (which take only `NO_TICKET`)
    /// leave the outcome to a level over the breaker (the fleet), which unmarks it first. Every
    /// real ticket has bit 31 clear and is not `NO_TICKET ^ TICKET_MARK` (`crate::probes`), so a
    /// marked ticket is told from a real one by [`Self::is_marked`].
    #[inline(always)]
    pub(crate) fn marked(self) -> Self {
        Self { ticket: self.ticket ^ TICKET_MARK, ..self }
    }

    /// Whether the ticket is marked ([`Self::marked`]).
    #[inline]
    pub(crate) fn is_marked(&self) -> bool {
        self.ticket == NO_TICKET ^ TICKET_MARK || (self.ticket & TICKET_MARK != 0 && self.ticket != NO_TICKET)
    }

    /// The permit as the breaker issued it ([`Self::marked`] undone, if marked).
    #[inline]
    pub(crate) fn unmarked(self) -> Self {
        if self.is_marked() { self.marked() } else { self }
    }
}

/// The bit [`RawPermit::marked`] flips.
pub(crate) const TICKET_MARK: u32 = 1 << 31;

/// An admitted call. Record it with [`CircuitBreaker::record_success`],
/// [`CircuitBreaker::record_failure`] or [`CircuitBreaker::record_ignored`]; dropping it
/// unrecorded counts as `ignored`.
#[must_use = "record the call's outcome; a dropped permit counts as ignored"]
#[derive(Debug)]
pub struct Permit<'a> {
    pub(crate) breaker: &'a CircuitBreaker,
    pub(crate) raw: RawPermit,
}

impl<'a> Permit<'a> {
    /// The generation the permit was admitted in.
    pub fn generation(&self) -> u64 {
        self.raw.generation
    }
    /// See [`RawPermit::admitted_at`].
    pub fn admitted_at(&self) -> Option<Duration> {
        self.raw.admitted_at()
    }
    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.raw.is_probe()
    }
    /// Detaches the data; the caller must then record it with [`CircuitBreaker::record_raw`]
    /// (an unrecorded raw probe keeps its slot until `half_open_max_wait` or a transition).
    pub fn into_raw(self) -> RawPermit {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    #[inline(always)]
    pub(crate) fn spend(self) -> (&'a CircuitBreaker, RawPermit) {
        let this = std::mem::ManuallyDrop::new(self);
        (this.breaker, this.raw)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.breaker.record_raw(self.raw, Outcome::Ignored);
    }
}

/// A permit that owns a reference to its breaker. Record it once with [`OwnedPermit::record`]
/// (or the `record_*` shorthands); dropping it unrecorded counts as `ignored`.
#[must_use = "record the call's outcome; a dropped permit counts as ignored"]
#[derive(Debug)]
pub struct OwnedPermit {
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) raw: RawPermit,
    pub(crate) spent: AtomicBool,
}

impl OwnedPermit {
    /// Adopts a [`RawPermit`] issued by `breaker`, giving it drop-as-ignored behaviour and a
    /// spent flag (for bindings that admit through the raw path first).
    pub fn from_raw(breaker: Arc<CircuitBreaker>, raw: RawPermit) -> Self {
        Self { breaker, raw, spent: AtomicBool::new(false) }
    }

    /// The permit's data.
    pub fn raw(&self) -> RawPermit {
        self.raw
    }
    /// The breaker that issued it.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
    /// Whether an outcome was already recorded.
    pub fn is_spent(&self) -> bool {
        self.spent.load(Ordering::Acquire)
    }
    /// Records the outcome; a second call returns [`PermitError::AlreadyRecorded`].
    pub fn record(&self, outcome: Outcome) -> Result<Recorded, PermitError> {
        if self.spent.swap(true, Ordering::AcqRel) {
            return Err(PermitError::AlreadyRecorded);
        }
        self.breaker.record_raw(self.raw, outcome)
    }
    /// `record(Outcome::Success)`.
    pub fn record_success(&self) -> Result<Recorded, PermitError> {
        self.record(Outcome::Success)
    }
    /// `record(Outcome::Failure)`.
    pub fn record_failure(&self) -> Result<Recorded, PermitError> {
        self.record(Outcome::Failure)
    }
    /// `record(Outcome::Ignored)`.
    pub fn record_ignored(&self) -> Result<Recorded, PermitError> {
        self.record(Outcome::Ignored)
    }
    /// A failure with the dependency's retry time (see
    /// [`CircuitBreaker::record_failure_retry_after`]).
    pub fn record_failure_retry_after(&self, retry_after: std::time::Duration) -> Result<Recorded, PermitError> {
        if self.spent.swap(true, Ordering::AcqRel) {
            return Err(PermitError::AlreadyRecorded);
        }
        self.breaker.record_raw_retry_after(self.raw, retry_after)
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if !self.spent.swap(true, Ordering::AcqRel) {
            let _ = self.breaker.record_raw(self.raw, Outcome::Ignored);
        }
    }
}
