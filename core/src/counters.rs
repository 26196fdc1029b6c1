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

pub(crate) const COUNTERS: usize = 7;
/// The word of a stripe that holds its success cell (after the totals).
#[cfg(not(loom))]
pub(crate) const CELL: usize = COUNTERS;

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
    /// The stripes in a host region, for a breaker shared by processes (then the fields above
    /// stay unused).
    #[cfg(not(loom))]
    host: Option<Box<crate::shared::HostStripes>>,
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
        Self {
            exclusive,
            shared: Box::default(),
            #[cfg(not(loom))]
            host: None,
        }
    }

    /// Counters kept in a host region's stripes.
    #[cfg(not(loom))]
    pub(crate) fn in_region(stripes: crate::shared::HostStripes) -> Self {
        let mut counters = Self::new();
        counters.host = Some(Box::new(stripes));
        counters
    }

    /// The region stripes, for a shared breaker.
    #[cfg(not(loom))]
    pub(crate) fn host(&self) -> Option<&crate::shared::HostStripes> {
        self.host.as_deref()
    }

    /// This breaker object's own counts (a shared breaker with a process entry), else `None`.
    pub(crate) fn own(&self) -> Option<Totals> {
        #[cfg(not(loom))]
        if let Some(own) = self.host.as_deref().and_then(crate::shared::HostStripes::own) {
            return Some(Totals::from_array(own));
        }
        None
    }

    #[inline(always)]
    fn private(&self, slot: usize) -> &Stripe {
        self.exclusive[slot].get_or_init(Box::default)
    }

    #[inline(always)]
    pub(crate) fn bump(&self, counter: Counter) {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            let (_, stripe, private) = host.stripe(exclusive_slot());
            bump_word(&stripe[counter as usize], private);
            return;
        }
        self.bump_in(exclusive_slot(), counter);
    }

    /// Like `bump`, for a shared breaker, with the calling thread's slot already looked up.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) fn bump_host(&self, slot: Option<usize>, counter: Counter) {
        if let Some(host) = &self.host {
            let (_, stripe, private) = host.stripe(slot);
            bump_word(&stripe[counter as usize], private);
        }
    }

    /// Like `bump`, with the calling thread's slot already looked up. Only for a breaker of one
    /// process (the engine's inlined fast paths, which a shared breaker never takes).
    #[inline(always)]
    pub(crate) fn bump_in(&self, slot: Option<usize>, counter: Counter) {
        #[cfg(not(loom))]
        debug_assert!(self.host.is_none(), "a shared breaker's counts go through bump");
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
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            let (_, stripe, private) = host.stripe(slot);
            if !crate::cells::try_add(&stripe[CELL], key) {
                return false;
            }
            bump_word(&stripe[Counter::Successes as usize], private);
            return true;
        }
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
        bump_word(&stripe.values[counter as usize], private);
    }

    /// The success cell of the calling thread's slot, and its index in [`Self::cells`].
    #[inline]
    pub(crate) fn cell_in(&self, slot: Option<usize>) -> (usize, &AtomicU64) {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            let (index, stripe, _) = host.stripe(slot);
            return (index, &stripe[CELL]);
        }
        match slot {
            Some(slot) => (slot, &self.private(slot).cell),
            None => (SHARED_CELL, &self.shared.cell),
        }
    }

    /// Every success cell that exists, with its index (private ones not yet allocated hold nothing).
    pub(crate) fn cells(&self) -> impl Iterator<Item = (usize, &AtomicU64)> {
        #[cfg(not(loom))]
        let local = self.host.is_none();
        #[cfg(loom)]
        let local = true;
        let private = self.exclusive.iter().enumerate().filter_map(|(i, s)| s.get().map(|s| (i, &s.cell)));
        let own = private.chain(std::iter::once((SHARED_CELL, &self.shared.cell))).filter(move |_| local);
        #[cfg(not(loom))]
        let region = self.host.iter().flat_map(|h| h.all()).map(|(i, s)| (i, &s[CELL]));
        #[cfg(loom)]
        let region = std::iter::empty();
        own.chain(region)
    }

    fn total(&self, counter: Counter) -> u64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return host
                .all()
                .fold(0u64, |sum, (_, s)| sum.saturating_add(s[counter as usize].load(Ordering::Relaxed)));
        }
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
            #[cfg(not(loom))]
            if let Some(host) = &self.host {
                host.overflow()[counter as usize].fetch_add(n, Ordering::Relaxed);
                continue;
            }
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

/// Adds one to a total: a plain load and store for the stripe's only writer, else `fetch_add`.
#[inline(always)]
fn bump_word(cell: &AtomicU64, private: bool) {
    if private {
        cell.store(cell.load(Ordering::Relaxed).saturating_add(1), Ordering::Relaxed);
    } else {
        // 2^64 increments are physically out of reach, so wrapping cannot happen here.
        cell.fetch_add(1, Ordering::Relaxed);
    }
}

impl Totals {
    /// From the counters in [`Counter`] order.
    #[cfg(not(loom))]
    fn from_array(v: [u64; COUNTERS]) -> Self {
        Self {
            admitted: v[Counter::Admitted as usize],
            rejected_open: v[Counter::RejectedOpen as usize],
            successes: v[Counter::Successes as usize],
            failures: v[Counter::Failures as usize],
            ignored: v[Counter::Ignored as usize],
            slow: v[Counter::Slow as usize],
            stale: v[Counter::Stale as usize],
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
