//! Breakers shared by every process on a host (docs/shared.md; SEMANTICS §13).
//!
//! The engine does not know where its words live. A breaker built with
//! [`crate::CircuitBreaker::shared`] keeps its hot atomics, its counter stripes and its encoded
//! locked state in a [`HostRecord`]: a fixed array of `AtomicU64` words that every process maps
//! (the `circuit-shm` crate provides them, with the `unsafe` that mapping needs). The state
//! machine is the same code in both cases; only the storage differs:
//!
//! * **Hot words** (`word`, `run`, `open_until`, `warm`, forced-open rejections) are the record's
//!   first words, used exactly as the single-process atomics: the closed path stays lock-free.
//! * **Counter stripes**: each breaker object claims one *process entry* (four stripes: three
//!   written with plain stores by the threads holding exclusive slots 0-2, one shared by the others
//!   with `fetch_add`); when all sixteen entries are held by live objects, an overflow stripe
//!   (`fetch_add`) takes the rest. Totals sum every stripe, so they are region-wide; the object's
//!   own counts are its entry's stripes minus what they held when it claimed them.
//! * **Locked state** (`Inner`: window, probes, ledger, backoff, ...) is encoded in one of two
//!   copies under the record's robust process-shared lock. A writer encodes into the inactive copy
//!   and then flips the commit word, so a process killed at any instant leaves the other copy whole.
//!   A transition commits *before* it publishes its hot words, so after an owner's death the next
//!   holder finds the committed state at least as new as the published one and republishes it.
//! * **Events**: a transition is also written to a ring of the last [`RING`] transitions (before
//!   it is committed). Each process delivers, at its next operation on the breaker, every ring entry
//!   newer than the last generation it delivered, marked remote unless this process made it.
//! * **Probes** carry their process id; when every slot is taken, slots of dead processes are freed.

pub(crate) mod words;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::events::Transition;
use crate::state::{Reason, State};

/// What a host region gives a breaker: its record's words and lock, and process facts. Implemented
/// by `circuit-shm`; a test may implement it over plain memory.
pub trait HostRecord: Send + Sync + 'static {
    /// The record's words: the same memory in every process, for the life of this process.
    fn words(&self) -> &'static [AtomicU64];
    /// Takes the record's process-shared lock; returns `true` if its previous holder died holding
    /// it (the engine then repairs the state the lock protects).
    fn lock(&self) -> bool;
    /// Releases the lock taken by [`Self::lock`] on this thread.
    fn unlock(&self);
    /// This process's id (in a forked child, the child's).
    fn process_id(&self) -> u32;
    /// Whether the process `pid` still runs.
    fn is_alive(&self, pid: u32) -> bool;
    /// A counter that every `fork()` increments in the child, so that a breaker object inherited
    /// across a fork claims counter stripes of its own.
    fn forks(&self) -> &'static AtomicU64;
}

/// Why a breaker could not be attached to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedError {
    message: String,
}

impl SharedError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SharedError {}

// ---------------------------------------------------------------------------------------------
// Layout of a breaker record (word indexes). Any change bumps `MAGIC`.
// ---------------------------------------------------------------------------------------------

pub(crate) const WORD: usize = 0;
pub(crate) const RUN: usize = 1;
pub(crate) const OPEN_UNTIL: usize = 2;
pub(crate) const WARM: usize = 3;
pub(crate) const FORCED: usize = 4;
const COMMIT: usize = 5;
const MAGIC_AT: usize = 6;
/// `b"CBRKv001"`: a breaker record of this layout, initialised.
const MAGIC: u64 = u64::from_le_bytes(*b"CBRKv001");
const ENTRIES_AT: usize = 8;
/// Process entries (breaker objects with their own stripes).
pub(crate) const ENTRIES: usize = 16;
const RING_AT: usize = 32;
/// Transitions kept for processes that have not seen them yet.
pub const RING: usize = 32;
const RING_WORDS: usize = 4;
const STRIPES_AT: usize = RING_AT + RING * RING_WORDS;
/// Stripes per process entry: three private (exclusive thread slots 0-2), one shared.
pub(crate) const ENTRY_STRIPES: usize = 4;
/// Every stripe: the entries' and the overflow stripe.
pub(crate) const STRIPES: usize = ENTRIES * ENTRY_STRIPES + 1;
pub(crate) const STRIPE_WORDS: usize = 8;
const COPIES_AT: usize = STRIPES_AT + STRIPES * STRIPE_WORDS;
/// The smallest record a breaker fits in (with a tiny locked state).
pub const MIN_RECORD_WORDS: usize = COPIES_AT + 2 * 64;
/// The record size `circuit-shm` regions use for breakers: 32 KiB.
pub const RECORD_WORDS: usize = 4096;

