//! Robust process-shared mutexes living in the region.
//!
//! Each is a `pthread_mutex_t` initialised with `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST`
//! and `PTHREAD_MUTEX_ERRORCHECK`. When its owner dies holding it, the kernel's robust-futex list
//! hands it to the next locker with `EOWNERDEAD`; the lock calls `pthread_mutex_consistent` at
//! once and reports [`RecordGuard::owner_died`] so the caller repairs what the lock protects. A
//! mutex that was unlocked without being made consistent answers `ENOTRECOVERABLE`, which is an
//! error ([`ErrorKind::LockNotRecoverable`]), never a hang. Relocking from the owning thread is
//! `EDEADLK` ([`ErrorKind::Lock`]), never a self-deadlock.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::time::Duration;

use crate::Region;
use crate::error::{ErrorKind, RegionError};

/// A mutex in the mapping. The pointer stays valid while the region (which owns the mapping) is
/// alive; every holder of a `RawLock` holds a reference to its region.
#[derive(Clone, Copy)]
pub(crate) struct RawLock {
    pub(crate) ptr: *mut libc::pthread_mutex_t,
    /// The record's index, `None` for the directory lock (for errors).
    pub(crate) record: Option<usize>,
}

pub(crate) enum Acquired {
    Clean,
    OwnerDied,
}

impl RawLock {
    /// Initialises the mutex in place.
    ///
    /// # Safety
    /// `ptr` points to `MUTEX_AREA` writable, suitably aligned bytes of a live shared mapping, and
    /// no process holds or uses this mutex while it is being initialised.
    pub(crate) unsafe fn init(ptr: *mut libc::pthread_mutex_t) -> Result<(), i32> {
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is writable storage for an attribute object; it is destroyed below.
        unsafe {
            let a = attr.as_mut_ptr();
            let rc = libc::pthread_mutexattr_init(a);
            if rc != 0 {
                return Err(rc);
            }
            let mut rc = libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED);
            if rc == 0 {
                rc = libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST);
            }
            if rc == 0 {
                rc = libc::pthread_mutexattr_settype(a, libc::PTHREAD_MUTEX_ERRORCHECK);
            }
            if rc == 0 {
                std::ptr::write_bytes(ptr.cast::<u8>(), 0, crate::layout::MUTEX_AREA);
                rc = libc::pthread_mutex_init(ptr, a);
            }
            libc::pthread_mutexattr_destroy(a);
            if rc != 0 { Err(rc) } else { Ok(()) }
        }
    }

    fn finish(&self, rc: i32, region: &Region) -> Result<Option<Acquired>, RegionError> {
        match rc {
            0 => Ok(Some(Acquired::Clean)),
            libc::EOWNERDEAD => {
                // SAFETY: this thread now owns the mutex (EOWNERDEAD acquires it); `ptr` is live
                // while `region` is.
                let rc = unsafe { libc::pthread_mutex_consistent(self.ptr) };
                if rc != 0 {
                    // SAFETY: as above, this thread owns the mutex.
                    unsafe { libc::pthread_mutex_unlock(self.ptr) };
                    return Err(self.error(region, rc));
                }
                Ok(Some(Acquired::OwnerDied))
            }
            libc::EBUSY | libc::ETIMEDOUT => Ok(None),
            rc => Err(self.error(region, rc)),
        }
    }

    fn error(&self, region: &Region, rc: i32) -> RegionError {
        let kind = if rc == libc::ENOTRECOVERABLE {
            ErrorKind::LockNotRecoverable { record: self.record }
        } else {
            ErrorKind::Lock { record: self.record, errno: rc }
        };
        RegionError::new(region.path(), kind)
    }

    pub(crate) fn lock(&self, region: &Region) -> Result<Acquired, RegionError> {
        // SAFETY: `ptr` points to an initialised mutex in a mapping kept alive by `region`.
        let rc = unsafe { libc::pthread_mutex_lock(self.ptr) };
        match self.finish(rc, region)? {
            Some(a) => Ok(a),
            None => Err(self.error(region, rc)),
        }
    }

    /// A non-blocking attempt. Not `pthread_mutex_trylock`: glibc's robust trylock, on a mutex
    /// that is not recoverable, returns `ENOTRECOVERABLE` but leaves the lock word owned by the
    /// caller, so every later locker (in any process) would block. A timed lock with a deadline
    /// already past tries once and releases properly on that path.
    pub(crate) fn try_lock(&self, region: &Region) -> Result<Option<Acquired>, RegionError> {
        let past = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: as in `lock`; `past` is a valid timespec.
        let rc = unsafe { libc::pthread_mutex_timedlock(self.ptr, &past) };
        self.finish(rc, region)
    }

    pub(crate) fn lock_timeout(&self, region: &Region, d: Duration) -> Result<Option<Acquired>, RegionError> {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
        let add_secs = libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX / 2);
        let mut nsec = now.tv_nsec + d.subsec_nanos() as libc::c_long;
        let mut sec = now.tv_sec.saturating_add(add_secs);
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec = sec.saturating_add(1);
        }
        let deadline = libc::timespec { tv_sec: sec, tv_nsec: nsec };
        // SAFETY: as in `lock`; `deadline` is a valid timespec.
        let rc = unsafe { libc::pthread_mutex_timedlock(self.ptr, &deadline) };
        self.finish(rc, region)
    }

    pub(crate) fn unlock(&self) {
        // SAFETY: only called by a guard, whose thread owns the mutex.
        unsafe { libc::pthread_mutex_unlock(self.ptr) };
    }
}

