//! Breakers in a region: [`HostRegion`] gives each named breaker a record and attaches the core's
//! state machine to it (`circuit::CircuitBreaker::shared`), so breakers with the same name in
//! the same region are one breaker across processes (docs/shared.md).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use engine::{CircuitBreaker, Clock, Config, Family, FamilyBuilder, HostRecord, MemberSource};

use crate::clock::ClockKind;
use crate::error::{ErrorKind, RegionError};
use crate::lock::RawLock;
use crate::record::Record;
use crate::region::{Region, RegionOptions};

/// A region that holds breakers: opened (or created) at a path, with a capacity fixed at creation.
///
/// ```no_run
/// use circuit_shm::HostRegion;
/// let region = HostRegion::open("/dev/shm/my-service.circuit", 64)?;
/// let config = engine::Config::builder().name("payments").failure_threshold(5).build()?;
/// let breaker = region.breaker(config)?; // the same breaker in every process that does this
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HostRegion {
    region: Region,
}

impl HostRegion {
    /// Opens the region at `path`, creating it (mode 0600, host clock) if it does not exist.
    pub fn open(path: impl AsRef<Path>, capacity: usize) -> Result<HostRegion, RegionError> {
        HostRegion::open_with(path, HostRegion::options(capacity))
    }

    /// The options [`HostRegion::open`] uses: `capacity` breaker records of
    /// [`circuit::shared::RECORD_WORDS`](engine::shared::RECORD_WORDS) words.
    pub fn options(capacity: usize) -> RegionOptions {
        RegionOptions::new(capacity, engine::shared::RECORD_WORDS)
    }

    /// Opens with explicit options (mode, `create`, a manual clock for tests). `record_words`
    /// must be at least [`circuit::shared::MIN_RECORD_WORDS`](engine::shared::MIN_RECORD_WORDS).
    pub fn open_with(path: impl AsRef<Path>, options: RegionOptions) -> Result<HostRegion, RegionError> {
        let path = path.as_ref();
        if options.record_words < engine::shared::MIN_RECORD_WORDS {
            return Err(RegionError::new(
                path,
                ErrorKind::InvalidOptions {
                    option: "record_words",
                    reason: format!("a breaker needs at least {} words", engine::shared::MIN_RECORD_WORDS),
                },
            ));
        }
        Ok(HostRegion { region: Region::open(path, options)? })
    }

    /// The breaker named by `config` in this region: created with `config` if the region has no
    /// breaker of that name, else joined as it is. Refused if it exists with other options (the
    /// error names each option that differs), if the region is full, or if `config` has no name.
    pub fn breaker(&self, config: Config) -> Result<CircuitBreaker, RegionError> {
        let path = self.region.path();
        let Some(name) = config.name().map(str::to_owned) else {
            return Err(RegionError::new(path, ErrorKind::Unnamed));
        };
        let record = self.region.record(&name, &config.canonical_options())?;
        let clock: Option<Arc<dyn Clock>> = match self.region.clock_kind() {
            ClockKind::Host => None,
            ClockKind::Manual => Some(Arc::new(self.manual_clock()?)),
        };
        let host = Arc::new(SharedRecord::new(record));
        CircuitBreaker::shared(config, host, clock)
            .map_err(|e| RegionError::new(path, ErrorKind::Breaker { breaker: name, reason: e.to_string() }))
    }