const _: () = assert!(ENTRIES_AT + ENTRIES <= RING_AT);
const _: () = assert!(STRIPES_AT.is_multiple_of(STRIPE_WORDS));

/// The words each copy of the locked state has in a record of `record_words` words.
pub(crate) fn copy_words(record_words: usize) -> usize {
    record_words.saturating_sub(COPIES_AT) / 2
}

/// A breaker's view of its record.
pub(crate) struct HostParts {
    pub(crate) record: Arc<dyn HostRecord>,
    words: &'static [AtomicU64],
    pub(crate) word: &'static AtomicU64,
    pub(crate) run: &'static AtomicU64,
    pub(crate) open_until: &'static AtomicU64,
    pub(crate) warm: &'static AtomicU64,
    pub(crate) forced: &'static AtomicU64,
    copy_words: usize,
    /// The commit word's value when this object last decoded or committed (under the lock).
    pub(crate) seen_commit: AtomicU64,
    /// The last generation whose transition this object delivered (`delivered` mirrors it).
    delivered: Mutex<u64>,
    delivered_fast: AtomicU64,
}

impl HostParts {
    /// Checks the record's size; does not touch it.
    pub(crate) fn new(record: Arc<dyn HostRecord>, needed_copy_words: usize) -> Result<Self, SharedError> {
        let words = record.words();
        if words.len() < MIN_RECORD_WORDS {
            return Err(SharedError::new(format!(
                "the record has {} words; a shared breaker needs at least {MIN_RECORD_WORDS}",
                words.len()
            )));
        }
        let copy_words = copy_words(words.len());
        if needed_copy_words > copy_words {
            return Err(SharedError::new(format!(
                "this configuration's state takes {needed_copy_words} words and a record holds {copy_words}: \
                 use a smaller window_size or window_buckets, or a smaller half_open_max_calls"
            )));
        }
        Ok(Self {
            words,
            word: &words[WORD],
            run: &words[RUN],
            open_until: &words[OPEN_UNTIL],
            warm: &words[WARM],
            forced: &words[FORCED],
            copy_words,
            seen_commit: AtomicU64::new(u64::MAX),
            delivered: Mutex::new(0),
            delivered_fast: AtomicU64::new(0),
            record,
        })
    }

    /// Whether the record was initialised by a breaker of this layout (0: never; else refused).
    pub(crate) fn magic(&self) -> Result<bool, SharedError> {
        match self.words[MAGIC_AT].load(Ordering::Acquire) {
            0 => Ok(false),
            MAGIC => Ok(true),
            other => Err(SharedError::new(format!(
                "the record holds something other than a breaker of this version (tag {other:#018x})"
            ))),
        }
    }

    pub(crate) fn mark_initialised(&self) {
        self.words[MAGIC_AT].store(MAGIC, Ordering::Release);
    }

    /// Starts delivering transitions after `generation` (at attach: history is not replayed).
    pub(crate) fn deliver_from(&self, generation: u64) {
        *self.delivered.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = generation;
        self.delivered_fast.store(generation, Ordering::Release);
    }

    /// Whether transitions up to `generation` remain to be delivered by this object.
    #[inline]
    pub(crate) fn behind(&self, generation: u64) -> bool {
        self.delivered_fast.load(Ordering::Acquire) < generation
    }

    // --- the two copies of the locked state -------------------------------------------------

    /// The commit word: `sequence << 1 | active copy`.
    pub(crate) fn commit_word(&self) -> u64 {
        self.words[COMMIT].load(Ordering::Acquire)
    }

