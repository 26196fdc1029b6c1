//! Success cells: how a closed breaker with a rate window counts plain successes without a lock,
//! exactly (docs/semantics.md, "Atomicity"; docs/ARCHITECTURE.md, "The rate window").
//!
//! A plain success (closed state, not slow, not a probe) only makes the window's oldest outcome
//! leave and a success enter; whatever position it takes among other plain successes is
//! indistinguishable. So the window does not need to see each one at once: it needs, whenever it
//! is read under the breaker's lock, how many have been recorded so far. Each thread slot owns one
//! cell in its counter stripe (threads without a slot share one), and a plain success is one
//! compare-and-swap on the caller's own cell, a cache line no other thread writes on this path.
//!
//! A cell is one word: `tag (29 bits) | SEAL | epoch (14 bits) | count (20 bits)`.
//!
//! * `tag` is the generation the count belongs to (its low bits), so a success racing a
//!   transition can never land in the next generation's window.
//! * `epoch` is the time-window bucket the count belongs to (0 for a count window).
//! * `count` is how many successes the cell holds; the engine's ledger remembers how many of them
//!   the window already has, so folding a cell adds only the difference.
//! * `SEAL` makes the next compare-and-swap fail, sending the caller to the locked path.
//!
//! The lock holder folds the cells before every windowed decision. An outcome whose decision could
//! depend on successes recorded meanwhile (it might trip the breaker) first *seals* every cell (one
//! `fetch_or` each), folds again and decides: a success whose CAS came before its cell's seal is in
//! the window before the deciding outcome; one after the seal failed its CAS and goes through the
//! lock, where it finds the trip (stale) or, if there was none, is counted after the decision.
//! That is what makes "a success that races the trip is either counted before it or stale" hold
//! without a lock on the success path.

use crate::counters::{CELLS, Counters};
use crate::sync::{AtomicU64, Ordering};
use crate::window::SlidingWindow;

const COUNT_BITS: u32 = 20;
const EPOCH_BITS: u32 = 14;
const EPOCH_SHIFT: u32 = COUNT_BITS;
const SEAL_SHIFT: u32 = EPOCH_SHIFT + EPOCH_BITS;
const TAG_SHIFT: u32 = SEAL_SHIFT + 1;

const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
/// Makes every compare-and-swap on the cell fail until cleared under the lock.
const SEAL: u64 = 1 << SEAL_SHIFT;
/// A cell never opened: sealed, so nothing is added before the engine opens it for a generation.
pub(crate) const FRESH: u64 = SEAL;
/// Tag, seal and epoch: what must match for a lock-free add.
const KEY_MASK: u64 = !COUNT_MASK;

/// The buckets a time window can hold must have distinct epochs modulo 2^14.
const _: () = assert!(crate::config::MAX_WINDOW_BUCKETS as u64 <= EPOCH_MASK + 1);

/// The unsealed, empty cell value for `generation` and window bucket `epoch`.
#[inline(always)]
pub(crate) fn key(generation: u64, epoch: u64) -> u64 {
    (generation << TAG_SHIFT) | ((epoch & EPOCH_MASK) << EPOCH_SHIFT)
}

/// Adds one success to `cell` if it holds `key` (unsealed) and has room; the lock-free path.
/// `false` sends the caller to the locked path (new generation or bucket, sealed, or full).
#[inline(always)]
pub(crate) fn try_add(cell: &AtomicU64, key: u64) -> bool {
    let mut value = cell.load(Ordering::Relaxed);
    loop {
        if value & KEY_MASK != key || value & COUNT_MASK == COUNT_MASK {
            return false;
        }
        // Relaxed suffices: every read-modify-write of one cell is totally ordered, and that order
        // alone decides whether this add precedes a seal (docs/ARCHITECTURE.md).
        match cell.compare_exchange_weak(value, value + 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => value = actual,
        }
    }
}

/// What the window already holds of one cell.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The cell value (count zero) this entry tracks; `NONE` if none in this generation.
    key: u64,
    /// The full bucket index of `key` (its low bits are in the key).
    epoch: u64,
    /// Successes of the cell already added to the window.
    count: u64,
    /// Sealed for good (its bucket left the window): only its thread's locked path reopens it.
    parked: bool,
}

const NONE: u64 = u64::MAX;
const EMPTY: Entry = Entry { key: NONE, epoch: 0, count: 0, parked: false };

/// The lock holder's bookkeeping of every cell (kept in the breaker's locked state).
#[derive(Debug)]
pub(crate) struct Ledger {
    entries: Box<[Entry]>,
}

impl Ledger {
    /// A ledger for a breaker that uses cells (`enabled`), or an empty one.
    pub(crate) fn new(enabled: bool) -> Self {
        Self::with_cells(if enabled { CELLS } else { 0 })
    }

    /// A ledger of `cells` cells (a breaker shared by processes has one per shared stripe).
    pub(crate) fn with_cells(cells: usize) -> Self {
        Self { entries: vec![EMPTY; cells].into_boxed_slice() }
    }

