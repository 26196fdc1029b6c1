//! Clocks a region's processes share: the host's monotonic clock, or a manual clock in the header.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::Region;
use crate::error::{ErrorKind, RegionError};

/// Which clock a region's breakers read. Chosen at creation and recorded in the header; an
/// opener asking for the other one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockKind {
    /// `CLOCK_MONOTONIC`: one clock for every process on the host (outside time namespaces).
    #[default]
    Host,
    /// A counter of nanoseconds in the region's header, starting at 0, moved only by
    /// [`RegionClock::advance`] from any process.
    Manual,
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockKind::Host => "host",
            ClockKind::Manual => "manual",
        })
    }
}

/// The host's monotonic clock in nanoseconds (`CLOCK_MONOTONIC`). Every process on the host reads
/// the same clock, except processes in different time namespaces (containers with their own
/// `CLOCK_MONOTONIC` offset): such processes must not share a host-clock region.
pub fn host_monotonic_nanos() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// A region's clock, as every process attached to the region sees it.
#[derive(Debug, Clone, Copy)]
pub struct RegionClock<'r> {
    pub(crate) region: &'r Region,
}

impl RegionClock<'_> {
    /// Which clock this is.
    pub fn kind(&self) -> ClockKind {
        self.region.clock_kind()
    }

    /// Now, in nanoseconds: the host's monotonic clock, or the manual clock's value.
    pub fn now(&self) -> u64 {
        match self.kind() {
            ClockKind::Host => host_monotonic_nanos(),
            ClockKind::Manual => self.region.manual_clock_word().load(Ordering::Acquire),
        }
    }

    /// Moves the manual clock forward by `d` (saturating at `u64::MAX` nanoseconds) and returns
    /// its new value. Atomic: advances from several processes all count. A host-clock region
    /// refuses with [`ErrorKind::ClockNotManual`].
    pub fn advance(&self, d: Duration) -> Result<u64, RegionError> {
        if self.kind() != ClockKind::Manual {
            return Err(RegionError::new(self.region.path(), ErrorKind::ClockNotManual));
        }
        let step = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let word = self.region.manual_clock_word();
        let prev = word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_add(step)))
            .unwrap_or_else(|v| v);
        Ok(prev.saturating_add(step))
    }
}