    fn copy(&self, index: u64) -> &'static [AtomicU64] {
        let start = COPIES_AT + (index as usize & 1) * self.copy_words;
        &self.words[start..start + self.copy_words]
    }

    /// The copy the commit word names.
    pub(crate) fn active_copy(&self) -> &'static [AtomicU64] {
        self.copy(self.commit_word() & 1)
    }

    /// Encodes with `write` into the inactive copy, then makes it the active one. Under the lock.
    pub(crate) fn commit(&self, write: impl FnOnce(&mut words::Writer<'_>)) {
        let commit = self.commit_word();
        let next = commit ^ 1;
        write(&mut words::Writer::new(self.copy(next)));
        let word = (((commit >> 1).wrapping_add(1)) << 1) | (next & 1);
        self.words[COMMIT].store(word, Ordering::Release);
        self.seen_commit.store(word, Ordering::Relaxed);
    }

    // --- events -------------------------------------------------------------------------------

    /// Writes the transition that started `t.generation` into the ring (under the lock, before
    /// the commit and before the hot words are published).
    pub(crate) fn log(&self, t: &Transition, pid: u32) {
        let entry = self.ring_entry(t.generation);
        entry[0].store(u64::MAX, Ordering::Release);
        // The invalidation is visible before any field is (a reader re-checks entry[0] after).
        std::sync::atomic::fence(Ordering::Release);
        entry[1].store(u64::try_from(t.at.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        let packed = u64::from(t.from.code())
            | (u64::from(t.to.code()) << 8)
            | (u64::from(t.reason.code()) << 16)
            | (u64::from(pid) << 32);
        entry[2].store(packed, Ordering::Relaxed);
        entry[0].store(t.generation, Ordering::Release);
    }

    fn ring_entry(&self, generation: u64) -> &'static [AtomicU64] {
        let start = RING_AT + (generation % RING as u64) as usize * RING_WORDS;
        &self.words[start..start + RING_WORDS]
    }

    /// The transition that started `generation`, if the ring still holds it (read without the
    /// lock: the entry's generation is checked before and after, so a torn read is discarded).
    fn read_ring(&self, generation: u64, my_pid: u32) -> Option<Transition> {
        let entry = self.ring_entry(generation);
        if entry[0].load(Ordering::Acquire) != generation {
            return None;
        }
        let at = entry[1].load(Ordering::Acquire);
        let packed = entry[2].load(Ordering::Acquire);
        if entry[0].load(Ordering::Acquire) != generation {
            return None;
        }
        let from = State::from_code((packed & 0xFF) as u8)?;
        let to = State::from_code(((packed >> 8) & 0xFF) as u8)?;
        let reason = Reason::from_code(((packed >> 16) & 0xFF) as u8)?;
        if reason.target() != to {
            return None;
        }
        let pid = (packed >> 32) as u32;
        Some(Transition { from, to, reason, at: Duration::from_nanos(at), generation, remote: pid != my_pid })
    }

    /// Queues, with `push`, every transition up to `current` this object has not delivered yet,
    /// in order. A process that fell more than [`RING`] transitions behind gets the newest ones.
    pub(crate) fn catch_up(&self, current: u64, pid: u32, mut push: impl FnMut(Transition)) {
        let mut delivered = self.delivered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *delivered >= current {
            return;
        }
        let first = delivered.saturating_add(1).max(current.saturating_sub(RING as u64 - 1));
        for generation in first..=current {
            if let Some(t) = self.read_ring(generation, pid) {
                push(t);
            }
        }
        *delivered = current;
        self.delivered_fast.store(current, Ordering::Release);
    }
}

impl std::fmt::Debug for HostStripes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostStripes").field("entry", &self.entry).field("pid", &self.pid).finish_non_exhaustive()
    }
}

impl Drop for HostStripes {
    fn drop(&mut self) {
        self.release();
    }
}

/// The counter stripes of a shared breaker, and which of them this object writes.
pub(crate) struct HostStripes {
    stripes: &'static [AtomicU64],
    entries: &'static [AtomicU64],
    /// This object's process entry; [`ENTRIES`] while it has none (the overflow stripe).
    entry: AtomicUsize,
    /// The process id the entry was claimed with.
    pid: AtomicU32,
    forks: &'static AtomicU64,
    /// `forks` when the entry was claimed (`u64::MAX`: never).
    seen_forks: AtomicU64,
    /// What the entry's stripes held when claimed, per counter.
    baseline: Mutex<[u64; crate::counters::COUNTERS]>,
    record: Arc<dyn HostRecord>,
}

impl HostStripes {
    /// The stripes of `record` (claims nothing yet; see [`Self::claim`]).
    pub(crate) fn new(record: Arc<dyn HostRecord>) -> Self {
        let words = record.words();
        Self {
            stripes: &words[STRIPES_AT..STRIPES_AT + STRIPES * STRIPE_WORDS],
            entries: &words[ENTRIES_AT..ENTRIES_AT + ENTRIES],
            entry: AtomicUsize::new(ENTRIES),
            pid: AtomicU32::new(0),
            forks: record.forks(),
            seen_forks: AtomicU64::new(u64::MAX),
            baseline: Mutex::new([0; crate::counters::COUNTERS]),
            record,
        }
    }

