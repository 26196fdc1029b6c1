//! The fleet level's outcome totals (calls, failures, slow) of this instance, monotonic, in one
//! cache line per exclusive thread slot plus one shared line, all allocated with the fleet: a call
//! with a slot of its own counts with a relaxed load and store at a fixed address (no lazy stripe
//! to look up, no locked instruction), so the fleet level adds as little as possible to the
//! closed path. A sync sends the totals' growth since the last one.

use crate::sync::{AtomicU64, EXCLUSIVE_SLOTS, Ordering};

/// Which total.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Calls = 0,
    Failures = 1,
    Slow = 2,
}

#[cfg_attr(not(loom), repr(align(64)))]
#[derive(Debug, Default)]
struct Line([AtomicU64; 3]);

#[derive(Debug)]
pub(super) struct Tally {
    /// `EXCLUSIVE_SLOTS` private lines, then the line of threads without a slot.
    lines: Box<[Line]>,
}

impl Tally {
    pub(super) fn new() -> Self {
        Self { lines: (0..=EXCLUSIVE_SLOTS).map(|_| Line::default()).collect() }
    }

    /// Adds `n` to `kind` for the calling thread (`slot`: its exclusive slot, if it has one).
    /// 2^64 calls are physically out of reach, so the totals cannot wrap.
    #[inline(always)]
    pub(super) fn add(&self, slot: Option<usize>, kind: Kind, n: u64) {
        match slot.and_then(|s| self.lines.get(s)) {
            Some(line) => {
                let word = &line.0[kind as usize];
                word.store(word.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
            }
            None => {
                self.lines[EXCLUSIVE_SLOTS].0[kind as usize].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// The totals now: `[calls, failures, slow]`.
    pub(super) fn totals(&self) -> [u64; 3] {
        let mut sum = [0u64; 3];
        for line in self.lines.iter() {
            for (total, word) in sum.iter_mut().zip(&line.0) {
                *total = total.wrapping_add(word.load(Ordering::Relaxed));
            }
        }
        sum
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Kind, Tally};
    use crate::sync::EXCLUSIVE_SLOTS;

    #[test]
    fn totals_sum_every_line_private_and_shared() {
        let tally = Tally::new();
        tally.add(Some(0), Kind::Calls, 2);
        tally.add(Some(EXCLUSIVE_SLOTS - 1), Kind::Failures, 1);
        tally.add(None, Kind::Calls, 3);
        // A slot beyond the private lines counts on the shared one.
        tally.add(Some(EXCLUSIVE_SLOTS + 5), Kind::Slow, 4);
        assert_eq!(tally.totals(), [5, 1, 4]);
    }

    #[test]
    fn threads_beyond_the_exclusive_slots_lose_nothing() {
        let tally = std::sync::Arc::new(Tally::new());
        let threads: Vec<_> = (0..EXCLUSIVE_SLOTS + 8)
            .map(|_| {
                let tally = std::sync::Arc::clone(&tally);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        tally.add(crate::host::ThreadSlot::current().get(), Kind::Calls, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(tally.totals()[0], 1000 * (EXCLUSIVE_SLOTS as u64 + 8));
    }
}