/// The robust lock of one record. Obtained from [`Record::mutex`](crate::Record::mutex).
pub struct RecordLock<'r> {
    pub(crate) raw: RawLock,
    pub(crate) region: &'r Region,
    pub(crate) words: &'r [std::sync::atomic::AtomicU64],
}

impl std::fmt::Debug for RecordLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordLock").field("record", &self.raw.record).finish()
    }
}

impl<'r> RecordLock<'r> {
    fn guard(&self, a: Acquired) -> RecordGuard<'r> {
        RecordGuard {
            raw: self.raw,
            owner_died: matches!(a, Acquired::OwnerDied),
            words: self.words,
            _not_send: PhantomData,
        }
    }

    /// Blocks until this thread holds the lock. [`RecordGuard::owner_died`] is true when the
    /// previous owner died holding it: the words may be half-updated and the caller repairs them.
    pub fn lock(&self) -> Result<RecordGuard<'r>, RegionError> {
        let a = self.raw.lock(self.region)?;
        Ok(self.guard(a))
    }

    /// Takes the lock if it is free, `Ok(None)` if another thread or process holds it.
    pub fn try_lock(&self) -> Result<Option<RecordGuard<'r>>, RegionError> {
        Ok(self.raw.try_lock(self.region)?.map(|a| self.guard(a)))
    }

    /// Waits at most about `d` for the lock, `Ok(None)` on time-out.
    pub fn lock_timeout(&self, d: Duration) -> Result<Option<RecordGuard<'r>>, RegionError> {
        Ok(self.raw.lock_timeout(self.region, d)?.map(|a| self.guard(a)))
    }

    /// Test support: takes the lock and, if its owner died, releases it **without** making it
    /// consistent, which leaves it `ENOTRECOVERABLE` for good. Returns whether the owner had died.
    #[doc(hidden)]
    pub fn poison_for_tests(&self) -> Result<bool, RegionError> {
        // SAFETY: as in `RawLock::lock`.
        let rc = unsafe { libc::pthread_mutex_lock(self.raw.ptr) };
        match rc {
            0 => {
                self.raw.unlock();
                Ok(false)
            }
            libc::EOWNERDEAD => {
                self.raw.unlock();
                Ok(true)
            }
            rc => Err(self.raw.error(self.region, rc)),
        }
    }
}

/// Holds a record's lock; dropping it unlocks. Not `Send`: a pthread mutex is unlocked by the
/// thread that locked it.
pub struct RecordGuard<'r> {
    raw: RawLock,
    owner_died: bool,
    words: &'r [std::sync::atomic::AtomicU64],
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for RecordGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordGuard").field("record", &self.raw.record).field("owner_died", &self.owner_died).finish()
    }
}

impl<'r> RecordGuard<'r> {
    /// True when the previous owner died holding the lock (`EOWNERDEAD`); the lock has been made
    /// consistent and the caller must repair the state it protects.
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// The record's words (the same slice as [`Record::words`](crate::Record::words)).
    pub fn words(&self) -> &'r [std::sync::atomic::AtomicU64] {
        self.words
    }
}

impl Drop for RecordGuard<'_> {
    fn drop(&mut self) {
        self.raw.unlock();
    }
}

/// The directory lock's guard (crate-internal).
pub(crate) struct DirGuard {
    pub(crate) raw: RawLock,
    pub(crate) _not_send: PhantomData<*const ()>,
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        self.raw.unlock();
    }
}