    /// The stripe the calling thread writes (its index and words), and whether it writes it
    /// alone (plain stores).
    #[inline]
    pub(crate) fn stripe(&self, slot: Option<usize>) -> (usize, &'static [AtomicU64], bool) {
        if self.seen_forks.load(Ordering::Acquire) != self.forks.load(Ordering::Acquire) {
            self.claim();
        }
        let entry = self.entry.load(Ordering::Acquire);
        let (index, private) = match slot {
            _ if entry >= ENTRIES => (STRIPES - 1, false),
            Some(s) if s < ENTRY_STRIPES - 1 => (entry * ENTRY_STRIPES + s, true),
            _ => (entry * ENTRY_STRIPES + ENTRY_STRIPES - 1, false),
        };
        (index, &self.stripes[index * STRIPE_WORDS..(index + 1) * STRIPE_WORDS], private)
    }

    /// The overflow stripe (`fetch_add` only).
    pub(crate) fn overflow(&self) -> &'static [AtomicU64] {
        &self.stripes[(STRIPES - 1) * STRIPE_WORDS..]
    }

    /// Every stripe, with its index (the success cell of stripe `i` is cell `i`).
    pub(crate) fn all(&self) -> impl Iterator<Item = (usize, &'static [AtomicU64])> {
        self.stripes.chunks(STRIPE_WORDS).enumerate()
    }

    /// Claims a process entry (a free one, or one whose process is gone); the overflow stripe if
    /// none. Called at attach and after a fork.
    #[cold]
    pub(crate) fn claim(&self) {
        let mut baseline = self.baseline.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let forks = self.forks.load(Ordering::Acquire);
        if self.seen_forks.load(Ordering::Relaxed) == forks && self.entry.load(Ordering::Relaxed) < ENTRIES {
            return;
        }
        let inherited = self.seen_forks.load(Ordering::Relaxed) != u64::MAX;
        let pid = self.record.process_id();
        if !inherited {
            self.release();
        }
        let mut claimed = ENTRIES;
        for (index, owner) in self.entries.iter().enumerate() {
            let current = owner.load(Ordering::Acquire);
            let free = current == 0 || (current as u32 != pid && !self.record.is_alive(current as u32));
            if free && owner.compare_exchange(current, u64::from(pid), Ordering::AcqRel, Ordering::Acquire).is_ok() {
                claimed = index;
                break;
            }
        }
        *baseline = [0; crate::counters::COUNTERS];
        if claimed < ENTRIES {
            for stripe in 0..ENTRY_STRIPES {
                let base = (claimed * ENTRY_STRIPES + stripe) * STRIPE_WORDS;
                for (counter, value) in baseline.iter_mut().enumerate() {
                    *value = value.saturating_add(self.stripes[base + counter].load(Ordering::Acquire));
                }
            }
        }
        self.pid.store(pid, Ordering::Relaxed);
        self.entry.store(claimed, Ordering::Release);
        self.seen_forks.store(forks, Ordering::Release);
    }

    /// Whether this object was inherited across a fork and has not claimed an entry of its own.
    fn forked(&self) -> bool {
        self.seen_forks.load(Ordering::Acquire) != self.forks.load(Ordering::Acquire)
    }

    /// Gives the entry back (when the object is dropped): its counts stay in the region's totals.
    /// A copy inherited across a fork that never claimed its own gives nothing back: the entry is
    /// the parent's.
    fn release(&self) {
        if self.forked() && self.seen_forks.load(Ordering::Acquire) != u64::MAX {
            return;
        }
        let entry = self.entry.swap(ENTRIES, Ordering::AcqRel);
        if entry < ENTRIES {
            let pid = u64::from(self.pid.load(Ordering::Relaxed));
            let _ = self.entries[entry].compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// This object's own counts since it claimed its entry (`None` without an entry).
    pub(crate) fn own(&self) -> Option<[u64; crate::counters::COUNTERS]> {
        if self.forked() {
            self.claim();
        }
        let baseline = self.baseline.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = self.entry.load(Ordering::Acquire);
        if entry >= ENTRIES {
            return None;
        }
        let mut own = [0u64; crate::counters::COUNTERS];
        for stripe in 0..ENTRY_STRIPES {
            let base = (entry * ENTRY_STRIPES + stripe) * STRIPE_WORDS;
            for (counter, value) in own.iter_mut().enumerate() {
                *value = value.saturating_add(self.stripes[base + counter].load(Ordering::Acquire));
            }
        }
        for (value, base) in own.iter_mut().zip(baseline.iter()) {
            *value = value.saturating_sub(*base);
        }
        Some(own)
    }

    /// This process's id, as its entry was claimed with (claiming one first in a forked child,
    /// so that a child's probes and transitions are never attributed to its parent).
    pub(crate) fn pid(&self) -> u32 {
        if self.forked() {
            self.claim();
        }
        self.pid.load(Ordering::Relaxed)
    }
}
