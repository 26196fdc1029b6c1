//! Time sources. The engine only ever asks "what time is it, in nanoseconds since this clock's
//! origin?"; it never reads the wall clock.
//!
//! * [`MonotonicClock`] (the default) reads `CLOCK_MONOTONIC`. For the open-state rejection path it
//!   first reads `CLOCK_MONOTONIC_COARSE` (a few nanoseconds instead of ~37 ns): when that coarse
//!   reading, plus twice its resolution, is still before the instant the breaker may leave `open`,
//!   the call is rejected without a precise read. Near the due instant the precise clock decides, so
//!   the transition happens exactly as with the precise clock; only the reported `retry_after` of an
//!   early rejection can be up to one coarse tick (typically 1-4 ms) too long.
//! * [`ManualClock`] starts at 0 and moves only when told to; clones share one time line, so many
//!   breakers can run on it. It is exact: its coarse reading is its precise reading.
//! * Any type implementing [`Clock`] can be used.

use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

/// A monotonic time source.
pub trait Clock: Send + Sync {
    /// Nanoseconds since this clock's origin. Must never decrease.
    fn now_nanos(&self) -> u64;

    /// A cheaper reading and its maximum lag: the returned `(reading, lag)` satisfies
    /// `reading <= now_nanos() <= reading + lag` at the moment of the call. The default is exact.
    fn now_coarse_nanos(&self) -> (u64, u64) {
        (self.now_nanos(), 0)
    }
}

/// The default clock: the operating system's monotonic clock (`CLOCK_MONOTONIC` on Linux, whose
/// origin is the boot instant; elsewhere `std::time::Instant` measured from the first use).
#[derive(Debug, Default, Clone, Copy)]
pub struct MonotonicClock;

#[cfg(target_os = "linux")]
mod os {
    use rustix::time::{ClockId, clock_getres, clock_gettime};
    use std::sync::OnceLock;

    fn nanos(ts: rustix::time::Timespec) -> u64 {
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    }

    #[inline]
    pub(super) fn precise() -> u64 {
        nanos(clock_gettime(ClockId::Monotonic))
    }

    #[inline]
    pub(super) fn coarse() -> (u64, u64) {
        static LAG: OnceLock<u64> = OnceLock::new();
        let lag = *LAG.get_or_init(|| nanos(clock_getres(ClockId::MonotonicCoarse)).saturating_mul(2));
        (nanos(clock_gettime(ClockId::MonotonicCoarse)), lag)
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use std::sync::OnceLock;
    use std::time::Instant;

    #[inline]
    pub(super) fn precise() -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    #[inline]
    pub(super) fn coarse() -> (u64, u64) {
        (precise(), 0)
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        os::precise()
    }

    #[inline]
    fn now_coarse_nanos(&self) -> (u64, u64) {
        os::coarse()
    }
}

/// A clock that moves only when told to. Starts at 0. Cloning shares the same time line.
///
/// ```
/// use std::time::Duration;
/// let clock = circuit::ManualClock::new();
/// let view = clock.clone();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(view.now(), Duration::from_millis(1500));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A new clock at instant 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward (saturating at `u64::MAX` nanoseconds); returns the new instant.
    pub fn advance(&self, by: std::time::Duration) -> std::time::Duration {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.advance_nanos(by)
    }

    /// Moves the clock forward by `by` nanoseconds (saturating); returns the new instant.
    pub fn advance_nanos(&self, by: u64) -> std::time::Duration {
        let mut current = self.nanos.load(Ordering::Acquire);
        loop {
            let next = current.saturating_add(by);
            match self.nanos.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return std::time::Duration::from_nanos(next),
                Err(actual) => current = actual,
            }
        }
    }

    /// The current instant.
    pub fn now(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

/// The clock a breaker reads: the default clock without dynamic dispatch, or any other.
#[derive(Clone)]
pub(crate) enum ClockSource {
    Monotonic,
    Other(Arc<dyn Clock>),
}

impl ClockSource {
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            Self::Monotonic => os::precise(),
            Self::Other(clock) => clock.now_nanos(),
        }
    }

    #[inline]
    pub(crate) fn coarse(&self) -> (u64, u64) {
        match self {
            Self::Monotonic => os::coarse(),
            Self::Other(clock) => clock.now_coarse_nanos(),
        }
    }
}

impl std::fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Monotonic => f.write_str("MonotonicClock"),
            Self::Other(_) => f.write_str("CustomClock"),
        }
    }
}
