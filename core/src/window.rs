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
                if epoch.saturating_add(len) > head {
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

/// The window as words in a shared record (`crate::shared`): read back only after validation, so
/// no encoding can make the engine panic or misread.
#[cfg(not(loom))]
mod codec {
    use super::{CountWindow, FAILED, SLOW, SlidingWindow, Tally};
    use crate::config::Window as WindowConfig;
    use crate::shared::words::{Reader, Writer};

    /// A bucket count beyond this is refused as corrupted (far beyond any real traffic, and sums
    /// of up to 2^14 buckets of it cannot overflow).
    const MAX_BUCKET_COUNT: u64 = 1 << 48;
    const NONE: u64 = 0;
    const COUNT: u64 = 1;
    const TIME: u64 = 2;
    /// Outcomes per word of a count window (two flag bits each).
    const PER_WORD: usize = 32;

    impl SlidingWindow {
        /// Words the encoding of a window of `config` takes.
        pub(crate) fn encoded_words(config: WindowConfig) -> usize {
            match config {
                WindowConfig::None => 1,
                WindowConfig::Count { size } => 4 + (size as usize).div_ceil(PER_WORD),
                WindowConfig::Time { buckets, .. } => 4 + 3 * buckets as usize,
            }
        }

        pub(crate) fn encode(&self, out: &mut Writer<'_>) {
            match self {
                Self::None => out.put(NONE),
                Self::Count(w) => {
                    out.put(COUNT);
                    out.put(w.ring.len() as u64);
                    out.put(w.next as u64);
                    out.put(w.filled as u64);
                    for chunk in w.ring.chunks(PER_WORD) {
                        let packed =
                            chunk.iter().enumerate().fold(0u64, |acc, (i, &f)| acc | (u64::from(f & 3) << (2 * i)));
                        out.put(packed);
                    }
                }
                Self::Time(w) => {
                    out.put(TIME);
                    out.put(w.buckets.len() as u64);
                    out.put(w.bucket_nanos);
                    out.put_option(w.head);
                    for bucket in w.buckets.iter() {
                        out.put(bucket.calls);
                        out.put(bucket.failures);
                        out.put(bucket.slow);
                    }
                }
            }
        }

        /// Overwrites this window (built for the same configuration) with an encoded one;
        /// `None` if the encoding is not a valid window of this shape (then `self` is unspecified
        /// but consistent: the caller clears it).
        pub(crate) fn decode_from(&mut self, input: &mut Reader<'_>) -> Option<()> {
            let kind = input.get()?;
            match self {
                Self::None => (kind == NONE).then_some(()),
                Self::Count(w) => {
                    let len = w.ring.len();
                    if kind != COUNT || input.get()? != len as u64 {
                        return None;
                    }
                    let next = input.get_at_most(len as u64 - 1)? as usize;
                    let filled = input.get_at_most(len as u64)? as usize;
                    if filled < len && next != filled {
                        return None;
                    }
                    for chunk in w.ring.chunks_mut(PER_WORD) {
                        let packed = input.get()?;
                        for (i, f) in chunk.iter_mut().enumerate() {
                            *f = ((packed >> (2 * i)) & 3) as u8 & (FAILED | SLOW);
                        }
                    }
                    w.next = next;
                    w.filled = filled;
                    w.tally = recount(w);
                    Some(())
                }
                Self::Time(w) => {
                    if kind != TIME || input.get()? != w.buckets.len() as u64 || input.get()? != w.bucket_nanos {
                        return None;
                    }
                    w.head = input.get_option()?;
                    // No instant maps beyond this bucket (and later arithmetic on it cannot overflow).
                    if w.head.is_some_and(|h| h > u64::MAX / w.bucket_nanos - w.buckets.len() as u64) {
                        return None;
                    }
                    let mut tally = Tally::default();
                    for bucket in w.buckets.iter_mut() {
                        let calls = input.get_at_most(MAX_BUCKET_COUNT)?;
                        let failures = input.get_at_most(calls)?;
                        let slow = input.get_at_most(calls)?;
                        *bucket = Tally { calls, failures, slow };
                        tally.calls += calls;
                        tally.failures += failures;
                        tally.slow += slow;
                    }
                    w.tally = tally;
                    Some(())
                }
            }
        }
    }

    /// The tally of the `filled` newest outcomes of a count window.
    fn recount(w: &CountWindow) -> Tally {
        let len = w.ring.len();
        let start = (w.next + len - w.filled) % len;
        let mut tally = Tally::default();
        for i in 0..w.filled {
            tally.add(w.ring[(start + i) % len]);
        }
        tally
    }
}
