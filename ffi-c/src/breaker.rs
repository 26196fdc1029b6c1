//! The breaker handle: create, destroy, state, manual control, and the handle lookups the other
//! modules use. Every behaviour comes from the engine; the C modules only translate.

use engine::CircuitBreaker;
use engine::host::ThreadSlot;

use crate::config::circuit_config;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::handle::{Alive, Cache, Table, evict, with_object};
use crate::status::*;
use crate::types::*;

#[repr(C)]
pub(crate) struct Entry {
    /// Cleared by `circuit_destroy`; checked by every call that finds the entry in its cache.
    /// First, so that it shares a cache line with the start of the breaker.
    alive: AtomicBool,
    pub(crate) breaker: CircuitBreaker,
}

impl Alive for Entry {
    #[inline(always)]
    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

pub(crate) static BREAKERS: Table<Entry> = Table::new();
thread_local! {
    static CACHE: Cache<Entry> = const { Cache::new() };
    static CACHE_RELEASE: CacheRelease = const { CacheRelease };
}

/// Releases this thread's cached breakers when the thread exits.
struct CacheRelease;

impl Drop for CacheRelease {
    fn drop(&mut self) {
        let _ = CACHE.try_with(Cache::release_all);
    }
}

/// Makes sure the release guard is registered; false while the thread is being torn down.
fn register_release() -> bool {
    CACHE_RELEASE.try_with(|_| ()).is_ok()
}

fn invalid(function: &str, breaker: circuit_breaker) -> circuit_status {
    fail(CIRCUIT_ERR_INVALID_HANDLE, format!("{function}: {breaker} is not a live breaker handle"))
}

/// Runs `f` on the live breaker, or reports `CIRCUIT_ERR_INVALID_HANDLE`.
#[inline]
pub(crate) fn with_breaker(
    function: &'static str,
    breaker: circuit_breaker,
    f: impl FnOnce(&CircuitBreaker) -> circuit_status,
) -> circuit_status {
    with_breaker_on(function, breaker, |b, _| f(b))
}

/// Like `with_breaker`, also handing over the thread's engine counter slot (hot paths).
#[inline(always)]
pub(crate) fn with_breaker_on(
    function: &'static str,
    breaker: circuit_breaker,
    f: impl FnOnce(&CircuitBreaker, ThreadSlot) -> circuit_status,
) -> circuit_status {
    with_object(&BREAKERS, &CACHE, register_release, breaker, |entry, slot| f(&entry.breaker, slot))
        .unwrap_or_else(|| invalid(function, breaker))
}

/// Creates a breaker from `config` (which is not consumed and may be reused or freed afterwards)
/// and writes its handle to `*out_breaker`.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_CONFIG` (the message names the option and the
/// reason; nothing is created and `*out_breaker` is untouched); `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`; `out_breaker` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_create(
    config: *const circuit_config,
    out_breaker: *mut circuit_breaker,
) -> circuit_status {
    guard("circuit_create", || {
        non_null!("circuit_create", config, out_breaker);
        // SAFETY: non-null and live per the contract.
        let config = unsafe { &*config };
        let built = match config.builder.clone().build() {
            Ok(built) => built,
            Err(e) => return fail(CIRCUIT_ERR_INVALID_CONFIG, format!("circuit_create: {e}")),
        };
        let breaker = match &config.clock {
            Some(clock) => CircuitBreaker::with_clock(built, clock.clone()),
            None => CircuitBreaker::new(built),
        };
        match BREAKERS.insert(std::sync::Arc::new(Entry { breaker, alive: AtomicBool::new(true) })) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_breaker.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_create: too many live breakers"),
        }
    })
}

/// Destroys a breaker. Calls on other threads that already validated the handle complete
/// normally; every later call with the handle returns `CIRCUIT_ERR_INVALID_HANDLE`, and so does
/// a second destroy. Once `circuit_destroy` returns, no listener of this breaker is called again
/// (it waits for a listener call in progress on another thread, like `circuit_remove_listener`),
/// so every listener's `userdata` may be freed.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_destroy(breaker: circuit_breaker) -> circuit_status {
    guard("circuit_destroy", || match BREAKERS.remove(breaker) {
        Some(entry) => {
            entry.alive.store(false, Ordering::Release);
            // Other threads' caches may keep the entry until they next touch that cache way:
            // free its heavy parts (a count window can take a megabyte) now.
            entry.breaker.retire();
            evict(&CACHE, breaker);
            drop(entry);
            CIRCUIT_OK
        }
        None => invalid("circuit_destroy", breaker),
    })
}

/// Writes the current state (due time-driven transitions applied first) to `*out_state`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_state` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_state(
    breaker: circuit_breaker,
    out_state: *mut circuit_breaker_state,
) -> circuit_status {
    guard("circuit_state", || {
        non_null!("circuit_state", out_state);
        with_breaker("circuit_state", breaker, |b| {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_state.write(b.state().into()) };
            CIRCUIT_OK
        })
    })
}

/// Writes the instant (ns on the breaker's clock) of the next time-driven transition to
/// `*out_at_ns`, or `CIRCUIT_NO_TIME` if none is scheduled.
///
/// # Safety
/// `out_at_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_next_transition_at(breaker: circuit_breaker, out_at_ns: *mut u64) -> circuit_status {
    guard("circuit_next_transition_at", || {
        non_null!("circuit_next_transition_at", out_at_ns);
        with_breaker("circuit_next_transition_at", breaker, |b| {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_at_ns.write(b.next_transition_at().map_or(CIRCUIT_NO_TIME, nanos)) };
            CIRCUIT_OK
        })
    })
}

/// Goes to `closed` from any state (new generation, empty window, backoff reset).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_reset(breaker: circuit_breaker) -> circuit_status {
    guard("circuit_reset", || {
        with_breaker("circuit_reset", breaker, |b| {
            b.reset();
            CIRCUIT_OK
        })
    })
}

/// Goes to `forced_open` (rejects everything until reset or disable). No-op if already there.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_force_open(breaker: circuit_breaker) -> circuit_status {
    guard("circuit_force_open", || {
        with_breaker("circuit_force_open", breaker, |b| {
            b.force_open();
            CIRCUIT_OK
        })
    })
}

/// Goes to `disabled` (admits everything, never trips). No-op if already there.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_disable(breaker: circuit_breaker) -> circuit_status {
    guard("circuit_disable", || {
        with_breaker("circuit_disable", breaker, |b| {
            b.disable();
            CIRCUIT_OK
        })
    })
}
