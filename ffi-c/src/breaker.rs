//! The breaker functions. Every behaviour comes from the engine; this module only translates.

use std::ffi::c_void;

use engine::{CircuitBreaker, Outcome, PermitError, RawPermit, Recorded, RejectReason, ThreadSlot};

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
fn with_breaker(
    function: &'static str,
    breaker: circuit_breaker,
    f: impl FnOnce(&CircuitBreaker) -> circuit_status,
) -> circuit_status {
    with_breaker_on(function, breaker, |b, _| f(b))
}

/// Like `with_breaker`, also handing over the thread's engine counter slot (hot paths).
#[inline(always)]
fn with_breaker_on(
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

/// Asks to make a call.
///
/// Returns `CIRCUIT_OK` and fills `*out_permit`; or a rejection, `CIRCUIT_REJECTED_OPEN`,
/// `CIRCUIT_REJECTED_HALF_OPEN_FULL` or `CIRCUIT_REJECTED_FORCED_OPEN`, leaving `*out_permit`
/// untouched and writing the time until a probe may be admitted to `*out_retry_after_ns` (if not
/// NULL; `CIRCUIT_NO_TIME` when there is none); or `CIRCUIT_ERR_INVALID_HANDLE`,
/// `CIRCUIT_ERR_NULL_POINTER` (`out_permit` NULL).
///
/// # Safety
/// `out_permit` is NULL or writable; `out_retry_after_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_allow(
    breaker: circuit_breaker,
    out_permit: *mut circuit_permit,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    guard("circuit_allow", || {
        non_null!("circuit_allow", out_permit);
        with_breaker_on("circuit_allow", breaker, |b, slot| match b.allow_raw_on(slot) {
            Ok(raw) => {
                let (generation, admitted_at_ns, ticket) = raw.to_parts();
                let flags = if raw.is_probe() { CIRCUIT_PERMIT_PROBE } else { 0 };
                // SAFETY: non-null and writable per the contract.
                unsafe { out_permit.write(circuit_permit { breaker, generation, admitted_at_ns, ticket, flags }) };
                CIRCUIT_OK
            }
            Err(rejected) => {
                if !out_retry_after_ns.is_null() {
                    // SAFETY: non-null and writable per the contract.
                    unsafe { out_retry_after_ns.write(rejected.retry_after().map_or(CIRCUIT_NO_TIME, nanos)) };
                }
                match rejected.reason() {
                    RejectReason::Open => CIRCUIT_REJECTED_OPEN,
                    RejectReason::HalfOpenFull => CIRCUIT_REJECTED_HALF_OPEN_FULL,
                    RejectReason::ForcedOpen => CIRCUIT_REJECTED_FORCED_OPEN,
                }
            }
        })
    })
}

fn record(
    function: &'static str,
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
    outcome: Outcome,
) -> circuit_status {
    guard(function, || {
        non_null!("circuit_record_*", permit);
        // Read the fields through the raw pointer, one at a time (no reference is kept across the
        // engine call, during which listeners run and could legally touch the same struct), and
        // 8 bytes at a time (a merged 16-byte load of fields the caller stored separately stalls
        // on store forwarding).
        // SAFETY: non-null and points to a valid permit per the contract.
        let (flags, issuer, generation, admitted_at, ticket) = unsafe {
            (
                std::ptr::read_volatile(&raw const (*permit).flags),
                std::ptr::read_volatile(&raw const (*permit).breaker),
                std::ptr::read_volatile(&raw const (*permit).generation),
                std::ptr::read_volatile(&raw const (*permit).admitted_at_ns),
                std::ptr::read_volatile(&raw const (*permit).ticket),
            )
        };
        if flags & CIRCUIT_PERMIT_SPENT != 0 {
            return fail(CIRCUIT_ERR_ALREADY_RECORDED, format!("{function}: the permit was already recorded"));
        }
        if issuer != breaker {
            return fail(
                CIRCUIT_ERR_FOREIGN_PERMIT,
                format!("{function}: the permit was issued by breaker {issuer}, not {breaker}"),
            );
        }
        let ticket = if flags & CIRCUIT_PERMIT_PROBE != 0 { ticket } else { RawPermit::NO_TICKET };
        let raw = RawPermit::from_parts(generation, admitted_at, ticket);
        with_breaker_on(function, breaker, |b, slot| match b.record_raw_on(slot, raw, outcome) {
            Ok(recorded) => {
                // SAFETY: non-null and valid per the contract; written through the raw pointer.
                unsafe { (*permit).flags |= CIRCUIT_PERMIT_SPENT };
                match recorded {
                    Recorded::Counted => CIRCUIT_OK,
                    Recorded::Stale => CIRCUIT_STALE,
                }
            }
            Err(PermitError::AlreadyRecorded) => fail(
                CIRCUIT_ERR_ALREADY_RECORDED,
                format!("{function}: the probe permit was already recorded or was not issued"),
            ),
            Err(PermitError::ForeignPermit) => fail(CIRCUIT_ERR_FOREIGN_PERMIT, format!("{function}: foreign permit")),
        })
    })
}

