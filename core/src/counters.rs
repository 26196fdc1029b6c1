//! Lifetime totals (admitted, rejected, successes, ...) kept out of contended cache lines, and the
//! per-thread success cells that feed a rate window without a lock (see [`crate::cells`]).
//!
//! Each breaker holds one 64-byte stripe per exclusive thread slot (see
//! [`crate::sync::exclusive_slot`]) plus one shared stripe. A thread that owns a slot is the only
//! writer of its stripe's totals, so it bumps a counter with a relaxed load and store (no locked
//! instruction, no cache-line ping-pong); other threads `fetch_add` on the shared stripe. Reading a
//! total sums the stripes with saturation. Totals are monotonic and never reset.
//!
//! A slot's stripe is allocated the first time its thread uses the breaker (once per breaker and
//! thread, never on later calls), so a breaker used by one thread holds one private stripe, not
//! sixteen: a consecutive-failure breaker stays well under 1 KiB.

use std::sync::OnceLock;

use crate::sync::{AtomicU64, EXCLUSIVE_SLOTS, Ordering, exclusive_slot};

/// Which lifetime total to bump.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub(crate) enum Counter {
    Admitted = 0,
    /// Rejections because the breaker was open (the other reasons are rare: kept elsewhere).
    RejectedOpen = 1,
    Successes = 2,
    Failures = 3,
    Ignored = 4,
    Slow = 5,
    Stale = 6,
}

const COUNTERS: usize = 7;

/// One cache line: the totals of one slot and its success cell.
#[cfg_attr(not(loom), repr(align(64)))]
#[derive(Debug)]
struct Stripe {
    values: [AtomicU64; COUNTERS],
    cell: AtomicU64,
}

impl Default for Stripe {
    /// Zero totals and a sealed cell: no lock-free add before the engine opens it.
    fn default() -> Self {
        Self { values: Default::default(), cell: AtomicU64::new(crate::cells::FRESH) }
    }
}

/// A snapshot of every lifetime total.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) admitted: u64,
    pub(crate) rejected_open: u64,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) ignored: u64,
    pub(crate) slow: u64,
    pub(crate) stale: u64,
}

#[derive(Debug)]
pub(crate) struct Counters {
    /// One lazily allocated stripe per exclusive slot.
    exclusive: [OnceLock<Box<Stripe>>; EXCLUSIVE_SLOTS],
    /// The stripe of threads without a slot (`fetch_add`). Boxed like the others, so the breaker
    /// itself needs no cache-line alignment (which would pad every `Arc` of it to 64 bytes).
    shared: Box<Stripe>,
}

/// Index of the shared stripe's success cell in [`Counters::cells`].
pub(crate) const SHARED_CELL: usize = EXCLUSIVE_SLOTS;
/// How many success cells a breaker can have.
pub(crate) const CELLS: usize = EXCLUSIVE_SLOTS + 1;

impl Counters {
    pub(crate) fn new() -> Self {
        // Under loom the stripes exist from the start: loom cannot see the synchronisation of
        // std's `OnceLock`, so a stripe created inside a model thread would look unsynchronised.
        #[cfg(loom)]
        let exclusive = std::array::from_fn(|_| OnceLock::from(Box::default()));
        #[cfg(not(loom))]
        let exclusive = std::array::from_fn(|_| OnceLock::new());
        Self { exclusive, shared: Box::default() }
    }

    #[inline(always)]
    fn private(&self, slot: usize) -> &Stripe {
        self.exclusive[slot].get_or_init(Box::default)
    }

    #[inline(always)]
    pub(crate) fn bump(&self, counter: Counter) {
        self.bump_in(exclusive_slot(), counter);
    }

    /// Like `bump`, with the calling thread's slot already looked up.
    #[inline(always)]
    pub(crate) fn bump_in(&self, slot: Option<usize>, counter: Counter) {
        match slot {
            Some(slot) => self.bump_on(self.private(slot), true, counter),
            // 2^64 increments are physically out of reach, so wrapping cannot happen here.
            None => self.bump_on(&self.shared, false, counter),
        }
    }

