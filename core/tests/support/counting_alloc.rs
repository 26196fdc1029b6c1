//! A global allocator that counts, per thread, the allocations and the live heap bytes of the
//! calling thread, on top of the system allocator. Counting per thread keeps the test harness's
//! other threads (and other tests running in parallel) out of a measurement.
//!
//! Used by `tests/alloc.rs` (no allocation on the closed path, bytes per breaker) and by
//! `benches/memory.rs` (the bytes per breaker reported by `make bench`); each installs it with
//! `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct CountingAlloc;

thread_local! {
    // `const` initialisers without destructors: reading them never allocates or registers anything.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn note(allocations: u64, bytes: i64) {
    // `try_with`: an allocation during thread teardown, after the cells are gone, is not counted.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + allocations));
    let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counting
// touches only this thread's `Cell`s, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -(layout.size() as i64));
        // SAFETY: `ptr` was returned by `System` for this `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, new_size as i64 - layout.size() as i64);
        // SAFETY: as for `dealloc`; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What the calling thread allocated while `f` ran: the number of allocations (a `realloc`
/// counts as one) and the heap bytes still live when it returned, with `f`'s result.
pub fn counting<T>(f: impl FnOnce() -> T) -> (u64, i64, T) {
    let (allocations, bytes) = (ALLOCATIONS.with(Cell::get), LIVE_BYTES.with(Cell::get));
    let result = f();
    (ALLOCATIONS.with(Cell::get) - allocations, LIVE_BYTES.with(Cell::get) - bytes, result)
}
