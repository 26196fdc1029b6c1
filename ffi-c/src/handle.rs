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
//! it used recently (handle, `Arc`, and the address of the handle's table slot sequence, which
//! never moves: the table's chunks live as long as the process). A call then costs a thread-local
//! lookup and one shared *read* of that sequence, which a destroy on any thread clears (so no
//! per-breaker flag is needed, and a breaker costs the C ABI no memory beyond its slot and the
//! `Arc` header). The cache is only
//! touched by the outermost library call of a thread (a listener calling back into the library
//! takes the slow, locked path), so an entry cannot be evicted while a call is using it. A
//! destroyed breaker's memory is released when the destroying thread returns from
//! `circuit_destroy`, or, if other threads cached it, when they next use that handle, use another
//! handle in the same cache way, or exit; until then such a cache holds only the breaker's fixed
//! part (under 1 KiB): `circuit_destroy` frees its window, probe table and listeners at
//! once (`CircuitBreaker::retire`).

use std::cell::Cell;
use std::mem::MaybeUninit;
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

/// The sequence bit a tagged table sets (`Table::tagged`): bit 63 of its handles. The process
/// counter would need 2^39 creations to reach it.
pub(crate) const SEQUENCE_TAG: u64 = 1 << (63 - INDEX_BITS);
/// `SEQUENCE_TAG` as it appears in a handle.
pub(crate) const HANDLE_TAG: u64 = SEQUENCE_TAG << INDEX_BITS;

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
    /// OR-ed into every sequence this table hands out, so that its handles are told apart from
    /// other tables' by a bit (`Table::tagged`).
    tag: u64,
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
        Self::tagged(0)
    }

    /// A table whose handles all have `tag << INDEX_BITS` set (`tag` is a sequence bit above any
    /// sequence the process counter reaches: [`SEQUENCE_TAG`]), so that a caller can tell which
    /// table a handle belongs to from the handle alone.
    pub(crate) const fn tagged(tag: u64) -> Self {
        Self { chunks: OnceLock::new(), free: Mutex::new(FreeList { indices: Vec::new(), next: 0 }), tag }
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
        let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed) | self.tag;
        let mut guard = slot.object.lock().unwrap_or_else(PoisonError::into_inner);
        *guard = Some(object);
        slot.sequence.store(sequence, Ordering::Release);
        Some((sequence << INDEX_BITS) | index as u64)
    }

    /// A counted reference to the live object named by `handle`.
    pub(crate) fn get(&self, handle: u64) -> Option<Arc<T>> {
        self.get_with_sequence(handle).map(|(object, _)| object)
    }

    /// Like `get`, also returning the slot's sequence, which stays equal to `handle`'s sequence
    /// ([`is_current`]) until the object is removed.
    pub(crate) fn get_with_sequence(&self, handle: u64) -> Option<(Arc<T>, &AtomicU64)> {
        let (index, sequence) = split(handle);
        if sequence == 0 {
            return None;
        }
        let slot = self.slot(index)?;
        let guard = slot.object.lock().unwrap_or_else(PoisonError::into_inner);
        let object = (slot.sequence.load(Ordering::Acquire) == sequence).then(|| guard.clone()).flatten()?;
        Some((object, &slot.sequence))
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

/// Whether the slot whose sequence is `sequence` still holds the object `handle` names (false
/// once it was removed: the sequence is then 0 or that of a later object).
#[inline(always)]
fn is_current(sequence: &AtomicU64, handle: u64) -> bool {
    sequence.load(Ordering::Acquire) == handle >> INDEX_BITS
}

/// Per-thread cache of recently used objects (see the module documentation).
///
/// It has no destructor of its own, so that a thread-local access is a plain load with no
/// "initialised / destroyed" check (that check is measurable on a 10 ns path), and its initial
/// state is all zero bytes, so that it can live in a zero-initialised block
/// ([`crate::thread_block`]). Each non-null `values` entry owns one strong count
/// (`Arc::into_raw`); a separate thread-local guard, registered before the first entry is stored,
/// releases them when the thread exits (`Cache::release_all`).
pub(crate) struct Cache<T: 'static> {
    depth: Cell<u32>,
    /// Whether `slot` holds the engine's counter stripe for this thread (looked up once).
    has_slot: Cell<bool>,
    slot: Cell<MaybeUninit<ThreadSlot>>,
    keys: [Cell<u64>; WAYS],
    values: [Cell<*const T>; WAYS],
    /// The table slot sequence of each way's handle (non-null with the value).
    sequences: [Cell<*const AtomicU64>; WAYS],
}

/// The calling thread's cache (valid for the life of the thread).
pub(crate) type CacheOf<T> = fn() -> *const Cache<T>;

const WAYS: usize = 8;
/// `depth` value of a cache whose thread is exiting: never used again.
const CLOSED: u32 = u32::MAX;

impl<T> Cache<T> {
    pub(crate) const fn new() -> Self {
        Self {
            depth: Cell::new(0),
            has_slot: Cell::new(false),
            slot: Cell::new(MaybeUninit::zeroed()),
            keys: [const { Cell::new(0) }; WAYS],
            values: [const { Cell::new(std::ptr::null()) }; WAYS],
            sequences: [const { Cell::new(std::ptr::null()) }; WAYS],
        }
    }

    #[inline(always)]
    fn slot(&self) -> Option<ThreadSlot> {
        // SAFETY: `has_slot` is set only after `slot` was written.
        self.has_slot.get().then(|| unsafe { self.slot.get().assume_init() })
    }