    /// Adds one success to the calling thread's success cell if it holds `key` (see
    /// [`crate::cells::try_add`]) and, if it did, bumps the `successes` total of the same stripe.
    #[inline(always)]
    pub(crate) fn add_success_to_cell(&self, slot: Option<usize>, key: u64) -> bool {
        let stripe = match slot {
            Some(slot) => self.private(slot),
            None => &self.shared,
        };
        if !crate::cells::try_add(&stripe.cell, key) {
            return false;
        }
        self.bump_on(stripe, slot.is_some(), Counter::Successes);
        true
    }

    #[inline(always)]
    fn bump_on(&self, stripe: &Stripe, private: bool, counter: Counter) {
        let cell = &stripe.values[counter as usize];
        if private {
            cell.store(cell.load(Ordering::Relaxed).saturating_add(1), Ordering::Relaxed);
        } else {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The success cell of the calling thread's slot, and its index in [`Self::cells`].
    #[inline]
    pub(crate) fn cell_in(&self, slot: Option<usize>) -> (usize, &AtomicU64) {
        match slot {
            Some(slot) => (slot, &self.private(slot).cell),
            None => (SHARED_CELL, &self.shared.cell),
        }
    }

    /// Every success cell that exists, with its index (private ones not yet allocated hold nothing).
    pub(crate) fn cells(&self) -> impl Iterator<Item = (usize, &AtomicU64)> {
        let private = self.exclusive.iter().enumerate().filter_map(|(i, s)| s.get().map(|s| (i, &s.cell)));
        private.chain(std::iter::once((SHARED_CELL, &self.shared.cell)))
    }

    fn total(&self, counter: Counter) -> u64 {
        let private = self.exclusive.iter().filter_map(OnceLock::get).map(|s| &**s);
        private
            .chain(std::iter::once(&*self.shared))
            .fold(0u64, |sum, s| sum.saturating_add(s.values[counter as usize].load(Ordering::Relaxed)))
    }

    /// Adds `totals` to the shared stripe (a restored breaker's lifetime totals).
    pub(crate) fn restore(&self, totals: &Totals) {
        let pairs = [
            (Counter::Admitted, totals.admitted),
            (Counter::RejectedOpen, totals.rejected_open),
            (Counter::Successes, totals.successes),
            (Counter::Failures, totals.failures),
            (Counter::Ignored, totals.ignored),
            (Counter::Slow, totals.slow),
            (Counter::Stale, totals.stale),
        ];
        for (counter, n) in pairs {
            self.shared.values[counter as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> Totals {
        Totals {
            admitted: self.total(Counter::Admitted),
            rejected_open: self.total(Counter::RejectedOpen),
            successes: self.total(Counter::Successes),
            failures: self.total(Counter::Failures),
            ignored: self.total(Counter::Ignored),
            slow: self.total(Counter::Slow),
            stale: self.total(Counter::Stale),
        }
    }
}

/// The calling thread's counter stripe, looked up once. Bindings that already keep per-thread
/// state (the C ABI's handle cache) pass it to [`crate::CircuitBreaker::allow_raw_on`] and
/// [`crate::CircuitBreaker::record_raw_on`] to save a thread-local lookup per call, which costs a
/// function call (`__tls_get_addr`) inside a shared library. Not `Send`: it is only valid on the
/// thread that obtained it.
#[derive(Debug, Clone, Copy)]
pub struct ThreadSlot {
    slot: Option<usize>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ThreadSlot {
    /// The calling thread's slot.
    #[inline]
    pub fn current() -> Self {
        Self { slot: exclusive_slot(), _not_send: std::marker::PhantomData }
    }

    #[inline(always)]
    pub(crate) fn get(self) -> Option<usize> {
        self.slot
    }
}
