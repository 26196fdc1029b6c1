//! The sliding windows read by the rate rules (docs/semantics.md, "Trip rules"). Plain data: the engine keeps a
//! window inside its state lock, so "the last N outcomes" is exact and a window is emptied in the
//! same step as the transition that starts a new generation. Plain successes recorded without the
//! lock reach it in batches through [`SlidingWindow::add_successes`] (see [`crate::cells`]).

use crate::config::Window as WindowConfig;

const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// Calls, failures and slow calls currently in a window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Tally {
    fn add(&mut self, flags: u8) {
        self.calls += 1;
        self.failures += u64::from(flags & FAILED != 0);
        self.slow += u64::from(flags & SLOW != 0);
    }

    fn remove(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }

    /// `part / calls` as a float; 0 for an empty window.
    pub(crate) fn rate(part: u64, calls: u64) -> f64 {
        if calls == 0 { 0.0 } else { part as f64 / calls as f64 }
    }
}

/// The last `capacity` outcomes, as a ring of flag bytes.
#[derive(Debug)]
pub(crate) struct CountWindow {
    ring: Box<[u8]>,
    next: usize,
    filled: usize,
    tally: Tally,
}

/// Outcomes recorded in the last `buckets` bucket periods, buckets aligned to the clock origin.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Tally]>,
    bucket_nanos: u64,
    /// Index (instant / bucket_nanos) of the newest bucket, once anything was recorded.
    head: Option<u64>,
    tally: Tally,
}

/// A breaker's window; boxed, so a breaker without a rate rule carries one word for it.
#[derive(Debug)]
pub(crate) enum SlidingWindow {
    None,
    Count(Box<CountWindow>),
    Time(Box<TimeWindow>),
}

impl SlidingWindow {
    pub(crate) fn new(config: WindowConfig) -> Self {
        match config {
            WindowConfig::None => Self::None,
            WindowConfig::Count { size } => Self::Count(Box::new(CountWindow {
                ring: vec![0; size as usize].into_boxed_slice(),
                next: 0,
                filled: 0,
                tally: Tally::default(),
            })),
            WindowConfig::Time { duration_nanos, buckets } => Self::Time(Box::new(TimeWindow {
                buckets: vec![Tally::default(); buckets as usize].into_boxed_slice(),
                bucket_nanos: duration_nanos / u64::from(buckets),
                head: None,
                tally: Tally::default(),
            })),
        }
    }

    /// Empties the window (a new generation starts).
    pub(crate) fn clear(&mut self) {
        match self {
            Self::None => {}
            Self::Count(w) => {
                w.ring.fill(0);
                w.next = 0;
                w.filled = 0;
                w.tally = Tally::default();
            }
            Self::Time(w) => {
                w.buckets.fill(Tally::default());
                w.head = None;
                w.tally = Tally::default();
            }
        }
    }

    /// Adds one counted outcome at instant `now`.
    pub(crate) fn record(&mut self, now: u64, failed: bool, slow: bool) {
        let flags = flags(failed, slow);
        match self {
            Self::None => {}
            Self::Count(w) => w.push(flags),
            Self::Time(w) => {
                let index = w.advance(now);
                let slot = (index % w.buckets.len() as u64) as usize;
                w.buckets[slot].add(flags);
                w.tally.add(flags);
            }
        }
    }

    /// The bucket the window is at after moving to `now` (its head; 0 for a count window). The head
    /// never moves back, so this may be later than `now`'s bucket.
    pub(crate) fn head_epoch(&mut self, now: u64) -> u64 {
        match self {
            Self::Time(w) => w.advance(now),
            _ => 0,
        }
    }

    /// Adds `n` plain successes (neither failed nor slow) recorded in bucket `epoch`: at the
    /// newest end of a count window (O(min(n, size))), or into that bucket of a time window if it
    /// is still in the window.
    pub(crate) fn add_successes(&mut self, epoch: u64, n: u64) {
        match self {
            Self::None => {}
            Self::Count(w) => {
                let len = w.ring.len();
                if n >= len as u64 {
                    w.ring.fill(0);
                    w.next = 0;
                    w.filled = len;
                    w.tally = Tally { calls: len as u64, failures: 0, slow: 0 };
                    return;
                }
                for _ in 0..n {
                    w.push(0);
                }
            }
            Self::Time(w) => {
                let head = w.advance(epoch.saturating_mul(w.bucket_nanos));
                let len = w.buckets.len() as u64;
                if epoch + len > head {
                    let bucket = &mut w.buckets[(epoch % len) as usize];
                    bucket.calls += n;
                    w.tally.calls += n;
                }
            }
        }
    }

    /// What the window would hold at `now` after recording one outcome, without recording it
    /// (expired buckets are dropped: time has passed either way).
    pub(crate) fn peek(&mut self, now: u64, failed: bool, slow: bool) -> Tally {
        let mut tally = self.tally(now);
        if matches!(self, Self::None) {
            return tally;
        }
        if let Self::Count(w) = self
            && w.filled == w.ring.len()
        {
            let mut gone = Tally::default();
            gone.add(w.ring[w.next]);
            tally.remove(gone);
        }
        tally.add(flags(failed, slow));
        tally
    }

    /// What the window holds at instant `now` (expired buckets are dropped first).
    pub(crate) fn tally(&mut self, now: u64) -> Tally {
        match self {
            Self::None => Tally::default(),
            Self::Count(w) => w.tally,
            Self::Time(w) => {
                w.advance(now);
                w.tally
            }
        }
    }
}