    fn set_slot(&self, slot: Option<ThreadSlot>) {
        self.has_slot.set(false);
        if let Some(slot) = slot {
            self.slot.set(MaybeUninit::new(slot));
            self.has_slot.set(true);
        }
    }

    /// Replaces the object cached in `way` (dropping the previous one's count). Depth must be 0.
    fn store(&self, way: usize, key: u64, object: Option<(Arc<T>, &'static AtomicU64)>) {
        self.keys[way].set(0);
        let (object, sequence) = object.map_or((std::ptr::null(), std::ptr::null()), |(object, sequence)| {
            (Arc::into_raw(object), sequence as *const AtomicU64)
        });
        self.sequences[way].set(sequence);
        let old = self.values[way].replace(object);
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
            self.set_slot(None);
        }
    }
}

/// Runs `f(object, slot, handle, args)` on the live object named by `handle`, or returns `None`
/// if the handle is not live.
///
/// Inlined into each exported function. The hit path is one thread-local access (reaching the
/// cache with one initial-exec access, [`crate::thread_block`]), the way's key and the handle's
/// slot sequence, then `f` inlined. Everything else is the out-of-line
/// [`with_object_slow`], with its own copy of `f`. The call's data travels as `args`, not as
/// captures: `f` captures nothing, so the hit path keeps `args` in registers and only the cold
/// branch copies them for the slow call (a capturing closure was spilled to the stack and read
/// back on every call).
#[inline(always)]
pub(crate) fn with_object<T: 'static, A, R>(
    table: &'static Table<T>,
    cache: CacheOf<T>,
    register_release: fn() -> bool,
    handle: u64,
    args: A,
    f: impl FnOnce(&T, ThreadSlot, u64, A) -> R,
) -> Option<R> {
    // SAFETY: the calling thread's cache, valid for the life of the thread.
    let cell = unsafe { &*cache() };
    let way = (handle as usize) % WAYS;
    let (object, sequence) = (cell.values[way].get(), cell.sequences[way].get());
    if cell.depth.get() != 0 || cell.keys[way].get() != handle || object.is_null() {
        return with_object_slow(table, cache, register_release, handle, args, f);
    }
    // Destroyed by another thread since it was cached (the slow path reports it), or the thread's
    // counter slot not looked up yet (it is set with the first entry, so this does not happen).
    // SAFETY: a way with an object has its slot's sequence, which lives as long as the table.
    let (true, Some(slot)) = (is_current(unsafe { &*sequence }, handle), cell.slot()) else {
        return with_object_slow(table, cache, register_release, handle, args, f);
    };
    // SAFETY: a non-null entry owns a strong count, and it stays in the cell while the cache is
    // entered (depth 1), because only depth-0 code writes the cache and thread-local destructors
    // cannot run during a call.
    let object = unsafe { &*object };
    cell.depth.set(1);
    let _leave = Leave(&cell.depth);
    Some(f(object, slot, handle, args))
}

/// Leaves the cache when the call ends, also if it unwinds (the panic boundary is outside).
struct Leave<'a>(&'a Cell<u32>);

impl Drop for Leave<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.set(0);
    }
}

/// Everything but a cache hit. An outermost call on a live thread caches the object and enters
/// the cache like a hit; a re-entrant call (from a listener), a call during thread teardown, or
/// one racing the object's destroy works on a counted reference validated under the slot's lock.
#[cold]
#[inline(never)]
fn with_object_slow<T: 'static, A, R>(
    table: &'static Table<T>,
    cache: CacheOf<T>,
    register_release: fn() -> bool,
    handle: u64,
    args: A,
    f: impl FnOnce(&T, ThreadSlot, u64, A) -> R,
) -> Option<R> {
    let Some((object, sequence)) = table.get_with_sequence(handle) else {
        evict(cache, handle);
        return None;
    };
    // SAFETY: the calling thread's cache, valid for the life of the thread.
    let cell = unsafe { &*cache() };
    if cell.depth.get() != 0 || !is_current(sequence, handle) || !register_release() {
        return Some(f(&object, ThreadSlot::current(), handle, args));
    }
    let slot = match cell.slot() {
        Some(slot) => slot,
        None => {
            let slot = ThreadSlot::current();
            cell.set_slot(Some(slot));
            slot
        }
    };
    cell.store((handle as usize) % WAYS, handle, Some((object.clone(), sequence)));
    cell.depth.set(1);
    let _leave = Leave(&cell.depth);
    Some(f(&object, slot, handle, args))
}

/// Drops this thread's cached reference to `handle`, if any and if no call is in progress.
pub(crate) fn evict<T: 'static>(cache: CacheOf<T>, handle: u64) {
    // SAFETY: the calling thread's cache, valid for the life of the thread.
    let c = unsafe { &*cache() };
    let way = (handle as usize) % WAYS;
    if c.depth.get() == 0 && c.keys[way].get() == handle {
        c.store(way, 0, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zeroed_cache_is_a_new_cache() {
        // The breaker cache lives in a zero-initialised thread-local block (`thread_block`).
        // SAFETY: every field of `Cache` is valid when zeroed (that is what this test checks).
        let zeroed: Cache<u8> = unsafe { MaybeUninit::zeroed().assume_init() };
        let new = Cache::<u8>::new();
        for cache in [&zeroed, &new] {
            assert_eq!(cache.depth.get(), 0);
            assert!(cache.slot().is_none());
            assert!(cache.keys.iter().all(|k| k.get() == 0));
            assert!(cache.values.iter().all(|v| v.get().is_null()));
            assert!(cache.sequences.iter().all(|v| v.get().is_null()));
        }
    }
}