/// Records a success. Returns `CIRCUIT_OK` (counted) or `CIRCUIT_STALE` (from an earlier
/// generation: not counted), both marking the permit spent; `CIRCUIT_ERR_ALREADY_RECORDED`,
/// `CIRCUIT_ERR_FOREIGN_PERMIT`, `CIRCUIT_ERR_INVALID_HANDLE`, `CIRCUIT_ERR_NULL_POINTER`, which
/// change nothing.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_success(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    record("circuit_record_success", breaker, permit, Outcome::Success)
}

/// Records a failure. Same statuses as `circuit_record_success`.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_failure(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    record("circuit_record_failure", breaker, permit, Outcome::Failure)
}

/// Records a neutral outcome (cancelled, or an error that is not the dependency's fault): it
/// enters no window and returns a probe's slot. Same statuses as `circuit_record_success`.
///
/// # Safety
/// `permit` is NULL or a writable permit filled by `circuit_allow`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_record_ignored(
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
) -> circuit_status {
    record("circuit_record_ignored", breaker, permit, Outcome::Ignored)
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

/// Writes a metrics snapshot to `*out_metrics`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_metrics` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_metrics(
    breaker: circuit_breaker,
    out_metrics: *mut circuit_metrics_snapshot,
) -> circuit_status {
    guard("circuit_metrics", || {
        non_null!("circuit_metrics", out_metrics);
        with_breaker("circuit_metrics", breaker, |b| {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_metrics.write((&b.metrics()).into()) };
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

/// A transition listener: called with the `userdata` given at registration, the breaker handle
/// and the transition (valid only during the call). Called once per transition, in order, with
/// no library lock held; it may call any library function, including on the same breaker. It
/// runs on the thread that caused the transition, or on another thread already delivering this
/// breaker's earlier events (then possibly after the causing call returned), never on two
/// threads at once. It must return normally (no longjmp, no C++ exception).
#[allow(non_camel_case_types)]
pub type circuit_listener = Option<
    unsafe extern "C" fn(userdata: *mut c_void, breaker: circuit_breaker, transition: *const circuit_transition),
>;

struct Userdata(*mut c_void);
// SAFETY: the library never dereferences userdata; it hands it back to the caller's listener,
// which the caller documents as callable from any thread (docs/c-api.md).
unsafe impl Send for Userdata {}
// SAFETY: as above.
unsafe impl Sync for Userdata {}

/// Registers `listener` for every transition of `breaker`; writes an id for
/// `circuit_remove_listener` to `*out_listener_id` if it is not NULL. `userdata` is passed back
/// untouched; it must stay valid until the listener is removed or the breaker destroyed.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` (`listener` NULL) or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `listener` is NULL or a function with the `circuit_listener` signature; `out_listener_id` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_on_transition(
    breaker: circuit_breaker,
    listener: circuit_listener,
    userdata: *mut c_void,
    out_listener_id: *mut u64,
) -> circuit_status {
    guard("circuit_on_transition", || {
        let Some(callback) = listener else {
            return fail(CIRCUIT_ERR_NULL_POINTER, "circuit_on_transition: `listener` is NULL");
        };
        let userdata = Userdata(userdata);
        with_breaker("circuit_on_transition", breaker, |b| {
            let id = b.on_transition(move |t| {
                let transition = circuit_transition {
                    from: t.from.into(),
                    to: t.to.into(),
                    reason: t.reason.into(),
                    at_ns: nanos(t.at),
                    generation: t.generation,
                };
                let data = &userdata;
                // SAFETY: the caller registered a function with this signature and keeps
                // userdata valid while registered.
                unsafe { callback(data.0, breaker, &transition) };
            });
            if !out_listener_id.is_null() {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_listener_id.write(id.as_raw()) };
            }
            CIRCUIT_OK
        })
    })
}

/// Unregisters a listener. Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_ARGUMENT` (no such
/// listener) or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// Once it returns `CIRCUIT_OK` the listener is never called again, not even for an event whose
/// delivery is under way, so its `userdata` may be freed at once. If the listener is running on
/// another thread at that moment, this waits until that call returns (do not call it while
/// holding a lock the listener takes); called from a listener it never waits.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_remove_listener(breaker: circuit_breaker, listener_id: u64) -> circuit_status {
    guard("circuit_remove_listener", || {
        with_breaker("circuit_remove_listener", breaker, |b| {
            if b.remove_listener(engine::ListenerId::from_raw(listener_id)) {
                CIRCUIT_OK
            } else {
                fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("circuit_remove_listener: no listener {listener_id}"))
            }
        })
    })
}