    fn enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Adds to `window` what the cells gained since the last fold; returns how many successes.
    /// With `seal`, each cell is sealed in the same instruction that reads it.
    pub(crate) fn fold(&mut self, counters: &Counters, seal: bool, window: &mut SlidingWindow) -> u64 {
        let mut added = 0;
        if !self.enabled() {
            return added;
        }
        for (index, cell) in counters.cells() {
            let entry = &mut self.entries[index];
            if entry.key == NONE {
                continue;
            }
            let value = if seal { cell.fetch_or(SEAL, Ordering::AcqRel) } else { cell.load(Ordering::Acquire) };
            if value & KEY_MASK & !SEAL != entry.key {
                continue;
            }
            let count = value & COUNT_MASK;
            if count > entry.count {
                window.add_successes(entry.epoch, count - entry.count);
                added += count - entry.count;
                entry.count = count;
            }
        }
        added
    }

    /// Reopens every cell sealed by a `fold(.., true, ..)` that decided no transition.
    pub(crate) fn unseal(&self, counters: &Counters) {
        for (index, cell) in counters.cells() {
            let entry = &self.entries[index];
            if entry.key != NONE && !entry.parked {
                cell.fetch_and(!SEAL, Ordering::AcqRel);
            }
        }
    }

    /// Whether cell `index` (value `cell`) takes lock-free adds for `generation` and bucket `epoch`.
    pub(crate) fn is_open(&self, index: usize, cell: &AtomicU64, generation: u64, epoch: u64) -> bool {
        let fresh = key(generation, epoch);
        let value = cell.load(Ordering::Acquire);
        self.entries.get(index).is_some_and(|e| e.key == fresh && !e.parked)
            && value & KEY_MASK == fresh
            && value & COUNT_MASK < COUNT_MASK
    }

    /// Reopens cell `index` for `generation` and bucket `epoch`, adding what it held to `window`
    /// first; returns how many successes that added.
    /// Called under the lock by a thread that may write the cell: its owner, or any thread for
    /// the shared cell (a swap, so concurrent adds to the shared cell are never lost).
    pub(crate) fn reopen(
        &mut self,
        index: usize,
        cell: &AtomicU64,
        generation: u64,
        epoch: u64,
        window: &mut SlidingWindow,
    ) -> u64 {
        let Some(entry) = self.entries.get_mut(index) else {
            return 0;
        };
        let fresh = key(generation, epoch);
        let old = cell.swap(fresh, Ordering::AcqRel);
        let mut added = 0;
        if entry.key != NONE && old & KEY_MASK & !SEAL == entry.key && old & COUNT_MASK > entry.count {
            added = (old & COUNT_MASK) - entry.count;
            window.add_successes(entry.epoch, added);
        }
        *entry = Entry { key: fresh, epoch, count: 0, parked: false };
        added
    }

    /// Seals for good every cell whose bucket is older than `oldest` (the window's head), so that
    /// no success lands in an older bucket after a decision made at the head (it goes through the
    /// lock instead), and a 14-bit epoch can never be mistaken for a later bucket's. What such a
    /// cell already holds is still folded.
    pub(crate) fn park_older_than(&mut self, counters: &Counters, oldest: u64) {
        if !self.enabled() {
            return;
        }
        for (index, cell) in counters.cells() {
            let entry = &mut self.entries[index];
            if entry.key != NONE && !entry.parked && entry.epoch < oldest {
                cell.fetch_or(SEAL, Ordering::AcqRel);
                entry.parked = true;
            }
        }
    }

    /// A new generation starts: every cell is sealed (an add racing the transition fails and
    /// goes through the lock) and forgotten.
    pub(crate) fn restart(&mut self, counters: &Counters) {
        if !self.enabled() {
            return;
        }
        for (_, cell) in counters.cells() {
            cell.fetch_or(SEAL, Ordering::AcqRel);
        }
        self.entries.fill(EMPTY);
    }
}

/// The ledger as words in a shared record (`crate::shared`).
#[cfg(not(loom))]
mod codec {
    use super::{Entry, Ledger};
    use crate::shared::words::{Reader, Writer};

    const PARKED: u64 = 1 << 63;

    impl Ledger {
        /// Words the encoding of a ledger of `cells` cells takes.
        pub(crate) fn encoded_words(cells: usize) -> usize {
            1 + 3 * cells
        }

        pub(crate) fn encode(&self, out: &mut Writer<'_>) {
            out.put(self.entries.len() as u64);
            for e in self.entries.iter() {
                out.put(e.key);
                out.put(e.epoch);
                out.put(e.count | if e.parked { PARKED } else { 0 });
            }
        }

        /// Overwrites this ledger (of the same size) with an encoded one; `None` if invalid.
        pub(crate) fn decode_from(&mut self, input: &mut Reader<'_>) -> Option<()> {
            if input.get()? != self.entries.len() as u64 {
                return None;
            }
            for e in self.entries.iter_mut() {
                let key = input.get()?;
                let epoch = input.get()?;
                let count = input.get()?;
                // A cell holds at most 2^20 - 1 successes.
                if count & !PARKED > super::COUNT_MASK {
                    return None;
                }
                *e = Entry { key, epoch, count: count & !PARKED, parked: count & PARKED != 0 };
            }
            Some(())
        }
    }
}
