//! The engine: one breaker's state machine (docs/semantics.md).
//!
//! # Concurrency design
//!
//! Three atomic words carry everything the hot paths read; a mutex guards everything else.
//!
//! | word | bits | written |
//! | --- | --- | --- |
//! | `word` | `generation << 3 \| state` | only under `inner`, last step of a transition |
//! | `run` | `(generation mod 2^32) << 32 \| consecutive failures` | under `inner` on a transition; by CAS on a closed/disabled failure, or a success after failures |
//! | `open_until` | due instant of `open -> half_open` | under `inner` when entering `open`, before `word` |
//!
//! A state never changes within a generation, so a reader that sees generation `g` in `word` knows
//! the state of `g`. The fast paths:
//!
//! * `allow` in `closed`/`disabled`: one load of `word`, one bump of this thread's counter stripe,
//!   and a clock read only when a slow-call rule needs the admission time. No lock, no allocation.
//! * `allow` in `open`: load `word` and `open_until`, read the cheap coarse clock; reject if the
//!   due instant is certainly not reached. Otherwise the slow path decides with the precise clock.
//! * `record_success` in consecutive mode: load `word` and `run`; if the run is already zero and
//!   the tag matches, no shared write at all. A failure CASes the run with the tag checked in the
//!   same instruction, so an outcome from an older generation can never touch a newer run.
//!
//! * `record_success` with a rate window: a plain success is one CAS on this thread's success cell
//!   (`crate::cells`), folded into the exact window by the next locked decision; see
//!   docs/ARCHITECTURE.md, "The rate window".
//!
//! Everything else (half-open admission and verdicts, failures and slow calls with a rate rule, lazy time-driven
//! transitions, manual control, metrics) runs under `inner`, a mutex held for a few instructions
//! with no user code inside. Nothing allocates on the record path; a transition queues its event
//! (which may grow the queue), and probe bookkeeping grows only beyond 64 concurrent probes. A
//! rejection of a named breaker clones the name's `Arc` (one atomic increment).
//!
//! # Invariants
//!
//! 1. **Probe cap.** A probe is admitted only under `inner`, in the half-open generation, while
//!    `outstanding + successes < half_open_max_calls`; a slot is returned only by removing a ticket
//!    that is outstanding. So at most `half_open_max_calls` probes are in flight or succeeded per
//!    generation, however many threads race, and a forged or twice-recorded permit frees nothing.
//! 2. **One transition per generation change.** Transitions happen only in [`CircuitBreaker::transition`],
//!    under `inner`, which bumps the generation exactly once, rewrites `run` and then `word`, and
//!    queues exactly one event. Every caller re-checks state and generation under the lock first,
//!    so two threads that both saw a trip condition produce one transition.
//! 3. **Stale outcomes drive nothing.** An outcome counts only if its generation is current at the
//!    moment it is applied: under `inner` for locked paths, or through the tagged CAS on `run`.
//! 4. **No lost transition.** Lazy transitions are computed from the clock and the stored due
//!    instants on every operation that could observe them, so no deadline can be missed; each is
//!    dated at its due instant.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::backoff::{Jitter, open_duration};
use crate::cells::{self, Ledger};
use crate::clock::{Clock, ClockSource};
use crate::config::{Config, MaxWait};
use crate::counters::{Counter, Counters, ThreadSlot};
use crate::error::{PermitError, Rejected};
use crate::events::{Events, ListenerId, Transition};
use crate::export::{self, Snapshot, StateError};
use crate::metrics::{Metrics, ProcessCounts, TransitionCounts};
use crate::permit::{NO_TICKET, NO_TIME, OwnedPermit, Permit, RawPermit};
use crate::probes::Probes;
use crate::state::{Outcome, Reason, Recorded, RejectReason, State};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, exclusive_slot};

mod guard;
#[cfg(not(loom))]
mod host;

use crate::window::{SlidingWindow, Tally};
use guard::InnerGuard;

const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const MAX_GENERATION: u64 = u64::MAX >> STATE_BITS;
/// The default half-open max wait is the preceding open duration, but never less than this, so
/// that a probe slower than a short open duration still gets its verdict counted.
const DEFAULT_MAX_WAIT_FLOOR: u64 = 30_000_000_000;

#[inline]
fn pack_word(generation: u64, state: State) -> u64 {
    (generation << STATE_BITS) | u64::from(state.code())
}

#[inline]
fn word_generation(word: u64) -> u64 {
    word >> STATE_BITS
}

#[inline]
fn word_state(word: u64) -> State {
    State::from_code((word & STATE_MASK) as u8).unwrap_or(State::Closed)
}

#[inline]
fn run_tag(generation: u64) -> u64 {
    generation & 0xFFFF_FFFF
}

#[inline]
fn pack_run(generation: u64, failures: u32) -> u64 {
    (run_tag(generation) << 32) | u64::from(failures)
}

/// The current instant, read from the clock at most once and only if needed (a read made under
/// the lock cannot precede the current state's entry).
struct LazyNow<'a> {
    clock: &'a ClockSource,
    value: Option<u64>,
}

impl LazyNow<'_> {
    fn get(&mut self) -> u64 {
        *self.value.get_or_insert_with(|| self.clock.now())
    }
}

/// A circuit breaker. `Send + Sync`; share it with `Arc`.
///
/// ```
/// use circuit::{CircuitBreaker, Config, ManualClock, State};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let config = Config::builder()
///     .failure_threshold(2)
///     .reset_timeout(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// let breaker = CircuitBreaker::with_clock(config, clock.clone());
///
/// for _ in 0..2 {
///     let permit = breaker.allow().unwrap();
///     breaker.record_failure(permit).unwrap();
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let rejected = breaker.allow().unwrap_err();
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(10)));
///
/// clock.advance(Duration::from_secs(10));
/// let probe = breaker.allow().unwrap();
/// assert!(probe.is_probe());
/// assert!(breaker.record_success(probe).unwrap().counted());
/// assert_eq!(breaker.state(), State::Closed);
/// ```
pub struct CircuitBreaker {
    word: AtomicU64,
    run: AtomicU64,
    open_until: AtomicU64,
    config: Config,
    clock: ClockSource,
    /// Whether a closed-state permit needs its admission time (slow-call rule configured).
    stamps_admission: bool,
    /// Whether closed-state outcomes go through the lock (a rate window is kept).
    windowed: bool,
    /// Whether the window is time-based (recording needs the clock).
    time_window: bool,
    /// The time window's bucket width (0 for a count window).
    bucket_nanos: u64,
    /// Whether plain closed-state successes go to the success cells without the lock: a rate
    /// window and no consecutive rule (whose run a success must reset exactly).
    cells: bool,
    /// `epoch + 1` of the window bucket in which the cells take lock-free successes, or 0. Set
    /// under `inner` after a decision found the rate rules not holding with at least
    /// `minimum_calls` in the window, so a plain success in that bucket cannot trip anything.
    warm: AtomicU64,
    counters: Counters,
    /// Rejections of a forced-open breaker (lock-free, so not in `Inner`); the open ones are
    /// striped in `counters`, the half-open ones kept under the lock.
    rejected_forced_open: AtomicU64,
    inner: Mutex<Inner>,
    events: Events,
    /// `allow` may take the inlined closed path: no admission time to stamp, not shared.
    fast_allow: bool,
    /// `record_success` may take the inlined consecutive-mode path: no window, no admission
    /// time, not shared.
    fast_success: bool,
    /// The same two paths for a shared breaker (its words and stripes are the record's).
    host_fast_allow: bool,
    host_fast_success: bool,
    /// How many probe slots the table may hold: `half_open_max_calls`, or for a shared breaker
    /// what fits its record.
    probe_slots: u32,
    /// The host region record, for a breaker shared by processes (`crate::shared`).
    #[cfg(not(loom))]
    host: Option<Box<crate::shared::HostParts>>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    state: State,
    generation: u64,
    entered_at: u64,
    open_until: u64,
    attempt: u32,
    opened: u64,
    probes: Probes,
    /// The open duration that preceded the current half-open state.
    open_duration: u64,
    probe_successes: u32,
    first_probe_at: Option<u64>,
    /// The "retry after" of the failure being recorded under the lock (0: none): if that failure
    /// opens the breaker, the open duration is at least this (capped by `max_reset_timeout`).
    retry_hint: u64,
    window: SlidingWindow,
    /// What the window already holds of each success cell.
    ledger: Ledger,
    jitter: Jitter,
    /// Calls rejected in half-open because every probe slot was taken.
    rejected_half_open_full: u64,
    /// The outcome totals a state import added to this object's counters, `[successes +
    /// failures, failures, slow]`: a fleet level fed by them does not count them as new calls.
    restored_outcomes: [u64; 3],
    /// Transitions by (from, reason), allocated at the first transition.
    transitions: Option<Box<TransitionCounts>>,
}