/// What a window holds, for a state document (`crate::export`): independent of the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WindowContent {
    /// A count window's outcomes, oldest first, each `(failed, slow)`.
    Count(Vec<(bool, bool)>),
    /// A time window's buckets, oldest first, ending with the bucket that holds the export
    /// instant, `head_age` nanoseconds into it.
    Time { bucket_nanos: u64, head_age: u64, buckets: Vec<Tally> },
}

impl WindowContent {
    /// Whether this content fits a window of `config` (kind, size, bucket width and count).
    pub(crate) fn fits(&self, config: WindowConfig) -> bool {
        match (self, config) {
            (Self::Count(outcomes), WindowConfig::Count { size }) => outcomes.len() <= size as usize,
            (Self::Time { bucket_nanos, buckets, .. }, WindowConfig::Time { duration_nanos, buckets: count }) => {
                *bucket_nanos == duration_nanos / u64::from(count) && buckets.len() == count as usize
            }
            _ => false,
        }
    }

    /// Calls, failures and slow calls of a count window's content (`None` for a time window,
    /// whose buckets age on import).
    pub(crate) fn count_tally(&self) -> Option<Tally> {
        match self {
            Self::Count(outcomes) => {
                let mut tally = Tally::default();
                for &(failed, slow) in outcomes {
                    tally.add(flags(failed, slow));
                }
                Some(tally)
            }
            Self::Time { .. } => None,
        }
    }
}

impl SlidingWindow {
    /// The window's content at `now` (expired buckets dropped first).
    pub(crate) fn content(&mut self, now: u64) -> Option<WindowContent> {
        match self {
            Self::None => None,
            Self::Count(w) => {
                let len = w.ring.len();
                let start = (w.next + len - w.filled) % len;
                let outcomes =
                    (0..w.filled).map(|i| w.ring[(start + i) % len]).map(|f| (f & FAILED != 0, f & SLOW != 0));
                Some(WindowContent::Count(outcomes.collect()))
            }
            Self::Time(w) => {
                let head = w.advance(now);
                let len = w.buckets.len() as u64;
                let buckets = (0..len).map(|age| w.buckets[((head + len - (len - 1 - age) % len) % len) as usize]);
                Some(WindowContent::Time {
                    bucket_nanos: w.bucket_nanos,
                    head_age: now.saturating_sub(head.saturating_mul(w.bucket_nanos)),
                    buckets: buckets.collect(),
                })
            }
        }
    }

    /// Refills an empty window from `content`, exported `gap` nanoseconds before `now`: a count
    /// window takes the newest outcomes that fit; a time window places each bucket at its age
    /// shifted by the gap (to bucket precision), dropping those that left the window meanwhile.
    /// Content of the other kind, or with another bucket width, is dropped.
    pub(crate) fn restore(&mut self, content: &WindowContent, now: u64, gap: u64) {
        match (self, content) {
            (Self::Count(w), WindowContent::Count(outcomes)) => {
                let skip = outcomes.len().saturating_sub(w.ring.len());
                for &(failed, slow) in &outcomes[skip..] {
                    w.push(flags(failed, slow));
                }
            }
            (Self::Time(w), WindowContent::Time { bucket_nanos, head_age, buckets })
                if *bucket_nanos == w.bucket_nanos =>
            {
                let head = w.advance(now);
                let len = w.buckets.len() as u64;
                let exported_at = now.checked_sub(gap);
                for (age, tally) in buckets.iter().rev().enumerate() {
                    let start = exported_at
                        .and_then(|t| t.checked_sub(*head_age))
                        .and_then(|t| t.checked_sub((age as u64).saturating_mul(w.bucket_nanos)));
                    let Some(start) = start else { continue };
                    let epoch = start / w.bucket_nanos;
                    if epoch + len > head && tally.calls > 0 {
                        let bucket = &mut w.buckets[(epoch % len) as usize];
                        // The document's totals are bounded (`export::MAX_DOCUMENT_COUNT`); saturate anyway.
                        bucket.calls = bucket.calls.saturating_add(tally.calls);
                        bucket.failures = bucket.failures.saturating_add(tally.failures);
                        bucket.slow = bucket.slow.saturating_add(tally.slow);
                        w.tally.calls = w.tally.calls.saturating_add(tally.calls);
                        w.tally.failures = w.tally.failures.saturating_add(tally.failures);
                        w.tally.slow = w.tally.slow.saturating_add(tally.slow);
                    }
                }
            }
            _ => {}
        }
    }
}

fn flags(failed: bool, slow: bool) -> u8 {
    (if failed { FAILED } else { 0 }) | if slow { SLOW } else { 0 }
}

impl CountWindow {
    /// Appends one outcome, evicting the oldest once full.
    fn push(&mut self, flags: u8) {
        if self.filled == self.ring.len() {
            let mut gone = Tally::default();
            gone.add(self.ring[self.next]);
            self.tally.remove(gone);
        } else {
            self.filled += 1;
        }
        self.ring[self.next] = flags;
        self.tally.add(flags);
        self.next = (self.next + 1) % self.ring.len();
    }
}

impl TimeWindow {
    /// Moves the head to the bucket holding `now`, emptying buckets that left the window; returns
    /// the head bucket index. A clock that went backwards is treated as standing still.
    fn advance(&mut self, now: u64) -> u64 {
        let index = now / self.bucket_nanos;
        let Some(head) = self.head else {
            self.head = Some(index);
            return index;
        };
        if index <= head {
            return head;
        }
        let len = self.buckets.len() as u64;
        let expired = (index - head).min(len);
        for step in 1..=expired {
            let slot = ((head + step) % len) as usize;
            let gone = std::mem::take(&mut self.buckets[slot]);
            self.tally.remove(gone);
        }
        self.head = Some(index);
        index
    }
}
