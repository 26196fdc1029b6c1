//! Integer handles for breakers and clocks.
//!
//! A handle is `sequence << 24 | slot index`. The sequence comes from one process-wide counter
//! that starts at 1 and never repeats, so a handle value is never reused for the life of the
//! process, and 0 is never a handle. A slot records the sequence of the object it holds (0 when
//! empty): a zero, destroyed, forged or other-kind handle does not match and is refused with
//! `CIRCUIT_ERR_INVALID_HANDLE` without touching memory it does not own.
//!
//! **Destroy racing calls.** Objects are reference counted (`Arc`). A call validates the handle,
//! then works on a reference it holds, so a concurrent `destroy` can never free the object under
//! it: the call completes as if it had happened just before the destroy (`CIRCUIT_OK`), and every
//! call that validates after the destroy gets `CIRCUIT_ERR_INVALID_HANDLE`.
//!
//! **Hot path.** Cloning an `Arc` costs two contended atomic read-modify-writes per call, more
//! than the engine's whole closed-state path. So each thread keeps a small cache of the breakers
//! it used recently (handle plus `Arc`). A call then costs one shared *read* of the slot's
//! sequence (to see a destroy from another thread) and a thread-local lookup. The cache is only
//! touched by the outermost library call of a thread (a listener calling back into the library
//! takes the slow, locked path), so an entry cannot be evicted while a call is using it. A
//! destroyed breaker's memory is released when the destroying thread returns from
//! `circuit_destroy`, or, if other threads cached it, when they next use that handle, use another
//! handle in the same cache way, or exit.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

const INDEX_BITS: u32 = 24;
const CHUNK_BITS: u32 = 12;
const CHUNK_SIZE: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = 1 << (INDEX_BITS - CHUNK_BITS);
/// Most objects of one kind alive at once.
pub(crate) const MAX_LIVE: usize = 1 << INDEX_BITS;

static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(1);

struct Slot<T> {
    sequence: AtomicU64,
    object: Mutex<Option<Arc<T>>>,
}

/// A lazily allocated block of `CHUNK_SIZE` slots.
type Chunk<T> = OnceLock<Box<[Slot<T>]>>;

/// A table of live objects of one kind.
pub(crate) struct Table<T> {
    chunks: OnceLock<Box<[Chunk<T>]>>,
    free: Mutex<FreeList>,
}

#[derive(Default)]
struct FreeList {
    indices: Vec<u32>,
    next: u32,
}

fn split(handle: u64) -> (usize, u64) {
    ((handle & ((1 << INDEX_BITS) - 1)) as usize, handle >> INDEX_BITS)
}

impl<T> Table<T> {
    pub(crate) const fn new() -> Self {
        Self { chunks: OnceLock::new(), free: Mutex::new(FreeList { indices: Vec::new(), next: 0 }) }
    }

    fn chunks(&self) -> &[Chunk<T>] {
        self.chunks.get_or_init(|| (0..CHUNKS).map(|_| OnceLock::new()).collect())
    }

    fn slot(&self, index: usize) -> Option<&Slot<T>> {
        self.chunks().get(index >> CHUNK_BITS)?.get().map(|chunk| &chunk[index & (CHUNK_SIZE - 1)])
    }

    /// Stores `object` and returns its new handle, or `None` when the table is full.
    pub(crate) fn insert(&self, object: Arc<T>) -> Option<u64> {
        let index = {
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            match free.indices.pop() {
                Some(index) => index,
                None if (free.next as usize) < MAX_LIVE => {
                    free.next += 1;
                    free.next - 1
                }
                None => return None,
            }
        } as usize;
        let chunk = self.chunks()[index >> CHUNK_BITS].get_or_init(|| {
            (0..CHUNK_SIZE).map(|_| Slot { sequence: AtomicU64::new(0), object: Mutex::new(None) }).collect()
        });
        let slot = &chunk[index & (CHUNK_SIZE - 1)];
        let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let mut guard = slot.object.lock().unwrap_or_else(PoisonError::into_inner);
        *guard = Some(object);
        slot.sequence.store(sequence, Ordering::Release);
        Some((sequence << INDEX_BITS) | index as u64)
    }

