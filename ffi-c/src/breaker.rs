//! The breaker handle: create, destroy, state, manual control, and the handle lookups the other
//! modules use. Every behaviour comes from the engine; the C modules only translate.

use std::sync::Arc;

use engine::CircuitBreaker;
use engine::host::ThreadSlot;

use crate::config::circuit_config;

use crate::fleet::FleetBreaker;
use crate::handle::{Cache, CacheOf, HANDLE_TAG, SEQUENCE_TAG, Table, evict, with_object};
use crate::status::*;
use crate::thread_block::thread_block;
use crate::types::*;

/// Every live breaker without a fleet, by handle. The table holds the core's breaker itself (no
/// wrapper): a call on a cached breaker checks its handle against the table slot's sequence.
pub(crate) static BREAKERS: Table<CircuitBreaker> = Table::new();
/// Every live breaker with a fleet (`circuit_config_set_fleet`), with its fleet. Its handles have
/// `HANDLE_TAG` set, so `with_breaker_on` picks the table from the handle alone, and a breaker
/// without a fleet pays nothing for the feature (no lookup, no lock).
pub(crate) static FLEET_BREAKERS: Table<FleetBreaker> = Table::tagged(SEQUENCE_TAG);
thread_block! {
    /// This thread's cache of breakers (`handle::Cache`).
    fn cache() -> Cache<CircuitBreaker> = Cache::new(); symbol "circuit_ffi_breaker_cache"
}
thread_block! {
    /// This thread's cache of breakers with a fleet: reached like the other one, in two
    /// instructions (an ordinary thread-local cost a closure call and a lazy-state check on
    /// every call of a fleet breaker).
    fn fleet_cache() -> Cache<FleetBreaker> = Cache::new(); symbol "circuit_ffi_fleet_breaker_cache"
}
thread_local! {
    static CACHE_RELEASE: CacheRelease<CircuitBreaker> = const { CacheRelease(cache) };
    static FLEET_CACHE_RELEASE: CacheRelease<FleetBreaker> = const { CacheRelease(fleet_cache) };
}

/// Releases this thread's cached breakers when the thread exits.
struct CacheRelease<T: 'static>(CacheOf<T>);

impl<T> Drop for CacheRelease<T> {
    fn drop(&mut self) {
        // SAFETY: this thread's cache, valid for the life of the thread.
        unsafe { &*(self.0)() }.release_all();
    }
}

/// Makes sure the release guard is registered; false while the thread is being torn down.
fn register_release() -> bool {
    CACHE_RELEASE.try_with(|_| ()).is_ok()
}

fn register_fleet_release() -> bool {
    FLEET_CACHE_RELEASE.try_with(|_| ()).is_ok()
}

#[cold]
#[inline(never)]
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
    with_breaker_on(function, breaker, f, |b, _, _, f| f(b))
}

