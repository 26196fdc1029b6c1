//! A breaker whose state lives in a host region's record (`crate::shared`): attaching, bringing
//! the locked state in and out of the record, repairing after a holder's death, and delivering
//! other processes' transitions.

use std::sync::Arc;

use super::{CircuitBreaker, Inner, InnerGuard, MAX_GENERATION, STATE_MASK, pack_run, pack_word, run_tag};
use super::{word_generation, word_state};
use crate::cells::{FRESH, Ledger};
use crate::clock::{Clock, ClockSource};
use crate::config::Config;
use crate::counters::{CELL, Counters};
use crate::events::Transition;
use crate::metrics::TransitionCounts;
use crate::probes::Probes;
use crate::shared::words::{Reader, Writer};
use crate::shared::{HostParts, HostRecord, HostStripes, STRIPES, SharedError};
use crate::state::State;
use crate::sync::{MutexGuard, Ordering};
use crate::window::SlidingWindow;

/// `b"INNERv01"`: the first word of an encoded locked state.
const INNER_TAG: u64 = u64::from_le_bytes(*b"INNERv01");
/// Fixed words of the encoding before the transition counts.
const FIXED: usize = 13;

impl CircuitBreaker {
    /// A breaker whose state lives in `record`, shared with every process that attaches a
    /// breaker to the same record (docs/shared.md). The first to attach initialises the record;
    /// the others join its state as it is. `clock` must be the same in every process (the host's
    /// monotonic clock when `None`, or a region's manual clock). The caller (`circuit-shm`)
    /// checks beforehand that every process uses the same configuration.
    ///
    /// Fails if the record is too small for this configuration's state or holds something else.
    pub fn shared(
        config: Config,
        record: Arc<dyn HostRecord>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Self, SharedError> {
        let cells = config.has_rate_rule() && config.failure_threshold == 0;
        let ledger_cells = if cells { STRIPES } else { 0 };
        let room = crate::shared::copy_words(record.words().len());
        let probe_slots = Inner::probe_slots(&config, ledger_cells, room);
        let parts = HostParts::new(Arc::clone(&record), Inner::encoded_words(&config, ledger_cells, probe_slots))?;
        let clock = clock.map_or(ClockSource::Monotonic, ClockSource::Other);
        let counters = Counters::in_region(HostStripes::new(Arc::clone(&record)));
        let mut breaker = Self::build_in(config, clock, counters, Ledger::with_cells(ledger_cells));
        breaker.host_fast_allow = breaker.fast_allow;
        breaker.host_fast_success = breaker.fast_success;
        breaker.fast_allow = false;
        breaker.fast_success = false;
        breaker.probe_slots = probe_slots;
        parts.magic()?;
        breaker.host = Some(Box::new(parts));
        let Some(host) = breaker.host.as_deref() else { unreachable!() };
        let died = host.record.lock();
        let joined = host.magic();
        if joined == Ok(false) {
            breaker.initialise(host);
        }
        if died && joined == Ok(true) {
            // The previous holder died: repair before anyone in this process uses the state.
            let mut inner = breaker.inner.lock();
            if inner.decode_from(&mut Reader::new(host.active_copy()), &breaker.config, breaker.probe_slots).is_none() {
                breaker.rebuild_from_hot_words(&mut inner, host);
            }
            breaker.resync_cells(&mut inner);
            breaker.republish(&inner, host);
            host.commit(|out| inner.encode(out));
        }
        host.record.unlock();
        joined?;
        if let Some(stripes) = breaker.counters.host() {
            stripes.claim();
        }
        host.deliver_from(word_generation(host.word.load(Ordering::Acquire)));
        Ok(breaker)
    }

    /// Writes a fresh closed breaker into a record never initialised (or whose initialiser died
    /// before finishing). Under the record's lock.
    fn initialise(&self, host: &HostParts) {
        host.word.store(pack_word(0, State::Closed), Ordering::Relaxed);
        host.run.store(pack_run(0, 0), Ordering::Relaxed);
        host.open_until.store(0, Ordering::Relaxed);
        host.warm.store(0, Ordering::Relaxed);
        host.forced.store(0, Ordering::Relaxed);
        if let Some(stripes) = self.counters.host() {
            for (_, stripe) in stripes.all() {
                for word in stripe {
                    word.store(0, Ordering::Relaxed);
                }
                stripe[CELL].store(FRESH, Ordering::Relaxed);
            }
        }
        let inner = self.inner.lock();
        host.commit(|out| inner.encode(out));
        drop(inner);
        host.mark_initialised();
    }

    /// Takes the record's lock after this process's, and brings the local state up to date.
    pub(super) fn lock_host<'a>(&'a self, guard: MutexGuard<'a, Inner>, host: &'a HostParts) -> InnerGuard<'a> {
        let died = host.record.lock();
        let mut locked = InnerGuard { guard, host: Some(host) };
        let commit = host.commit_word();
        if died || commit != host.seen_commit.load(Ordering::Relaxed) {
            let inner = &mut *locked.guard;
            let decoded =
                inner.decode_from(&mut Reader::new(host.active_copy()), &self.config, self.probe_slots).is_some();
            if !decoded {
                self.rebuild_from_hot_words(inner, host);
            }
            if died && decoded {
                self.resync_cells(inner);
            }
            if died || !decoded {
                self.republish(inner, host);
            }
            host.seen_commit.store(commit, Ordering::Relaxed);
        }
        locked
    }

    /// A state that failed validation (a corrupted record) is rebuilt from the published hot
    /// words: same state and generation, an empty window, no probes out, the backoff restarted.
    fn rebuild_from_hot_words(&self, inner: &mut Inner, host: &HostParts) {
        let word = host.word.load(Ordering::Acquire);
        let now = self.clock.now();
        inner.state = word_state(word);
        inner.generation = word_generation(word);
        inner.entered_at = now;
        inner.open_until = if inner.state == State::Open { host.open_until.load(Ordering::Acquire) } else { 0 };
        inner.open_duration = inner.open_until.saturating_sub(now).min(self.config.max_reset_timeout);
        inner.attempt = 0;
        inner.opened = 0;
        inner.probes.clear();
        inner.probe_successes = 0;
        inner.first_probe_at = None;
        inner.retry_hint = 0;
        inner.window.clear();
        inner.ledger = Ledger::with_cells(if self.cells { STRIPES } else { 0 });
        inner.ledger.restart(&self.counters);
        inner.rejected_half_open_full = 0;
        inner.transitions = None;
    }

    /// After a holder's death: the dead section may have reopened a success cell without
    /// committing the ledger that knows it. Counts what still matches, then seals and forgets
    /// every cell, so the next success of each cell reopens it through the lock (at most the dead
    /// section's own successes in flight are lost).
    fn resync_cells(&self, inner: &mut Inner) {
        let Inner { ledger, window, .. } = inner;
        ledger.fold(&self.counters, true, window);
        ledger.restart(&self.counters);
    }

    /// After a holder's death: makes the hot words agree with the committed state (a transition
    /// commits before it publishes, so the committed state is never older than the hot words).
    fn republish(&self, inner: &Inner, host: &HostParts) {
        let generation = inner.generation;
        if inner.state == State::Open {
            host.open_until.store(inner.open_until, Ordering::Release);
        }
        let run = host.run.load(Ordering::Acquire);
        let sealed = (run & 0xFFFF_FFFF) as u32 == u32::MAX;
        if run >> 32 != run_tag(generation) || sealed {
            host.run.store(pack_run(generation, 0), Ordering::Release);
        }
        host.warm.store(0, Ordering::Release);
        let word = pack_word(generation, inner.state);
        if host.word.load(Ordering::Acquire) != word {
            host.word.store(word, Ordering::Release);
        }
    }

    /// A transition of a shared breaker: logged in the record's ring and committed before the
    /// caller publishes it; returns `true` (shared), or `false` for a breaker of one process.
    pub(super) fn host_transition(&self, inner: &Inner, event: &Transition) -> bool {
        let Some(host) = &self.host else { return false };
        host.log(event, self.probe_owner());
        host.commit(|out| inner.encode(out));
        true
    }

    /// Queues every transition of the record this object has not delivered yet.
    pub(super) fn host_catch_up(&self) {
        let Some(host) = &self.host else { return };
        let current = word_generation(host.word.load(Ordering::Acquire));
        if host.behind(current) {
            host.catch_up(current, self.probe_owner(), |t| self.events.push(t));
        }
    }

    /// Delivers other processes' transitions first if the record moved on since this object's
    /// last delivery (every operation of a shared breaker starts with this).
    #[inline]
    pub(super) fn deliver_if_behind(&self, word: u64) {
        if let Some(host) = &self.host
            && host.behind(word_generation(word))
        {
            self.dispatch();
        }
    }
}

