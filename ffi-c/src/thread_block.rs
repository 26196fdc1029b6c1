//! One thread-local block reached with a single initial-exec access.
//!
//! Rust's `thread_local!` uses the general-dynamic TLS model in a shared library: every access is
//! a call to `__tls_get_addr` (about 10 instructions behind a PLT call), and the C hot path makes
//! one per call. Stable Rust cannot choose the model (`-Z tls-model` is nightly), so on x86-64
//! Linux the block is declared in assembly in `.tbss` and reached the initial-exec way: the
//! thread pointer (`fs:0`) plus an offset the dynamic loader stores in the GOT, two instructions
//! with no call. Linked into an executable (`libcircuit.a`), the linker relaxes it further to a
//! constant offset. Elsewhere it falls back to `thread_local!`.
//!
//! The cost of initial-exec in a shared library: it is flagged `STATIC_TLS`, so a `dlopen` of
//! `libcircuit.so` after program start takes the library's thread-local data (about 400 bytes)
//! from the surplus of static TLS that glibc reserves for this (over 1 KiB; the two handle caches,
//! of breakers and of breakers with a fleet, take about 650 bytes), as libGL and
//! jemalloc do; `tests/c/test_dlopen.c` checks that it loads.
//!
//! The block is zero-initialised, so the type must be valid, and in its initial state, when all
//! its bytes are zero; it has no destructor (a separate guard cleans it up at thread exit).

/// Defines `$vis fn $name() -> *const $ty`, the calling thread's zero-initialised `$ty`, which
/// stays valid for the life of the thread. `$symbol` names the block in the object files (hidden,
/// never exported); `$init` is the zero value, for the `thread_local!` fallback.
macro_rules! thread_block {
    ($(#[$meta:meta])* $vis:vis fn $name:ident() -> $ty:ty = $init:expr; symbol $symbol:literal) => {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        std::arch::global_asm!(
            concat!(".pushsection .tbss.", $symbol, ",\"awT\",@nobits"),
            concat!(".globl ", $symbol),
            concat!(".hidden ", $symbol),
            concat!(".type ", $symbol, ",@object"),
            ".p2align 6",
            concat!($symbol, ":"),
            ".zero {size}",
            concat!(".size ", $symbol, ", {size}"),
            ".popsection",
            size = const std::mem::size_of::<$ty>(),
        );

        // `$init` is what the zeroed block holds (and is used by the fallback only).
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        const _: $ty = $init;

        $(#[$meta])*
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        #[inline(always)]
        $vis fn $name() -> *const $ty {
            const { assert!(std::mem::align_of::<$ty>() <= 64) };
            let block: *const $ty;
            // SAFETY: reads the thread pointer and the block's TLS offset (from the GOT); no
            // memory is written, no stack used. The block is `size_of::<$ty>()` bytes, 64-aligned.
            unsafe {
                std::arch::asm!(
                    "mov {block}, qword ptr fs:[0]",
                    concat!("add {block}, qword ptr [rip + ", $symbol, "@GOTTPOFF]"),
                    block = out(reg) block,
                    options(pure, readonly, nostack),
                );
            }
            block
        }

        $(#[$meta])*
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        #[inline(always)]
        $vis fn $name() -> *const $ty {
            thread_local! {
                static BLOCK: $ty = const { $init };
            }
            // A thread-local without a destructor is never torn down: `with` cannot fail.
            BLOCK.with(|block| block as *const $ty)
        }
    };
}
pub(crate) use thread_block;

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    thread_block! {
        fn counter() -> Cell<u64> = Cell::new(0); symbol "circuit_ffi_test_counter"
    }

    fn bump() -> u64 {
        // SAFETY: the calling thread's block, valid for the life of the thread.
        let cell = unsafe { &*counter() };
        cell.set(cell.get() + 1);
        cell.get()
    }

    #[test]
    fn each_thread_has_its_own_zeroed_block() {
        let here = (bump(), bump());
        let there = std::thread::spawn(|| (bump(), bump(), counter() as usize)).join().unwrap();
        assert_eq!((here.1 - here.0, there.0, there.1), (1, 1, 2), "a new thread starts from zero");
        assert_ne!(there.2, counter() as usize, "threads get different blocks");
        assert_eq!(counter() as usize % 64, 0, "the block is 64-byte aligned");
    }
}
