//! Lifetime totals (admitted, rejected, successes, ...) kept out of contended cache lines.
//!
//! Each breaker holds one 64-byte stripe per exclusive thread slot (see
//! [`crate::sync::exclusive_slot`]) plus one shared stripe. A thread that owns a slot is the only
//! writer of its stripe, so it bumps a counter with a relaxed load and store (no locked
//! instruction, no cache-line ping-pong); other threads `fetch_add` on the shared stripe. Reading a
//! total sums the stripes with saturation. Totals are monotonic and never reset.

use crate::sync::{AtomicU64, EXCLUSIVE_SLOTS, Ordering, exclusive_slot};

/// Which lifetime total to bump.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub(crate) enum Counter {
    Admitted = 0,
    Rejected = 1,
    Successes = 2,
    Failures = 3,
    Ignored = 4,
    Slow = 5,
    Stale = 6,
}

const COUNTERS: usize = 7;

#[cfg_attr(not(loom), repr(align(64)))]
#[derive(Debug, Default)]
struct Stripe {
    values: [AtomicU64; COUNTERS],
}

/// A snapshot of every lifetime total.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) admitted: u64,
    pub(crate) rejected: u64,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) ignored: u64,
    pub(crate) slow: u64,
    pub(crate) stale: u64,
}

#[derive(Debug)]
pub(crate) struct Counters {
    /// `EXCLUSIVE_SLOTS` private stripes, then the shared one.
    stripes: Box<[Stripe]>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self { stripes: (0..=EXCLUSIVE_SLOTS).map(|_| Stripe::default()).collect() }
    }

    #[inline(always)]
    pub(crate) fn bump(&self, counter: Counter) {
        self.bump_in(exclusive_slot(), counter);
    }

    /// Like `bump`, with the calling thread's slot already looked up.
    #[inline(always)]
    pub(crate) fn bump_in(&self, slot: Option<usize>, counter: Counter) {
        match slot {
            Some(slot) => {
                let cell = &self.stripes[slot].values[counter as usize];
                cell.store(cell.load(Ordering::Relaxed).saturating_add(1), Ordering::Relaxed);
            }
            None => {
                // 2^64 increments are physically out of reach, so wrapping cannot happen here.
                self.stripes[EXCLUSIVE_SLOTS].values[counter as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn total(&self, counter: Counter) -> u64 {
        self.stripes.iter().fold(0u64, |sum, s| sum.saturating_add(s.values[counter as usize].load(Ordering::Relaxed)))
    }

    pub(crate) fn snapshot(&self) -> Totals {
        Totals {
            admitted: self.total(Counter::Admitted),
            rejected: self.total(Counter::Rejected),
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