impl Inner {
    /// Words the encoding of a breaker of `config` takes, with a ledger of `cells` cells and a
    /// probe table of `probe_slots` slots.
    pub(crate) fn encoded_words(config: &Config, cells: usize, probe_slots: u32) -> usize {
        FIXED
            + TransitionCounts::LEN
            + Probes::encoded_words(probe_slots)
            + Ledger::encoded_words(cells)
            + SlidingWindow::encoded_words(config.window)
    }

    /// The probe slots a shared breaker's table gets: `half_open_max_calls`, or as many as fit
    /// in `room` words besides the rest of the state (at least one: a record that cannot hold
    /// that is refused).
    pub(crate) fn probe_slots(config: &Config, cells: usize, room: usize) -> u32 {
        let rest = Self::encoded_words(config, cells, 0);
        let fit = room.saturating_sub(rest).max(1);
        config.half_open_max_calls.min(u32::try_from(fit).unwrap_or(u32::MAX))
    }

    pub(crate) fn encode(&self, out: &mut Writer<'_>) {
        out.put(INNER_TAG);
        out.put(u64::from(self.state.code()));
        out.put(self.generation);
        out.put(self.entered_at);
        out.put(self.open_until);
        out.put(u64::from(self.attempt));
        out.put(self.opened);
        out.put(self.open_duration);
        out.put(u64::from(self.probe_successes));
        out.put_option(self.first_probe_at);
        out.put(self.jitter.state());
        out.put(self.rejected_half_open_full);
        out.put(u64::from(self.transitions.is_some()));
        let counts = self.transitions.as_deref().copied().unwrap_or_default();
        for &n in counts.raw() {
            out.put(n);
        }
        self.probes.encode(out);
        self.ledger.encode(out);
        self.window.encode(out);
    }