/// Runs `f(breaker, slot, handle, args)` on the live breaker with the thread's engine counter
/// slot, or reports `CIRCUIT_ERR_INVALID_HANDLE`. For hot paths: `f` should capture nothing and
/// take the call's data as `args`, at most two words so that they travel in registers (see
/// `handle::with_object`). A breaker with a fleet is found in its own table (out of line).
#[inline(always)]
pub(crate) fn with_breaker_on<A, F>(function: &'static str, breaker: circuit_breaker, args: A, f: F) -> circuit_status
where
    F: FnOnce(&CircuitBreaker, ThreadSlot, circuit_breaker, A) -> circuit_status,
{
    if breaker & HANDLE_TAG != 0 {
        return with_fleet_member_breaker(function, breaker, args, f);
    }
    with_object(&BREAKERS, cache, register_release, breaker, args, f).unwrap_or_else(|| invalid(function, breaker))
}

#[inline(never)]
fn with_fleet_member_breaker<A, F>(function: &'static str, breaker: circuit_breaker, args: A, f: F) -> circuit_status
where
    F: FnOnce(&CircuitBreaker, ThreadSlot, circuit_breaker, A) -> circuit_status,
{
    with_fleet_breaker(function, breaker, (f, args), |entry, slot, handle, (f, args)| {
        f(&entry.breaker, slot, handle, args)
    })
}

/// Runs `f(entry, slot, handle, args)` on the live breaker with a fleet named by `breaker`, or
/// reports `CIRCUIT_ERR_INVALID_HANDLE` (also for a handle of a breaker without a fleet).
#[inline]
pub(crate) fn with_fleet_breaker<A>(
    function: &'static str,
    breaker: circuit_breaker,
    args: A,
    f: impl FnOnce(&FleetBreaker, ThreadSlot, circuit_breaker, A) -> circuit_status,
) -> circuit_status {
    with_object(&FLEET_BREAKERS, fleet_cache, register_fleet_release, breaker, args, f)
        .unwrap_or_else(|| invalid(function, breaker))
}

/// Creates a breaker from `config` (which is not consumed and may be reused or freed afterwards)
/// and writes its handle to `*out_breaker`.
///
/// With a region (`circuit_config_set_region`) it creates or joins the breaker of the config's
/// name in the region, shared by every process that does the same.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_CONFIG` (the message names the option and the
/// reason; nothing is created and `*out_breaker` is untouched); `CIRCUIT_ERR_REGION` (the region
/// refused the breaker: no name, the region is full, or the breaker exists there with other
/// options, each named in the message); `CIRCUIT_ERR_NULL_POINTER`.
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
        let breaker = match (&config.region, &config.clock) {
            (Some(_), Some(_)) => {
                return fail(
                    CIRCUIT_ERR_INVALID_CONFIG,
                    "circuit_create: a breaker in a region runs on the region's clock; do not also set a manual clock",
                );
            }
            (Some(region), None) => match crate::region::create_in(region, built) {
                Ok(breaker) => breaker,
                Err(status) => return status,
            },
            (None, Some(clock)) => CircuitBreaker::with_clock(built, clock.clone()),
            (None, None) => CircuitBreaker::new(built),
        };
        let breaker = Arc::new(breaker);
        let fleet = match (&config.fleet, &config.fleet_set) {
            (Some(fleet), _) => Some(Arc::clone(fleet)),
            (None, Some(set)) => {
                let Some(name) = breaker.name() else {
                    return fail(
                        CIRCUIT_ERR_INVALID_CONFIG,
                        "circuit_create: a breaker with a fleet set needs a name (its fleet breaker is the set's of that name)",
                    );
                };
                match set.member(name) {
                    Some(fleet) => Some(fleet),
                    None => return fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_create: too many live fleets"),
                }
            }
            (None, None) => None,
        };
        let inserted = match fleet {
            Some(fleet) => {
                // The fleet's deltas come from this breaker's own counters (the first breaker of
                // a fleet; any other made from the same config keeps the fleet's tally).
                let _ = fleet.fleet.attach(&breaker);
                FLEET_BREAKERS.insert(Arc::new(FleetBreaker { breaker, fleet }))
            }
            None => BREAKERS.insert(breaker),
        };
        match inserted {
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
/// so every listener's `userdata` may be freed. For a family member's handle
/// (`circuit_family_get`) it only releases the handle: the member lives on in the family, with
/// the listeners added through the handle (remove them first with `circuit_remove_listener`).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_destroy(breaker: circuit_breaker) -> circuit_status {
    guard("circuit_destroy", || match remove(breaker) {
        Some(removed) => {
            // Other threads' caches may keep the breaker until they next touch that cache way:
            // free its heavy parts (a count window can take a megabyte) now. Not for a family
            // member's handle: the family and other handles keep using the member.
            if !crate::family::take_member_handle(breaker) {
                removed.retire();
            }
            if breaker & HANDLE_TAG != 0 {
                evict(fleet_cache, breaker);
            } else {
                evict(cache, breaker);
            }
            drop(removed);
            CIRCUIT_OK
        }
        None => invalid("circuit_destroy", breaker),
    })
}

/// Takes the breaker named by `breaker` out of its table.
fn remove(breaker: circuit_breaker) -> Option<Arc<CircuitBreaker>> {
    if breaker & HANDLE_TAG != 0 {
        FLEET_BREAKERS.remove(breaker).map(|entry| Arc::clone(&entry.breaker))
    } else {
        BREAKERS.remove(breaker)
    }
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

/// Copies the breaker's name (empty if it has none; a family member's is `<family name>/<key>`,
/// the overflow breaker's `<family name>/(overflow)`) into `buffer`, truncated to
/// `buffer_len - 1` bytes and NUL-terminated, and writes its full length in bytes (excluding the
/// NUL) to `*out_len` if it is not NULL, like `snprintf`. `buffer` may be NULL when `buffer_len` is
/// 0 (to ask for the length). A name is UTF-8 and may contain NUL bytes only if the configuration
/// gave it some: trust `*out_len`, not `strlen`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER` (`buffer` NULL
/// with a nonzero `buffer_len`).
///
/// # Safety
/// `buffer` is NULL or points to `buffer_len` writable bytes; `out_len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_name(
    breaker: circuit_breaker,
    buffer: *mut std::ffi::c_char,
    buffer_len: usize,
    out_len: *mut usize,
) -> circuit_status {
    guard("circuit_name", || {
        if buffer.is_null() && buffer_len > 0 {
            return fail(CIRCUIT_ERR_NULL_POINTER, format!("circuit_name: `buffer` is NULL with length {buffer_len}"));
        }
        with_breaker("circuit_name", breaker, |b| {
            let name = b.name().unwrap_or("");
            if buffer_len > 0 {
                let n = name.len().min(buffer_len - 1);
                // SAFETY: buffer has buffer_len writable bytes per the contract; n < buffer_len.
                unsafe {
                    std::ptr::copy_nonoverlapping(name.as_ptr(), buffer.cast::<u8>(), n);
                    buffer.add(n).write(0);
                }
            }
            if !out_len.is_null() {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_len.write(name.len()) };
            }
            CIRCUIT_OK
        })
    })
}