    /// Whether `handle` names a live object right now (one shared read, no lock).
    #[inline]
    pub(crate) fn is_live(&self, handle: u64) -> bool {
        let (index, sequence) = split(handle);
        sequence != 0 && self.slot(index).is_some_and(|s| s.sequence.load(Ordering::Acquire) == sequence)
    }

    /// A counted reference to the live object named by `handle`.
    pub(crate) fn get(&self, handle: u64) -> Option<Arc<T>> {
        let (index, sequence) = split(handle);
        if sequence == 0 {
            return None;
        }
        let slot = self.slot(index)?;
        let guard = slot.object.lock().unwrap_or_else(PoisonError::into_inner);
        (slot.sequence.load(Ordering::Acquire) == sequence).then(|| guard.clone()).flatten()
    }

    /// Removes the object; `None` if `handle` was not live (already destroyed, forged, zero).
    pub(crate) fn remove(&self, handle: u64) -> Option<Arc<T>> {
        let (index, sequence) = split(handle);
        if sequence == 0 {
            return None;
        }
        let slot = self.slot(index)?;
        let taken = {
            let mut guard = slot.object.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.sequence.load(Ordering::Acquire) != sequence {
                return None;
            }
            slot.sequence.store(0, Ordering::Release);
            guard.take()
        };
        self.free.lock().unwrap_or_else(PoisonError::into_inner).indices.push(index as u32);
        taken
    }
}

/// Per-thread cache of recently used objects (see the module documentation).
pub(crate) struct Cache<T: 'static> {
    depth: Cell<u32>,
    keys: [Cell<u64>; WAYS],
    values: [UnsafeCell<Option<Arc<T>>>; WAYS],
}

const WAYS: usize = 8;

impl<T> Cache<T> {
    pub(crate) const fn new() -> Self {
        Self {
            depth: Cell::new(0),
            keys: [const { Cell::new(0) }; WAYS],
            values: [const { UnsafeCell::new(None) }; WAYS],
        }
    }
}

/// Runs `f` on the live object named by `handle`, or returns `None` if the handle is not live.
pub(crate) fn with_object<T: 'static, R>(
    table: &'static Table<T>,
    cache: &'static std::thread::LocalKey<Cache<T>>,
    handle: u64,
    f: impl FnOnce(&T) -> R,
) -> Option<R> {
    if !table.is_live(handle) {
        evict(cache, handle);
        return None;
    }
    let cached: Option<*const T> = cache
        .try_with(|c| {
            if c.depth.get() != 0 {
                return None;
            }
            let way = (handle as usize) % WAYS;
            if c.keys[way].get() != handle {
                let object = table.get(handle)?;
                c.keys[way].set(0);
                // SAFETY: depth is 0, so no library call on this thread holds a pointer into this
                // way; the cell is only ever accessed from this thread.
                unsafe { *c.values[way].get() = Some(object) };
                c.keys[way].set(handle);
            }
            // SAFETY: as above; the Arc stays in the cell until depth returns to 0.
            let object = unsafe { (*c.values[way].get()).as_deref() }?;
            c.depth.set(1);
            Some(object as *const T)
        })
        .ok()
        .flatten();
    match cached {
        Some(object) => {
            struct Leave<T: 'static>(&'static std::thread::LocalKey<Cache<T>>);
            impl<T> Drop for Leave<T> {
                fn drop(&mut self) {
                    let _ = self.0.try_with(|c| c.depth.set(0));
                }
            }
            let _leave = Leave(cache);
            // SAFETY: the cache entry holding this Arc cannot be replaced or dropped while depth
            // is 1 (only depth-0 code writes the cache, and thread-local destructors do not run
            // while this thread is inside a call).
            Some(f(unsafe { &*object }))
        }
        None => table.get(handle).map(|object| f(&object)),
    }
}

/// Drops this thread's cached reference to `handle`, if any and if no call is in progress.
pub(crate) fn evict<T: 'static>(cache: &'static std::thread::LocalKey<Cache<T>>, handle: u64) {
    let _ = cache.try_with(|c| {
        let way = (handle as usize) % WAYS;
        if c.depth.get() == 0 && c.keys[way].get() == handle {
            c.keys[way].set(0);
            // SAFETY: depth is 0, so nothing on this thread points into this way.
            let old = unsafe { (*c.values[way].get()).take() };
            drop(old);
        }
    });
}