    /// Overwrites this state with an encoded one for `config`; `None` if any field is invalid
    /// (then the caller rebuilds the state: it is partly overwritten).
    pub(crate) fn decode_from(&mut self, input: &mut Reader<'_>, config: &Config, probe_slots: u32) -> Option<()> {
        if input.get()? != INNER_TAG {
            return None;
        }
        self.state = State::from_code(u8::try_from(input.get_at_most(STATE_MASK)?).ok()?)?;
        self.generation = input.get_at_most(MAX_GENERATION)?;
        self.entered_at = input.get()?;
        self.open_until = input.get()?;
        self.attempt = input.get_u32()?;
        self.opened = input.get()?;
        self.open_duration = input.get_at_most(config.max_reset_timeout)?;
        self.probe_successes = input.get_u32()?;
        self.first_probe_at = input.get_option()?;
        self.jitter = crate::backoff::Jitter::new(Some(input.get()?));
        self.rejected_half_open_full = input.get()?;
        let has_transitions = input.get_at_most(1)? == 1;
        let mut raw = [0u64; TransitionCounts::LEN];
        for n in raw.iter_mut() {
            *n = input.get()?;
        }
        self.transitions = has_transitions.then(|| TransitionCounts::from_raw(&raw).map(Box::new)).flatten();
        self.probes.decode_from(input, probe_slots)?;
        self.ledger.decode_from(input)?;
        self.window.decode_from(input)?;
        self.retry_hint = 0;
        Some(())
    }
}