impl CircuitBreaker {
    /// A breaker on the default monotonic clock.
    pub fn new(config: Config) -> Self {
        Self::build(config, ClockSource::Monotonic)
    }

    /// A breaker on the given clock (for example a shared [`crate::ManualClock`]).
    pub fn with_clock(config: Config, clock: impl Clock + 'static) -> Self {
        Self::build(config, ClockSource::Other(Arc::new(clock)))
    }

    /// A breaker on a clock already shared behind an `Arc`.
    pub fn with_shared_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        Self::build(config, ClockSource::Other(clock))
    }

    /// A breaker on a clock source shared with others (a family's members).
    pub(crate) fn build_shared(config: Config, clock: ClockSource) -> Self {
        Self::build(config, clock)
    }

    fn build(config: Config, clock: ClockSource) -> Self {
        let cells = config.has_rate_rule() && config.failure_threshold == 0;
        Self::build_in(config, clock, Counters::new(), Ledger::new(cells))
    }

    fn build_in(config: Config, clock: ClockSource, counters: Counters, ledger: Ledger) -> Self {
        let now = clock.now();
        let capacity = config.half_open_max_calls.min(64) as usize;
        let inner = Inner {
            state: State::Closed,
            generation: 0,
            entered_at: now,
            open_until: 0,
            attempt: 0,
            opened: 0,
            probes: Probes::with_capacity(capacity),
            open_duration: 0,
            probe_successes: 0,
            first_probe_at: None,
            retry_hint: 0,
            window: SlidingWindow::new(config.window),
            ledger,
            jitter: Jitter::new(config.jitter_seed),
            rejected_half_open_full: 0,
            restored_outcomes: [0; 3],
            transitions: None,
        };
        let bucket_nanos = match config.window {
            crate::config::Window::Time { duration_nanos, buckets } => duration_nanos / u64::from(buckets),
            _ => 0,
        };
        let stamps_admission = config.slow_call_duration.is_some();
        Self {
            fast_allow: !stamps_admission,
            fast_success: !stamps_admission && !config.has_rate_rule(),
            probe_slots: config.half_open_max_calls,
            host_fast_allow: false,
            host_fast_success: false,
            #[cfg(not(loom))]
            host: None,
            word: AtomicU64::new(pack_word(0, State::Closed)),
            run: AtomicU64::new(pack_run(0, 0)),
            open_until: AtomicU64::new(0),
            stamps_admission,
            windowed: config.has_rate_rule(),
            time_window: matches!(config.window, crate::config::Window::Time { .. }),
            bucket_nanos,
            cells: config.has_rate_rule() && config.failure_threshold == 0,
            warm: AtomicU64::new(0),
            config,
            clock,
            counters,
            rejected_forced_open: AtomicU64::new(0),
            inner: Mutex::new(inner),
            events: Events::default(),
        }
    }

    /// The configuration this breaker was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The breaker's name, if any.
    pub fn name(&self) -> Option<&str> {
        self.config.name()
    }

    /// The current instant on this breaker's clock.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.clock.now())
    }

    // ----------------------------------------------------------------------------------------
    // Admission
    // ----------------------------------------------------------------------------------------

    /// Asks to make a call. Returns a permit to record the outcome with, or the rejection.
    #[inline(always)]
    pub fn allow(&self) -> Result<Permit<'_>, Rejected> {
        self.allow_raw().map(|raw| Permit { breaker: self, raw })
    }

    /// Like [`Self::allow`], for a breaker shared by `Arc`: the permit keeps the breaker alive.
    pub fn allow_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        self.allow_raw().map(|raw| OwnedPermit { breaker: Arc::clone(self), raw, spent: AtomicBool::new(false) })
    }

    /// Like [`Self::allow`], returning plain data with no drop behaviour (for foreign interfaces).
    #[inline(always)]
    pub fn allow_raw(&self) -> Result<RawPermit, Rejected> {
        self.allow_raw_on(ThreadSlot::current())
    }

    /// [`Self::allow_raw`] with the calling thread's [`ThreadSlot`] already looked up.
    #[inline(always)]
    pub fn allow_raw_on(&self, slot: ThreadSlot) -> Result<RawPermit, Rejected> {
        let word = self.word().load(Ordering::Acquire);
        // The closed-state path is inlined into the caller. The slow path hands its permit back
        // as three scalars (not as a `Result` aggregate), so both paths merge in registers: a
        // merged aggregate made every fast-path caller pay a store-forwarding stall.
        let (generation, admitted_at, ticket) =
            if word & STATE_MASK == u64::from(State::Closed.code()) && self.fast_allow {
                self.counters.bump_in(slot.get(), Counter::Admitted);
                (word_generation(word), NO_TIME, NO_TICKET)
            } else if word & STATE_MASK == u64::from(State::Closed.code()) && self.host_fast_allow {
                self.host_admit(slot, word);
                (word_generation(word), NO_TIME, NO_TICKET)
            } else {
                let mut parts = (0, 0, 0);
                self.allow_other(word, &mut parts)?;
                parts
            };
        Ok(RawPermit { generation, admitted_at, ticket })
    }

    /// The first inlined path of [`Self::allow_raw_on`] alone: `Some` when a closed breaker
    /// (not shared by processes, without a slow-call rule) admitted the call there, `None` when
    /// nothing was done and [`Self::allow_raw_on`] decides. For a level over the breaker whose
    /// own closed path has no call in it (the C ABI's fleet path).
    #[inline(always)]
    pub(crate) fn allow_fast_on(&self, slot: ThreadSlot) -> Option<RawPermit> {
        let word = self.word().load(Ordering::Acquire);
        if word & STATE_MASK == u64::from(State::Closed.code()) && self.fast_allow {
            self.counters.bump_in(slot.get(), Counter::Admitted);
            return Some(RawPermit { generation: word_generation(word), admitted_at: NO_TIME, ticket: NO_TICKET });
        }
        None
    }

    #[inline(never)]
    fn allow_other(&self, word: u64, out: &mut (u64, u64, u32)) -> Result<(), Rejected> {
        let permit = self.allow_other_permit(word)?;
        *out = (permit.generation, permit.admitted_at, permit.ticket);
        Ok(())
    }

    fn allow_other_permit(&self, word: u64) -> Result<RawPermit, Rejected> {
        #[cfg(not(loom))]
        self.deliver_if_behind(word);
        match word_state(word) {
            State::Closed | State::Disabled => {
                self.counters.bump(Counter::Admitted);
                let admitted_at = if self.stamps_admission { self.clock.now() } else { NO_TIME };
                Ok(RawPermit { generation: word_generation(word), admitted_at, ticket: NO_TICKET })
            }
            State::Open => {
                let due = self.open_until().load(Ordering::Acquire);
                let (coarse, lag) = self.clock.coarse();
                if coarse.saturating_add(lag) < due {
                    self.counters.bump(Counter::RejectedOpen);
                    return Err(self.rejection(State::Open, RejectReason::Open, Some(due - coarse)));
                }
                self.allow_slow()
            }
            State::ForcedOpen => {
                self.rejected_forced_open().fetch_add(1, Ordering::Relaxed);
                Err(self.rejection(State::ForcedOpen, RejectReason::ForcedOpen, None))
            }
            State::HalfOpen => self.allow_slow(),
        }
    }

    #[cold]
    fn allow_slow(&self) -> Result<RawPermit, Rejected> {
        let (mut inner, now) = self.lock_now();
        let moved = self.advance_time(&mut inner, now);
        let result = match inner.state {
            State::Closed | State::Disabled => {
                let admitted_at = if self.stamps_admission { now } else { NO_TIME };
                Ok(RawPermit { generation: inner.generation, admitted_at, ticket: NO_TICKET })
            }
            State::Open => {
                let left = inner.open_until.saturating_sub(now);
                Err(self.rejection(State::Open, RejectReason::Open, Some(left)))
            }
            State::ForcedOpen => Err(self.rejection(State::ForcedOpen, RejectReason::ForcedOpen, None)),
            State::HalfOpen => {
                let taken = u64::from(inner.probes.outstanding()) + u64::from(inner.probe_successes);
                let taken = if taken >= u64::from(self.config.half_open_max_calls) {
                    self.free_dead_probes(&mut inner, taken)
                } else {
                    taken
                };
                if taken < u64::from(self.config.half_open_max_calls) && inner.probes.has_room(self.probe_slots) {
                    let ticket = inner.probes.admit_for(self.probe_owner());
                    inner.first_probe_at.get_or_insert(now);
                    Ok(RawPermit { generation: inner.generation, admitted_at: now, ticket })
                } else {
                    inner.rejected_half_open_full = inner.rejected_half_open_full.saturating_add(1);
                    Err(self.rejection(State::HalfOpen, RejectReason::HalfOpenFull, None))
                }
            }
        };
        drop(inner);
        match &result {
            Ok(_) => self.counters.bump(Counter::Admitted),
            Err(r) => match r.reason() {
                RejectReason::Open => self.counters.bump(Counter::RejectedOpen),
                RejectReason::ForcedOpen => drop(self.rejected_forced_open().fetch_add(1, Ordering::Relaxed)),
                RejectReason::HalfOpenFull => {} // counted under the lock
            },
        }
        if moved {
            self.dispatch();
        }
        result
    }

    fn rejection(&self, state: State, reason: RejectReason, retry_after_nanos: Option<u64>) -> Rejected {
        Rejected {
            name: self.config.name.clone(),
            state,
            reason,
            retry_after: retry_after_nanos.map(Duration::from_nanos),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Recording
    // ----------------------------------------------------------------------------------------

    /// Records a success. `Ok(Recorded::Stale)` means the permit predates the current generation
    /// and changed nothing but the `stale` tally.
    #[inline(always)]
    pub fn record_success(&self, permit: Permit<'_>) -> Result<Recorded, PermitError> {
        self.record(permit, Outcome::Success)
    }

    /// Records a failure. See [`Self::record_success`].
    #[inline(always)]
    pub fn record_failure(&self, permit: Permit<'_>) -> Result<Recorded, PermitError> {
        self.record(permit, Outcome::Failure)
    }

    /// Records a neutral outcome: it enters no window and, for a probe, returns its slot.
    #[inline(always)]
    pub fn record_ignored(&self, permit: Permit<'_>) -> Result<Recorded, PermitError> {
        self.record(permit, Outcome::Ignored)
    }

    /// Records a failure that came with a retry time from the dependency (an HTTP `Retry-After`, a
    /// gRPC retry delay): if this failure opens the breaker (it trips it, or a probe's failure
    /// re-opens it), the open duration is at least `retry_after`, capped by `max_reset_timeout`.
    /// Otherwise it is an ordinary failure (docs/semantics.md, "Retry times from the dependency").
    pub fn record_failure_retry_after(
        &self,
        permit: Permit<'_>,
        retry_after: Duration,
    ) -> Result<Recorded, PermitError> {
        if !std::ptr::eq(permit.breaker, self) {
            return Err(PermitError::ForeignPermit);
        }
        let (_, raw) = permit.spend();
        self.record_raw_retry_after(raw, retry_after)
    }

    /// [`Self::record_failure_retry_after`] for a [`RawPermit`].
    pub fn record_raw_retry_after(&self, permit: RawPermit, retry_after: Duration) -> Result<Recorded, PermitError> {
        let hint = u64::try_from(retry_after.as_nanos()).unwrap_or(u64::MAX);
        self.record_hinted(permit, Outcome::Failure, hint)
    }

    /// Records any outcome. A permit issued by another breaker is refused with
    /// [`PermitError::ForeignPermit`] (and dropped, which records it as ignored on its own breaker).
    #[inline(always)]
    pub fn record(&self, permit: Permit<'_>, outcome: Outcome) -> Result<Recorded, PermitError> {
        if !std::ptr::eq(permit.breaker, self) {
            return Err(PermitError::ForeignPermit);
        }
        let (_, raw) = permit.spend();
        self.record_raw(raw, outcome)
    }

    /// Records the outcome of a [`RawPermit`]. Any value is safe: a permit from an older
    /// generation is stale; a probe whose ticket is not outstanding (recorded already, or forged)
    /// is refused with [`PermitError::AlreadyRecorded`].
    #[inline(always)]
    pub fn record_raw(&self, permit: RawPermit, outcome: Outcome) -> Result<Recorded, PermitError> {
        self.record_raw_on(ThreadSlot::current(), permit, outcome)
    }

    /// [`Self::record_raw`] with the calling thread's [`ThreadSlot`] already looked up.
    #[inline(always)]
    pub fn record_raw_on(
        &self,
        slot: ThreadSlot,
        permit: RawPermit,
        outcome: Outcome,
    ) -> Result<Recorded, PermitError> {
        if let Some(recorded) = self.record_fast_on(slot, &permit, outcome) {
            return Ok(recorded);
        }
        // Scalars, not the struct: copying the struct for the call made every fast-path caller
        // pay a store-forwarding stall.
        self.record_other(permit.generation, permit.admitted_at, permit.ticket, outcome)
    }

    /// The inlined fast paths of [`Self::record_raw_on`]: `Some` when `outcome` was recorded
    /// there (always [`Recorded::Counted`]), `None` when it needs the out-of-line path (nothing
    /// was recorded). For a level over the breaker (the fleet) that does its own work only
    /// when the breaker's fast path did not take the outcome.
    #[inline(always)]
    pub(crate) fn record_fast_on(&self, slot: ThreadSlot, permit: &RawPermit, outcome: Outcome) -> Option<Recorded> {
        // Inlined fast path: a current closed-state success in consecutive mode with an empty
        // failure run and no slow-call rule. Two shared reads, one private counter bump.
        if outcome == Outcome::Success && self.fast_success && permit.ticket == NO_TICKET {
            let word = self.word().load(Ordering::Acquire);
            if word == pack_word(permit.generation, State::Closed)
                && self.run().load(Ordering::Acquire) == pack_run(permit.generation, 0)
            {
                self.counters.bump_in(slot.get(), Counter::Successes);
                return Some(Recorded::Counted);
            }
        }
        // The same for a shared breaker: the words are the record's, the stripe this process's.
        if outcome == Outcome::Success && self.host_fast_success && permit.ticket == NO_TICKET {
            let word = self.word().load(Ordering::Acquire);
            if word == pack_word(permit.generation, State::Closed)
                && self.run().load(Ordering::Acquire) == pack_run(permit.generation, 0)
            {
                self.host_count(slot, Counter::Successes);
                return Some(Recorded::Counted);
            }
        }
        // Inlined fast path with a rate window: a plain success goes to this thread's cell.
        if outcome == Outcome::Success && self.cells && permit.ticket == NO_TICKET && self.success_to_cell(slot, permit)
        {
            return Some(Recorded::Counted);
        }
        None
    }

    /// A closed-state success recorded lock-free into the calling thread's success cell
    /// (docs/ARCHITECTURE.md, "The rate window"). Only when the cells are warm for the current
    /// bucket (a plain success there cannot trip anything) and the call was not slow; `false`
    /// sends the outcome to the locked path, which decides it exactly.
    #[inline(always)]
    fn success_to_cell(&self, slot: ThreadSlot, permit: &RawPermit) -> bool {
        if self.word().load(Ordering::Acquire) != pack_word(permit.generation, State::Closed) {
            return false;
        }
        let epoch = if self.time_window {
            match self.bucket_now() {
                Some(epoch) => epoch,
                None => return false,
            }
        } else {
            0
        };
        if self.warm().load(Ordering::Acquire) != epoch.wrapping_add(1) {
            return false;
        }
        if self.stamps_admission && self.is_slow(permit, self.clock.now()) {
            return false;
        }
        self.counters.add_success_to_cell(slot.get(), cells::key(permit.generation, epoch))
    }

    /// The time window's current bucket from the cheap coarse clock, when the coarse reading
    /// cannot straddle a bucket boundary (the precise clock decides otherwise, on the locked path).
    #[inline(always)]
    fn bucket_now(&self) -> Option<u64> {
        let (coarse, lag) = self.clock.coarse();
        let epoch = coarse / self.bucket_nanos;
        (coarse.saturating_add(lag) / self.bucket_nanos == epoch).then_some(epoch)
    }

    /// Whether recording a success of `permit` now would do nothing but count it: it would be
    /// counted (not stale), cause no transition, enter no window and need no clock reading, so
    /// its only effects are the `successes` tally and the end of a failure run.
    ///
    /// True exactly for an ordinary permit (not a probe, no admission time) of the current
    /// generation while the breaker is `closed` (with no trip pending) or `disabled`, in
    /// consecutive-failure mode without a slow-call rule (no `failure_rate_threshold`,
    /// `slow_call_rate_threshold` or `slow_call_duration`), for a breaker not shared through a
    /// host region. Once true for a generation it stays
    /// true until the breaker's next transition (a failure recorded at the same time on another
    /// thread may decide that transition before it is applied).
    ///
    /// A binding whose every call crosses an expensive boundary may therefore hold such successes
    /// and hand them over later with [`Self::record_successes`], before its next call of this
    /// breaker, without changing anything observable: the Node binding does.
    #[inline]
    pub fn success_is_trivial(&self, permit: &RawPermit) -> bool {
        // A shared breaker's failure run is every process's: a held success would let another
        // process's failures count on top of a run this success ended.
        if !self.fast_success || permit.ticket != NO_TICKET || permit.admitted_at != NO_TIME {
            return false;
        }
        let word = self.word().load(Ordering::Acquire);
        if word_generation(word) != permit.generation {
            return false;
        }
        match word_state(word) {
            State::Disabled => true,
            State::Closed => {
                let run = self.run().load(Ordering::Acquire);
                let threshold = self.config.failure_threshold;
                run >> 32 == run_tag(permit.generation) && (threshold == 0 || ((run & 0xFFFF_FFFF) as u32) < threshold)
            }
            _ => false,
        }
    }

    /// Records `n` successes of `permit` (for example the successes of `n` ordinary permits of
    /// one generation), exactly as `n` calls of [`Self::record_raw`] with it would, in order.
    /// Returns how many counted (the others were stale); `n == 0` records nothing. The first
    /// error ends the records (a probe takes one outcome: its second success is refused with
    /// [`PermitError::AlreadyRecorded`] while its half-open generation lasts).
    pub fn record_successes(&self, permit: RawPermit, n: u32) -> Result<u32, PermitError> {
        self.record_successes_on(ThreadSlot::current(), permit, n)
    }

    /// [`Self::record_successes`] with the calling thread's [`ThreadSlot`] already looked up.
    pub fn record_successes_on(&self, slot: ThreadSlot, permit: RawPermit, n: u32) -> Result<u32, PermitError> {
        let mut counted = 0;
        for _ in 0..n {
            if self.record_raw_on(slot, permit, Outcome::Success)?.counted() {
                counted += 1;
            }
        }
        Ok(counted)
    }

    #[inline(never)]
    fn record_other(
        &self,
        generation: u64,
        admitted_at: u64,
        ticket: u32,
        outcome: Outcome,
    ) -> Result<Recorded, PermitError> {
        self.record_hinted(RawPermit { generation, admitted_at, ticket }, outcome, 0)
    }

    /// Every outcome that the inlined fast paths did not take; `retry_hint` in nanoseconds (0: none).
    fn record_hinted(&self, permit: RawPermit, outcome: Outcome, retry_hint: u64) -> Result<Recorded, PermitError> {
        let word = self.word().load(Ordering::Acquire);
        if word_generation(word) != permit.generation {
            return Ok(self.stale());
        }
        let state = word_state(word);
        let fast = matches!(state, State::Closed | State::Disabled) && permit.ticket == NO_TICKET && !self.windowed;
        if fast {
            Ok(self.record_unlocked(permit, outcome, state, retry_hint))
        } else {
            self.record_locked(permit, outcome, retry_hint)
        }
    }

    #[cold]
    fn stale(&self) -> Recorded {
        self.counters.bump(Counter::Stale);
        // Recording is an operation: a time-driven transition that is due happens now.
        let _ = self.state();
        Recorded::Stale
    }

    /// Whether the call of `permit` counts as slow if recorded now (the fleet's deltas use it).
    #[inline]
    pub(crate) fn is_slow_now(&self, permit: &RawPermit) -> bool {
        self.stamps_admission && self.is_slow(permit, self.clock.now())
    }

    fn is_slow(&self, permit: &RawPermit, now: u64) -> bool {
        match self.config.slow_call_duration {
            Some(limit) if permit.admitted_at != NO_TIME => now.saturating_sub(permit.admitted_at) > limit,
            _ => false,
        }
    }

    /// Closed or disabled, consecutive-failure mode, not a probe: no lock.
    ///
    /// Each outcome is linearized at one operation on `run`: its successful CAS, or (for an
    /// ignored outcome or an empty run) the load that found the tag current. Once a failure's CAS
    /// has made the run reach `failure_threshold` in `closed`, the generation's trip is decided
    /// though not yet applied under the lock: every outcome that finds the run at the threshold
    /// comes after the trip, so it helps apply it and reports stale. Hence exactly
    /// `failure_threshold` failures are counted in a generation that trips, and no success or
    /// ignored outcome is counted in it after the deciding failure.
    #[inline]
    fn record_unlocked(&self, permit: RawPermit, outcome: Outcome, state: State, retry_hint: u64) -> Recorded {
        let tag = run_tag(permit.generation);
        let threshold = if state == State::Closed { self.config.failure_threshold } else { 0 };
        let mut run = self.run().load(Ordering::Acquire);
        let failures = loop {
            if run >> 32 != tag {
                return self.stale();
            }
            let count = (run & 0xFFFF_FFFF) as u32;
            if threshold > 0 && count >= threshold {
                // Another failure decided this trip: this one only helps apply it.
                self.trip(permit.generation, Reason::FailureThreshold, 0);
                return self.stale();
            }
            let next = match outcome {
                Outcome::Ignored => {
                    self.counters.bump(Counter::Ignored);
                    return Recorded::Counted;
                }
                Outcome::Success if count == 0 => break 0,
                Outcome::Success => 0,
                Outcome::Failure => count.saturating_add(1),
            };
            match self.run().compare_exchange_weak(
                run,
                pack_run(permit.generation, next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break next,
                Err(actual) => run = actual,
            }
        };
        let slow = self.stamps_admission && self.is_slow(&permit, self.clock.now());
        self.counters.bump(if outcome == Outcome::Success { Counter::Successes } else { Counter::Failures });
        if slow {
            self.counters.bump(Counter::Slow);
        }
        if threshold > 0 && failures >= threshold {
            self.trip(permit.generation, Reason::FailureThreshold, retry_hint);
        }
        Recorded::Counted
    }

    #[cold]
    fn trip(&self, generation: u64, reason: Reason, retry_hint: u64) {
        let (mut inner, now) = self.lock_now();
        // The run must still show the decided trip: for a shared breaker, a process that died
        // mid-transition may have sealed it, and the repair (under this lock) reopened it.
        let run = self.run().load(Ordering::Acquire);
        let decided = run >> 32 == run_tag(generation) && (run & 0xFFFF_FFFF) as u32 >= self.config.failure_threshold;
        let moved = inner.generation == generation && inner.state == State::Closed && decided;
        if moved {
            inner.retry_hint = retry_hint;
            self.transition(&mut inner, State::Open, reason, now);
            inner.retry_hint = 0;
        }
        drop(inner);
        if moved {
            self.dispatch();
        }
    }

    fn record_locked(&self, permit: RawPermit, outcome: Outcome, retry_hint: u64) -> Result<Recorded, PermitError> {
        // A count window in closed state needs no time unless the outcome trips the breaker:
        // read the clock (~25 ns) only when something needs it, and outside the lock if possible.
        let word = self.word().load(Ordering::Acquire);
        let needs_time = self.stamps_admission
            || self.time_window
            || permit.ticket != NO_TICKET
            || !matches!(word_state(word), State::Closed | State::Disabled);
        let (mut inner, mut now) = if needs_time {
            let (inner, now) = self.lock_now();
            (inner, LazyNow { clock: &self.clock, value: Some(now) })
        } else {
            (self.lock_inner(), LazyNow { clock: &self.clock, value: None })
        };
        let mut moved =
            matches!(inner.state, State::Open | State::HalfOpen) && self.advance_time(&mut inner, now.get());
        // Only a transition this outcome causes may use its retry time.
        inner.retry_hint = if outcome == Outcome::Failure { retry_hint } else { 0 };
        let result = if inner.generation != permit.generation {
            Ok(Recorded::Stale)
        } else {
            let slow = outcome != Outcome::Ignored && self.stamps_admission && self.is_slow(&permit, now.get());
            match inner.state {
                State::Closed | State::Disabled if permit.ticket == NO_TICKET => {
                    moved |= self.apply_closed(&mut inner, outcome, slow, &mut now);
                    Ok(Recorded::Counted)
                }
                State::HalfOpen => {
                    if inner.probes.release(permit.ticket) {
                        if inner.probes.outstanding() == 0 && self.config.half_open_max_wait == MaxWait::OpenDuration {
                            // The default deadline restarts with the next probe.
                            inner.first_probe_at = None;
                        }
                        moved |= self.apply_probe(&mut inner, outcome, now.get());
                        Ok(Recorded::Counted)
                    } else {
                        Err(PermitError::AlreadyRecorded)
                    }
                }
                // No permit is ever issued in these generations: the permit is forged.
                _ => Err(PermitError::AlreadyRecorded),
            }
            .inspect(|_| self.count_outcome(outcome, slow))
        };
        inner.retry_hint = 0;
        drop(inner);
        if result == Ok(Recorded::Stale) {
            self.counters.bump(Counter::Stale);
        }
        if moved {
            self.dispatch();
        }
        result
    }

    fn count_outcome(&self, outcome: Outcome, slow: bool) {
        self.counters.bump(match outcome {
            Outcome::Success => Counter::Successes,
            Outcome::Failure => Counter::Failures,
            Outcome::Ignored => Counter::Ignored,
        });
        if slow {
            self.counters.bump(Counter::Slow);
        }
    }

    /// A counted outcome in closed or disabled: run, window, then the trip rules (closed only).
    fn apply_closed(&self, inner: &mut Inner, outcome: Outcome, slow: bool, now: &mut LazyNow<'_>) -> bool {
        let window_now = if self.time_window { now.get() } else { 0 };
        if outcome == Outcome::Ignored {
            return false;
        }
        let failed = outcome == Outcome::Failure;
        let cells = self.cells && inner.state == State::Closed;
        let (sealed, caught_up) = if cells { self.catch_up_cells(inner, window_now, failed, slow) } else { (false, 0) };
        // Successes the cells took precede this outcome: they ended any failure run.
        let run = if caught_up > 0 { 0 } else { self.run().load(Ordering::Acquire) & 0xFFFF_FFFF };
        let failures = if failed { (run as u32).saturating_add(1) } else { 0 };
        self.run().store(pack_run(inner.generation, failures), Ordering::Release);
        inner.window.record(window_now, failed, slow);
        if inner.state != State::Closed {
            return false;
        }
        let threshold = self.config.failure_threshold;
        let reason = if threshold > 0 && failures >= threshold {
            Some(Reason::FailureThreshold)
        } else {
            self.rate_rule_holding(inner.window.tally(window_now))
        };
        match reason {
            Some(reason) => {
                // The transition seals and forgets every cell.
                self.transition(inner, State::Open, reason, now.get());
                true
            }
            None => {
                if cells {
                    if sealed {
                        inner.ledger.unseal(&self.counters);
                    }
                    let calls = inner.window.tally(window_now).calls;
                    let epoch = inner.window.head_epoch(window_now);
                    let warm = if calls >= u64::from(self.config.minimum_calls) { epoch.wrapping_add(1) } else { 0 };
                    self.warm().store(warm, Ordering::Release);
                }
                false
            }
        }
    }

    /// Before a closed-state outcome enters the window: adds the successes the cells took since
    /// the last fold, reopens the calling thread's cell for the current bucket, and, if the
    /// outcome might trip the breaker, seals every cell and adds what arrived meanwhile, so the
    /// decision sees exactly the successes that precede it (module docs of [`crate::cells`]).
    /// Returns whether the cells were sealed (the caller unseals them if nothing tripped) and
    /// how many successes were added.
    fn catch_up_cells(&self, inner: &mut Inner, now: u64, failed: bool, slow: bool) -> (bool, u64) {
        let Inner { window, ledger, generation, .. } = inner;
        let mut added = ledger.fold(&self.counters, false, window);
        let (index, cell) = self.counters.cell_in(exclusive_slot());
        let epoch = window.head_epoch(now);
        // Every cell keyed for an older bucket is sealed for good: a success that passed the
        // `warm` check for that bucket must not land in it after this decision (its CAS fails and
        // it is decided under the lock instead).
        ledger.park_older_than(&self.counters, epoch);
        if !ledger.is_open(index, cell, *generation, epoch) {
            added += ledger.reopen(index, cell, *generation, epoch, window);
        }
        // Successes still unseen can only add calls and lower both rates, so an outcome that
        // leaves the rules not holding with `minimum_calls` reached decides nothing either way.
        let predicted = window.peek(now, failed, slow);
        let settled =
            predicted.calls >= u64::from(self.config.minimum_calls) && self.rate_rule_holding(predicted).is_none();
        if !settled {
            added += ledger.fold(&self.counters, true, window);
        }
        (!settled, added)
    }

    fn rate_rule_holding(&self, tally: Tally) -> Option<Reason> {
        if tally.calls == 0 || tally.calls < u64::from(self.config.minimum_calls) {
            return None;
        }
        if let Some(limit) = self.config.failure_rate_threshold
            && Tally::rate(tally.failures, tally.calls) >= limit
        {
            return Some(Reason::FailureRate);
        }
        if let Some(limit) = self.config.slow_call_rate_threshold
            && Tally::rate(tally.slow, tally.calls) >= limit
        {
            return Some(Reason::SlowCallRate);
        }
        None
    }

    /// A probe's outcome in half-open (its ticket already removed from `outstanding`).
    fn apply_probe(&self, inner: &mut Inner, outcome: Outcome, now: u64) -> bool {
        match outcome {
            Outcome::Ignored => false,
            Outcome::Success => {
                inner.probe_successes = inner.probe_successes.saturating_add(1);
                if inner.probe_successes >= self.config.success_threshold {
                    self.transition(inner, State::Closed, Reason::ProbeSuccess, now);
                    true
                } else {
                    false
                }
            }
            Outcome::Failure => {
                self.transition(inner, State::Open, Reason::ProbeFailure, now);
                true
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Transitions
    // ----------------------------------------------------------------------------------------

    /// Applies every time-driven transition due at `now`, each dated at its due instant. At most
    /// three steps: half_open -(max wait)-> open -(elapsed)-> half_open, which has no probe yet.
    /// (A trip an unlocked failure decided is applied by [`Self::transition`] before any other.)
    fn advance_time(&self, inner: &mut Inner, now: u64) -> bool {
        let mut moved = false;
        loop {
            match inner.state {
                State::Open if now >= inner.open_until => {
                    let at = inner.open_until;
                    self.transition(inner, State::HalfOpen, Reason::OpenElapsed, at);
                }
                State::HalfOpen => {
                    let Some(due) = self.max_wait_due(inner) else {
                        break;
                    };
                    if now < due {
                        break;
                    }
                    self.transition(inner, State::Open, Reason::HalfOpenMaxWait, due);
                }
                _ => break,
            }
            moved = true;
        }
        moved
    }

    /// When the current half-open generation re-opens for want of a verdict, if it will.
    fn max_wait_due(&self, inner: &Inner) -> Option<u64> {
        let wait = match self.config.half_open_max_wait {
            MaxWait::Off => return None,
            MaxWait::Fixed(wait) => wait,
            // No deadline while no probe is out: nothing can be lost.
            MaxWait::OpenDuration if inner.probes.outstanding() == 0 => return None,
            MaxWait::OpenDuration => inner.open_duration.max(DEFAULT_MAX_WAIT_FLOOR),
        };
        inner.first_probe_at.map(|first| first.saturating_add(wait))
    }

    /// The one place a transition happens (invariant 2). Caller holds `inner`.
    ///
    /// Leaving `closed` with the consecutive rule, the run is sealed first by one swap: the seal
    /// (a count no threshold exceeds) makes every later unlocked outcome of this generation help
    /// the trip and report stale, and the swapped-out value tells whether an unlocked failure had
    /// already decided a trip that its thread has not applied yet. That trip is then applied
    /// first, so a reset or a manual transition can never overtake it (docs/semantics.md, "Atomicity").
    fn transition(&self, inner: &mut Inner, to: State, reason: Reason, at: u64) {
        let threshold = self.config.failure_threshold;
        if inner.state == State::Closed && !self.windowed && threshold > 0 {
            let sealed = pack_run(inner.generation, u32::MAX);
            let before = self.run().swap(sealed, Ordering::AcqRel);
            let decided = before >> 32 == run_tag(inner.generation) && (before & 0xFFFF_FFFF) as u32 >= threshold;
            if decided && !(to == State::Open && reason == Reason::FailureThreshold) {
                self.apply_transition(inner, State::Open, Reason::FailureThreshold, at);
                if to == State::Open {
                    return;
                }
            }
        }
        self.apply_transition(inner, to, reason, at);
    }

    fn apply_transition(&self, inner: &mut Inner, to: State, reason: Reason, at: u64) {
        let from = inner.state;
        inner.transitions.get_or_insert_with(Box::default).add(from, reason);
        let generation = (inner.generation + 1).min(MAX_GENERATION);
        inner.generation = generation;
        inner.state = to;
        inner.entered_at = at;
        inner.probes.clear();
        inner.probe_successes = 0;
        inner.first_probe_at = None;
        let retry_hint = std::mem::take(&mut inner.retry_hint);
        inner.window.clear();
        inner.ledger.restart(&self.counters);
        self.warm().store(0, Ordering::Release);
        match to {
            State::Open => {
                inner.attempt = if from == State::HalfOpen { inner.attempt.saturating_add(1) } else { 0 };
                let duration = open_duration(&self.config, inner.attempt, &mut inner.jitter)
                    .max(retry_hint.min(self.config.max_reset_timeout));
                inner.open_duration = duration;
                inner.open_until = at.saturating_add(duration);
                inner.opened = inner.opened.saturating_add(1);
                self.open_until().store(inner.open_until, Ordering::Release);
            }
            State::Closed => inner.attempt = 0,
            _ => {}
        }
        let event = Transition { from, to, reason, at: Duration::from_nanos(at), generation, remote: false };
        // Shared: logged and committed before it is published (crate::shared).
        #[cfg(not(loom))]
        let shared = self.host_transition(inner, &event);
        #[cfg(loom)]
        let shared = false;
        self.run().store(pack_run(generation, 0), Ordering::Release);
        self.word().store(pack_word(generation, to), Ordering::Release);
        if !shared {
            self.events.push(event);
        }
    }

    fn manual(&self, to: State, reason: Reason) {
        let (mut inner, now) = self.lock_now();
        let mut moved = self.advance_time(&mut inner, now);
        if reason == Reason::Reset || inner.state != to {
            self.transition(&mut inner, to, reason, now);
            moved = true;
        }
        drop(inner);
        if moved {
            self.dispatch();
        }
    }

    /// Goes to `closed` from any state, with an empty window, a zero failure run and the backoff
    /// reset; always starts a new generation. Lifetime totals are kept.
    pub fn reset(&self) {
        self.manual(State::Closed, Reason::Reset);
    }

    /// Isolates the dependency: rejects everything until `reset()` or `disable()`. A no-op when
    /// already forced open.
    pub fn force_open(&self) {
        self.manual(State::ForcedOpen, Reason::ForceOpen);
    }

    /// Admits everything and only counts outcomes, until `reset()` or `force_open()`. A no-op
    /// when already disabled.
    pub fn disable(&self) {
        self.manual(State::Disabled, Reason::Disable);
    }

    // ----------------------------------------------------------------------------------------
    // Observation
    // ----------------------------------------------------------------------------------------

    /// Reads the clock (outside the lock, to keep the critical section short), then locks
    /// `inner`. Another thread may have made a transition dated later than that reading in
    /// between; the operation takes effect under the lock, so its instant is never earlier than
    /// the current state's entry.
    fn lock_now(&self) -> (InnerGuard<'_>, u64) {
        let read = self.clock.now();
        let inner = self.lock_inner();
        let now = read.max(inner.entered_at);
        (inner, now)
    }

    /// Locks `inner` with every due time-driven transition applied; returns the guard and the
    /// instant used (so a snapshot is taken at one instant).
    fn observe(&self) -> (InnerGuard<'_>, u64) {
        // A shared breaker's observers hear other processes' transitions first, like any operation.
        #[cfg(not(loom))]
        self.deliver_if_behind(self.word().load(Ordering::Acquire));
        let (mut inner, mut now) = self.lock_now();
        // Listeners run with the lock released and time may move meanwhile, so what became due
        // since is applied once more; the snapshot instant is that of the last application.
        for round in 0..2 {
            if !self.advance_time(&mut inner, now) {
                break;
            }
            drop(inner);
            self.dispatch();
            let (relocked, fresh) = self.lock_now();
            inner = relocked;
            now = if round == 0 { fresh } else { now.max(inner.entered_at) };
        }
        (inner, now)
    }

    /// The current state, with any due time-driven transition applied first.
    #[inline]
    pub fn state(&self) -> State {
        let word = self.word().load(Ordering::Acquire);
        #[cfg(not(loom))]
        self.deliver_if_behind(word);
        let state = word_state(word);
        let settled = match state {
            State::Open => {
                let (coarse, lag) = self.clock.coarse();
                coarse.saturating_add(lag) < self.open_until().load(Ordering::Acquire)
            }
            State::HalfOpen => self.config.half_open_max_wait == MaxWait::Off,
            _ => true,
        };
        if settled { state } else { self.observe().0.state }
    }

    /// The state as last applied, without applying a due time-driven transition (so without
    /// running listeners): what a family's eviction may read while it holds its own lock. An open
    /// breaker whose open duration has elapsed still reads `Open` until an operation applies it.
    pub(crate) fn state_as_applied(&self) -> State {
        word_state(self.word().load(Ordering::Acquire))
    }

    /// The instant of the next time-driven transition, if one is scheduled: the end of the open
    /// duration, or the half-open max wait once a probe is out. Hosts may schedule a check then.
    pub fn next_transition_at(&self) -> Option<Duration> {
        let (inner, _) = self.observe();
        let at = match inner.state {
            State::Open => Some(inner.open_until),
            State::HalfOpen => self.max_wait_due(&inner),
            _ => None,
        };
        at.map(Duration::from_nanos)
    }

    /// A metrics snapshot (docs/semantics.md, "Observability"), with due transitions applied first.
    pub fn metrics(&self) -> Metrics {
        let (mut inner, now) = self.observe();
        if self.cells && inner.state == State::Closed {
            let Inner { window, ledger, generation, .. } = &mut *inner;
            // Reading moves the head: as in `catch_up_cells`, no success may land in an older
            // bucket afterwards without a decision.
            let head = window.head_epoch(now);
            ledger.park_older_than(&self.counters, head);
            if ledger.fold(&self.counters, false, window) > 0 {
                // They came after the last locked outcome: any failure run ended.
                self.run().store(pack_run(*generation, 0), Ordering::Release);
            }
        }
        let tally = inner.window.tally(now);
        let run = self.run().load(Ordering::Acquire);
        let consecutive_failures = if run >> 32 == run_tag(inner.generation) { run & 0xFFFF_FFFF } else { 0 };
        let totals = self.counters.snapshot();
        let rejected_forced_open = self.rejected_forced_open().load(Ordering::Relaxed);
        Metrics {
            state: inner.state,
            generation: inner.generation,
            consecutive_failures,
            window_calls: tally.calls,
            window_failures: tally.failures,
            window_slow: tally.slow,
            failure_rate: Tally::rate(tally.failures, tally.calls),
            slow_rate: Tally::rate(tally.slow, tally.calls),
            admitted: totals.admitted,
            rejected: totals
                .rejected_open
                .saturating_add(inner.rejected_half_open_full)
                .saturating_add(rejected_forced_open),
            rejected_open: totals.rejected_open,
            rejected_half_open_full: inner.rejected_half_open_full,
            rejected_forced_open,
            successes: totals.successes,
            failures: totals.failures,
            ignored: totals.ignored,
            slow: totals.slow,
            stale: totals.stale,
            opened: inner.opened,
            time_in_state: Duration::from_nanos(now - inner.entered_at),
            retry_after: (inner.state == State::Open)
                .then(|| Duration::from_nanos(inner.open_until.saturating_sub(now))),
            transitions: inner.transitions.as_deref().copied().unwrap_or_default(),
        }
    }

    /// This breaker's outcome totals, `[successes + failures, failures, slow]`, without what a
    /// state import restored: what a fleet level attached to it ([`crate::fleet::Fleet::attach`],
    /// which takes breakers of one process only) counts as this instance's calls. Monotonic.
    pub(crate) fn fleet_outcomes(&self) -> [u64; 3] {
        let restored = self.inner.lock().restored_outcomes;
        let t = self.counters.snapshot();
        let counted = [t.successes.saturating_add(t.failures), t.failures, t.slow];
        [0, 1, 2].map(|i| counted[i].saturating_sub(restored[i]))
    }

    /// This breaker object's own lifetime totals: for a breaker shared through a host region, what
    /// this object admitted and recorded (the region-wide totals are in [`Self::metrics`]); for a
    /// breaker of one process, the totals. `None` for a shared breaker that got no process entry
    /// (more than sixteen objects of it alive at once: its counts then go to a common stripe).
    pub fn process_counts(&self) -> Option<ProcessCounts> {
        let t = if self.is_shared() { self.counters.own()? } else { self.counters.snapshot() };
        Some(ProcessCounts {
            admitted: t.admitted,
            rejected_open: t.rejected_open,
            successes: t.successes,
            failures: t.failures,
            ignored: t.ignored,
            slow: t.slow,
            stale: t.stale,
        })
    }

    /// Writes this breaker's state as a versioned JSON document (docs/semantics.md, "State export
    /// and import"), with the system time as the export instant. Due transitions are applied first
    /// (their listeners run); outstanding probes are not part of the state.
    pub fn export_state(&self) -> String {
        self.export_state_at(SystemTime::now())
    }

    /// [`Self::export_state`] with an explicit wall-clock export instant.
    pub fn export_state_at(&self, wall_now: SystemTime) -> String {
        let (mut inner, now) = self.observe();
        if self.cells && inner.state == State::Closed {
            let Inner { window, ledger, .. } = &mut *inner;
            let head = window.head_epoch(now);
            ledger.park_older_than(&self.counters, head);
            ledger.fold(&self.counters, false, window);
        }
        let run = self.run().load(Ordering::Acquire);
        let consecutive_failures = if run >> 32 == run_tag(inner.generation) { (run & 0xFFFF_FFFF) as u32 } else { 0 };
        let snapshot = Snapshot {
            name: self.config.name().map(str::to_owned),
            fingerprint: export::fingerprint(&self.config),
            exported_at: wall_now,
            state: inner.state,
            generation: inner.generation,
            attempt: inner.attempt,
            open_remaining: (inner.state == State::Open).then(|| inner.open_until.saturating_sub(now)),
            open_duration: inner.open_duration,
            probe_successes: inner.probe_successes,
            consecutive_failures,
            time_in_state: now - inner.entered_at,
            window: inner.window.content(now),
            totals: self.counters.snapshot(),
            rejected_half_open_full: inner.rejected_half_open_full,
            rejected_forced_open: self.rejected_forced_open().load(Ordering::Relaxed),
            opened: inner.opened,
            transitions: inner.transitions.as_deref().copied().unwrap_or_default(),
            jitter_state: inner.jitter.state(),
        };
        drop(inner);
        export::write(&snapshot)
    }

    /// [`Self::export_state`]: the state document, exported now.
    pub fn export(&self) -> String {
        self.export_state()
    }

    /// A new breaker (on the monotonic clock) with the state in `document`, restored now (see
    /// [`Self::import_state`]); on error nothing is created.
    ///
    /// ```
    /// use circuit::{CircuitBreaker, Config, State};
    ///
    /// let config = Config::builder().name("payments").failure_threshold(1).build()?;
    /// let before = CircuitBreaker::new(config.clone());
    /// before.record_failure(before.allow()?)?;
    /// let after = CircuitBreaker::restore(config, &before.export())?;
    /// assert_eq!(after.state(), State::Open);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(config: Config, document: &str) -> Result<Self, StateError> {
        let breaker = Self::new(config);
        breaker.import_state(document)?;
        Ok(breaker)
    }

    /// [`Self::restore`] on the given clock.
    pub fn restore_with_clock(config: Config, clock: impl Clock + 'static, document: &str) -> Result<Self, StateError> {
        let breaker = Self::with_clock(config, clock);
        breaker.import_state(document)?;
        Ok(breaker)
    }

    /// Takes on the state in `document` (written by [`Self::export_state`] in any language), with
    /// the system time as the import instant. Only a breaker that has not been used yet (no call
    /// admitted or rejected, no transition) imports; the document's name must be this breaker's.
    /// Time passed since the export is taken off the remaining open time and ages the window; an
    /// open breaker whose time ran out comes back half-open at its next use. If the document's
    /// configuration fingerprint differs from this breaker's, the state, backoff, totals and
    /// transitions are kept and the window and failure run dropped. On error nothing changes.
    pub fn import_state(&self, document: &str) -> Result<(), StateError> {
        self.import_state_at(document, SystemTime::now())
    }

    /// [`Self::import_state`] with an explicit wall-clock import instant.
    pub fn import_state_at(&self, document: &str, wall_now: SystemTime) -> Result<(), StateError> {
        let s = export::read(document)?;
        if s.name.as_deref() != self.config.name() {
            return Err(StateError::mismatch(
                "name",
                format!("the document is for {:?}, this breaker is {:?}", s.name, self.config.name()),
            ));
        }
        let matching = s.fingerprint == export::fingerprint(&self.config);
        if matching {
            let threshold = self.config.failure_threshold;
            if s.state == State::Closed && threshold > 0 && s.consecutive_failures >= threshold {
                return Err(StateError::mismatch(
                    "consecutive_failures",
                    format!(
                        "{} failures in a row would have opened a breaker with failure_threshold {threshold}",
                        s.consecutive_failures
                    ),
                ));
            }
            if s.state == State::HalfOpen && s.probe_successes >= self.config.success_threshold {
                return Err(StateError::mismatch("probe_successes", "would have closed the breaker"));
            }
            let cap = self.config.max_reset_timeout;
            if s.open_remaining.is_some_and(|left| left > cap) || s.open_duration > cap {
                let field = if s.open_duration > cap { "open_duration_ms" } else { "open_remaining_ms" };
                return Err(StateError::mismatch(
                    field,
                    format!("longer than max_reset_timeout ({} ms)", cap as f64 / 1e6),
                ));
            }
            if let Some(window) = &s.window {
                if !window.fits(self.config.window) {
                    return Err(StateError::mismatch("window", "does not fit this breaker's window"));
                }
                if s.state == State::Closed
                    && let Some(t) = window.count_tally()
                    && self.rate_rule_holding(t).is_some()
                {
                    return Err(StateError::mismatch("window", "a closed breaker whose window meets a trip rule"));
                }
            }
        }
        let (mut inner, now) = self.lock_now();
        let used = inner.generation != 0
            || inner.transitions.is_some()
            || {
                let t = self.counters.snapshot();
                t.admitted != 0 || t.rejected_open != 0
            }
            || self.rejected_forced_open().load(Ordering::Relaxed) != 0;
        if used {
            return Err(StateError::mismatch("state", "only a breaker that has not been used yet imports state"));
        }
        let gap = wall_now.duration_since(s.exported_at).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        inner.state = s.state;
        inner.generation = s.generation;
        inner.entered_at = now.saturating_sub(s.time_in_state.saturating_add(gap));
        inner.attempt = s.attempt;
        inner.opened = s.opened;
        // Measured under other rules, the opening still never outlasts this breaker's cap.
        let cap = self.config.max_reset_timeout;
        let open_remaining = s.open_remaining.map(|left| left.min(cap));
        inner.open_duration = s.open_duration.min(cap);
        inner.probe_successes = if matching { s.probe_successes } else { 0 };
        inner.open_until = open_remaining.map_or(0, |left| now.saturating_add(left.saturating_sub(gap)));
        inner.rejected_half_open_full = s.rejected_half_open_full;
        inner.transitions = (s.transitions.total() > 0).then(|| Box::new(s.transitions));
        inner.jitter = Jitter::new(Some(s.jitter_state));
        inner.ledger.restart(&self.counters);
        if matching && let Some(content) = &s.window {
            inner.window.restore(content, now, gap);
        }
        self.counters.restore(&s.totals);
        if !self.is_shared() {
            let t = &s.totals;
            inner.restored_outcomes = [t.successes.saturating_add(t.failures), t.failures, t.slow];
        }
        self.rejected_forced_open().store(s.rejected_forced_open, Ordering::Relaxed);
        let failures = if matching { s.consecutive_failures } else { 0 };
        // A shared breaker commits before it publishes (crate::shared: the repair relies on it).
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            host.commit(|out| inner.encode(out));
        }
        self.warm().store(0, Ordering::Release);
        self.open_until().store(inner.open_until, Ordering::Release);
        self.run().store(pack_run(s.generation, failures), Ordering::Release);
        self.word().store(pack_word(s.generation, s.state), Ordering::Release);
        Ok(())
    }

    // ----------------------------------------------------------------------------------------
    // Listeners
    // ----------------------------------------------------------------------------------------

    /// Registers a listener for every transition. It is called once per transition, in order,
    /// with no lock held (it may call back into this breaker); a panic inside it is caught.
    ///
    /// Delivery thread: the thread that caused the transition delivers it, unless another thread
    /// is already delivering this breaker's earlier events; then that thread delivers it too, in
    /// order, possibly after the causing call has returned. So a listener can run on any thread
    /// that uses the breaker, and never on two threads at once.
    pub fn on_transition(&self, listener: impl Fn(&Transition) + Send + Sync + 'static) -> ListenerId {
        self.events.add(Box::new(listener))
    }

    /// Frees what this breaker holds beyond its fixed size: the rate window's storage (the small
    /// ledger of its success cells stays, and every outcome then takes the lock) and every
    /// listener (waiting, as [`Self::remove_listener`] does, for a listener call in progress on
    /// another thread). For a host that must keep a reference to a breaker it is done with (the C
    /// ABI's per-thread caches after `circuit_destroy`). The breaker stays safe to call; afterwards
    /// it keeps no window (no rate rule can trip it) and notifies no one. The probe table is kept
    /// (at most `half_open_max_calls` small slots), so probes racing the retirement stay exact.
    pub fn retire(&self) {
        // A shared breaker's window belongs to every process: only this object's listeners go.
        if !self.is_shared() {
            self.lock_inner().window = SlidingWindow::new(crate::config::Window::None);
        }
        self.warm().store(0, Ordering::Release);
        self.events.clear();
    }

    /// Unregisters a listener; returns whether it was registered.
    ///
    /// Once this returns, the listener is never called again, not even for an event whose
    /// delivery is under way (a listener that removes another listener prevents that listener's
    /// call for the same event). If the listener is running on another thread at that moment,
    /// this waits until that call returns, so whatever the listener uses may be freed right
    /// after; do not call it while holding a lock that the listener takes. Called from a listener
    /// (on the delivering thread) it never waits.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.events.remove(id)
    }
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = self.word().load(Ordering::Acquire);
        f.debug_struct("CircuitBreaker")
            .field("name", &self.config.name())
            .field("state", &word_state(word))
            .field("generation", &word_generation(word))
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