    /// A family builder whose members (and overflow breaker) live in this region: each key's
    /// breaker `<family>/<key>` is one breaker across processes, like any breaker of the region.
    /// Each member takes a record (names stay claimed); when the region is full, new keys get the
    /// family's overflow breaker. The family's idle eviction only drops this process's handle: the
    /// member's state stays in the region, and the next `get` of its key joins it again.
    ///
    /// ```no_run
    /// use circuit_shm::HostRegion;
    /// let region = HostRegion::open("/dev/shm/my-service.circuit", 256)?;
    /// let config = engine::Config::builder().name("api").failure_threshold(5).build()?;
    /// let family = region.family(config)?.max_keys(100).build()?;
    /// let breaker = family.get("payments.example:443");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn family(&self, config: Config) -> Result<FamilyBuilder, RegionError> {
        if config.name().is_none() {
            return Err(RegionError::new(self.region.path(), ErrorKind::Unnamed));
        }
        let region = self.clone();
        let source: MemberSource = Arc::new(move |config| region.breaker(config).map_err(|e| e.to_string()));
        let builder = Family::builder(config).member_source(source);
        Ok(match self.region.clock_kind() {
            ClockKind::Host => builder,
            ClockKind::Manual => builder.clock(self.manual_clock()?),
        })
    }

    /// The underlying region (records, clock, path).
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The region's path.
    pub fn path(&self) -> &Path {
        self.region.path()
    }

    /// The region's manual clock as a [`circuit::Clock`](engine::Clock) (refused for a
    /// host-clock region): advance it from any process with [`Region::clock`].
    pub fn manual_clock(&self) -> Result<ManualRegionClock, RegionError> {
        if self.region.clock_kind() != ClockKind::Manual {
            return Err(RegionError::new(self.region.path(), ErrorKind::ClockNotManual));
        }
        keep_mapped(&self.region);
        // SAFETY: the mapping is never unmapped (keep_mapped leaked a reference to it).
        let word = unsafe { extend(self.region.manual_clock_word()) };
        Ok(ManualRegionClock { word })
    }

    /// Advances the region's manual clock by `d` (every process sees it).
    pub fn advance(&self, d: Duration) -> Result<u64, RegionError> {
        self.region.clock().advance(d)
    }
}

/// A region's manual clock, as a breaker clock.
#[derive(Debug, Clone, Copy)]
pub struct ManualRegionClock {
    word: &'static AtomicU64,
}

impl Clock for ManualRegionClock {
    fn now_nanos(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }
}

/// A region keeps its mapping for the rest of the process once a breaker lives in it: breakers
/// read their words through `'static` references, so the mapping must never be unmapped.
fn keep_mapped(region: &Region) {
    if !region.inner.kept.swap(true, Ordering::AcqRel) {
        std::mem::forget(region.clone());
    }
}

/// # Safety
/// `value` lives in a region's mapping on which [`keep_mapped`] was called.
unsafe fn extend<T: ?Sized>(value: &T) -> &'static T {
    // SAFETY: the caller guarantees the mapping is never unmapped, so the reference stays valid.
    unsafe { &*std::ptr::from_ref(value) }
}

/// One record, as the core's state machine uses it.
struct SharedRecord {
    record: Record,
    words: &'static [AtomicU64],
    lock: RawLock,
}

// SAFETY: `RawLock` is a pointer to a process-shared mutex in a mapping that is never unmapped
// (`keep_mapped`); pthread mutexes may be locked from any thread.
unsafe impl Send for SharedRecord {}
// SAFETY: as above.
unsafe impl Sync for SharedRecord {}

static FORKS: AtomicU64 = AtomicU64::new(0);
static AT_FORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::AcqRel);
}

impl SharedRecord {
    fn new(record: Record) -> SharedRecord {
        keep_mapped(record.region());
        // SAFETY: the region's mapping is kept for the process's life (just above).
        let words = unsafe { extend(record.words()) };
        let lock = record.region().record_lock(record.index());
        AT_FORK.call_once(|| {
            // SAFETY: registers a handler that only does an atomic add (async-signal-safe).
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        });
        SharedRecord { record, words, lock }
    }
}

impl HostRecord for SharedRecord {
    fn words(&self) -> &'static [AtomicU64] {
        self.words
    }

    fn lock(&self) -> bool {
        // The engine never locks a record twice on one thread, and always makes a lock whose
        // owner died consistent, so the only failures left are the impossible ones.
        match self.lock.lock(self.record.region()) {
            Ok(acquired) => matches!(acquired, crate::lock::Acquired::OwnerDied),
            Err(e) => panic!("{e}"),
        }
    }

    fn unlock(&self) {
        self.lock.unlock();
    }

    fn process_id(&self) -> u32 {
        std::process::id()
    }

    fn is_alive(&self, pid: u32) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let rc = unsafe { libc::kill(pid, 0) };
        let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        // A zombie (dead, not yet reaped by its parent) still answers signal 0: its state in
        // /proc says it is gone.
        exists && !is_zombie(pid)
    }

    fn forks(&self) -> &'static AtomicU64 {
        &FORKS
    }
}

/// Whether `/proc/PID/stat` says the process is a zombie (`Z`) or dead (`X`).
fn is_zombie(pid: libc::pid_t) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses and may contain any byte.
    stat.rfind(')').and_then(|at| stat[at + 1..].split_whitespace().next()).is_some_and(|s| s == "Z" || s == "X")
}
