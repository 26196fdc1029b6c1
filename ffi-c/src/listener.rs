//! Listeners: `circuit_transition`, `circuit_listener`, `circuit_on_transition` and
//! `circuit_remove_listener`.

use std::ffi::c_void;

use crate::breaker::with_breaker;
use crate::status::*;
use crate::types::*;

/// One state transition, passed to listeners.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct circuit_transition {
    /// State left.
    pub from: circuit_breaker_state,
    /// State entered.
    pub to: circuit_breaker_state,
    /// Why.
    pub reason: circuit_reason,
    /// When, in nanoseconds on the breaker's clock (the due instant for lazy transitions).
    pub at_ns: u64,
    /// The generation the transition started.
    pub generation: u64,
    /// Whether another process made this transition (a breaker in a host region; always false
    /// otherwise). Such transitions reach this process's listeners at its next operation on the
    /// breaker. Last field, so that code compiled against an older header still reads the others.
    pub remote: bool,
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

impl From<&engine::Transition> for circuit_transition {
    fn from(t: &engine::Transition) -> Self {
        Self {
            from: t.from.into(),
            to: t.to.into(),
            reason: t.reason.into(),
            at_ns: nanos(t.at),
            generation: t.generation,
            remote: t.remote,
        }
    }
}

pub(crate) struct Userdata(pub(crate) *mut c_void);
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
                let transition = circuit_transition::from(t);
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
