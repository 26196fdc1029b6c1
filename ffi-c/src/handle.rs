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
//! it used recently (handle plus `Arc`). A call then costs a thread-local lookup and one shared
//! *read* of the object's `alive` flag (cleared by a destroy on any thread; it sits next to the
//! breaker the call reads anyway). The cache is only
//! touched by the outermost library call of a thread (a listener calling back into the library
//! takes the slow, locked path), so an entry cannot be evicted while a call is using it. A
//! destroyed breaker's memory is released when the destroying thread returns from
//! `circuit_destroy`, or, if other threads cached it, when they next use that handle, use another
//! handle in the same cache way, or exit; until then such a cache holds only the breaker's fixed
//! part (a few hundred bytes): `circuit_destroy` frees its window, probe table and listeners at
//! once (`CircuitBreaker::retire`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use engine::host::ThreadSlot;

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

/// Objects that can say whether they were destroyed (read on the cache's hit path: one load
/// from memory the call touches anyway).
pub(crate) trait Alive {
    fn is_alive(&self) -> bool;
}

/// Per-thread cache of recently used objects (see the module documentation).
///
/// It has no destructor of its own, so that a thread-local access is a plain load with no
/// "initialised / destroyed" check (that check is measurable on a 10 ns path). Each non-null
/// `values` entry owns one strong count (`Arc::into_raw`); a separate thread-local guard, registered
/// before the first entry is stored, releases them when the thread exits (`Cache::release_all`).
pub(crate) struct Cache<T: 'static> {
    depth: Cell<u32>,
    /// The engine's counter stripe for this thread, looked up once.
    slot: Cell<Option<ThreadSlot>>,
    keys: [Cell<u64>; WAYS],
    values: [Cell<*const T>; WAYS],
}

const WAYS: usize = 8;
/// `depth` value of a cache whose thread is exiting: never used again.
const CLOSED: u32 = u32::MAX;

impl<T> Cache<T> {
    pub(crate) const fn new() -> Self {
        Self {
            depth: Cell::new(0),
            slot: Cell::new(None),
            keys: [const { Cell::new(0) }; WAYS],
            values: [const { Cell::new(std::ptr::null()) }; WAYS],
        }
    }

    /// Replaces the object cached in `way` (dropping the previous one's count). Depth must be 0.
    fn store(&self, way: usize, key: u64, object: Option<Arc<T>>) {
        self.keys[way].set(0);
        let old = self.values[way].replace(object.map_or(std::ptr::null(), Arc::into_raw));
        if !old.is_null() {
            // SAFETY: a non-null entry owns one strong count taken by Arc::into_raw above, and
            // depth is 0, so no call on this thread is using the object.
            drop(unsafe { Arc::from_raw(old) });
        }
        self.keys[way].set(key);
    }

    /// Releases every cached object and closes the cache for the rest of the thread's life
    /// (thread exit): later calls from other thread-local destructors take the slow path, which
    /// looks up the engine's counter slot afresh instead of using a cached one that the engine
    /// may already have handed back.
    pub(crate) fn release_all(&self) {
        if self.depth.get() == 0 {
            for way in 0..WAYS {
                self.store(way, 0, None);
            }
            self.depth.set(CLOSED);
            self.slot.set(None);
        }
    }
}

/// Runs `f` on the live object named by `handle`, or returns `None` if the handle is not live.
/// One thread-local access on the fast path (in a shared library each access is a call to
/// `__tls_get_addr`, so they are counted).
#[inline(always)]
pub(crate) fn with_object<T: Alive + 'static, R>(
    table: &'static Table<T>,
    cache: &'static std::thread::LocalKey<Cache<T>>,
    register_release: fn() -> bool,
    handle: u64,
    f: impl FnOnce(&T, ThreadSlot) -> R,
) -> Option<R> {
    let mut f = Some(f);
    let outcome = cache.try_with(|c| {
        if c.depth.get() != 0 {
            return None;
        }
        let way = (handle as usize) % WAYS;
        if c.keys[way].get() != handle {
            let object = table.get(handle)?;
            if !register_release() {
                return None; // the thread is exiting: do not cache
            }
            c.store(way, handle, Some(object));
        }
        let pointer = c.values[way].get();
        if pointer.is_null() {
            return None;
        }
        // SAFETY: the entry owns a strong count, and it stays in the cell while depth is 1,
        // because only depth-0 code writes the cache and thread-local destructors cannot run
        // during this call.
        let object: &T = unsafe { &*pointer };
        // Destroyed by another thread since it was cached: the slow path reports it.
        if !object.is_alive() {
            return None;
        }
        struct Leave<'a>(&'a Cell<u32>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.set(0);
            }
        }
        let slot = match c.slot.get() {
            Some(slot) => slot,
            None => {
                let slot = ThreadSlot::current();
                c.slot.set(Some(slot));
                slot
            }
        };
        c.depth.set(1);
        let _leave = Leave(&c.depth);
        f.take().map(|f| f(object, slot))
    });
    match outcome {
        Ok(Some(result)) => Some(result),
        // Re-entrant call (from a listener), thread teardown, not live, or destroyed meanwhile:
        // the slow path validates under the slot's lock.
        _ => {
            let f = f.take()?;
            match table.get(handle) {
                Some(object) => Some(f(&object, ThreadSlot::current())),
                None => {
                    evict(cache, handle);
                    None
                }
            }
        }
    }
}

/// Drops this thread's cached reference to `handle`, if any and if no call is in progress.
pub(crate) fn evict<T: 'static>(cache: &'static std::thread::LocalKey<Cache<T>>, handle: u64) {
    let _ = cache.try_with(|c| {
        let way = (handle as usize) % WAYS;
        if c.depth.get() == 0 && c.keys[way].get() == handle {
            c.store(way, 0, None);
        }
    });
}
