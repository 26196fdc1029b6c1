//! The only door to concurrency primitives in the engine.
//!
//! Every atomic and lock the engine uses comes from here, so that `--cfg loom` can swap the
//! standard library for [loom](https://docs.rs/loom)'s model-checked versions (the pattern tokio
//! and crossbeam use). Nothing outside this module imports `std::sync` directly, except `Arc`
//! for immutable sharing.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Identifies a live thread (a loom thread under loom).
#[cfg(not(loom))]
pub(crate) type ThreadId = usize;
#[cfg(loom)]
pub(crate) use loom::thread::ThreadId;

/// The calling thread's id: the address of a thread-local byte, unique among live threads. Unlike
/// `std::thread::current()` it allocates nothing and works in thread-local destructors.
#[cfg(not(loom))]
pub(crate) fn current_thread_id() -> ThreadId {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|mark| std::ptr::from_ref(mark) as usize)
}

/// The calling loom thread's id.
#[cfg(loom)]
pub(crate) fn current_thread_id() -> ThreadId {
    loom::thread::current().id()
}

/// A mutual-exclusion lock that ignores poisoning.
///
/// No user code ever runs while one of the engine's locks is held (listeners are called after the
/// guard is dropped), so a poisoned lock can only come from a bug inside a tiny critical section
/// that never leaves the data half-updated in a way later code relies on; refusing to continue
/// would turn one panic into a permanently broken breaker.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: std::sync::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: std::sync::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        #[cfg(loom)]
        {
            self.inner.lock().unwrap()
        }
    }
}

/// The index of the counter stripe this thread owns exclusively, if it owns one.
///
/// The first [`EXCLUSIVE_SLOTS`] threads that touch any breaker each receive a process-wide slot
/// number; a thread that exits gives its number back (through a mutex, so the next owner sees every
/// write of the previous one). A thread with a slot is the only writer of stripe `slot` in every
/// breaker, so it can bump its counters with a plain load and store instead of a locked
/// read-modify-write. Threads beyond the first [`EXCLUSIVE_SLOTS`] share one stripe and use
/// `fetch_add`. Under loom the first two threads of an execution get a slot.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn exclusive_slot() -> Option<usize> {
    let slot = slots::SLOT.with(std::cell::Cell::get);
    if slot < EXCLUSIVE_SLOTS { Some(slot) } else { first_use(slot) }
}

#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn first_use(slot: usize) -> Option<usize> {
    if slot == slots::NONE {
        return None;
    }
    let claimed = slots::claim();
    slots::SLOT.with(|cell| cell.set(claimed.unwrap_or(slots::NONE)));
    claimed
}

/// Under loom the first [`EXCLUSIVE_SLOTS`] loom threads of an execution that ask get a private
/// slot, the others share, so models exercise private and shared counter stripes and success cells.
#[cfg(loom)]
pub(crate) fn exclusive_slot() -> Option<usize> {
    loom::lazy_static! {
        static ref NEXT: loom::sync::atomic::AtomicUsize = loom::sync::atomic::AtomicUsize::new(0);
    }
    loom::thread_local! {
        static SLOT: std::cell::Cell<Option<Option<usize>>> = std::cell::Cell::new(None);
    }
    SLOT.with(|cell| match cell.get() {
        Some(slot) => slot,
        None => {
            let next = NEXT.fetch_add(1, Ordering::Relaxed);
            let slot = (next < EXCLUSIVE_SLOTS).then_some(next);
            cell.set(Some(slot));
            slot
        }
    })
}

/// How many threads can own a private counter stripe at once.
#[cfg(not(loom))]
pub(crate) const EXCLUSIVE_SLOTS: usize = 16;
/// Under loom two threads own a private stripe and the others share one.
#[cfg(loom)]
pub(crate) const EXCLUSIVE_SLOTS: usize = 2;

#[cfg(not(loom))]
mod slots {
    use super::EXCLUSIVE_SLOTS;
    use std::cell::Cell;
    use std::sync::Mutex;

    pub(super) const UNSET: usize = usize::MAX;
    pub(super) const NONE: usize = usize::MAX - 1;

    thread_local! {
        pub(super) static SLOT: Cell<usize> = const { Cell::new(UNSET) };
    }

    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    static NEXT: Mutex<usize> = Mutex::new(0);

    /// Gives the slot back when the owning thread exits.
    struct Release(usize);

    impl Drop for Release {
        fn drop(&mut self) {
            // Later thread-local destructors of this thread must not write the stripe any more.
            let _ = SLOT.try_with(|cell| cell.set(NONE));
            let mut free = FREE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            free.push(self.0);
        }
    }

    thread_local! {
        static RELEASE: std::cell::RefCell<Option<Release>> = const { std::cell::RefCell::new(None) };
    }

    pub(super) fn claim() -> Option<usize> {
        let reused = FREE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let slot = reused.or_else(|| {
            let mut next = NEXT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (*next < EXCLUSIVE_SLOTS).then(|| {
                *next += 1;
                *next - 1
            })
        })?;
        // If the thread is already being torn down the destructor cannot be registered: then the
        // thread keeps using the shared stripe and the slot simply stays unused.
        let registered = RELEASE.try_with(|cell| *cell.borrow_mut() = Some(Release(slot))).is_ok();
        if registered {
            Some(slot)
        } else {
            FREE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(slot);
            None
        }
    }
}
