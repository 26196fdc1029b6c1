//! Family listeners: `circuit_family_listener`, `circuit_family_on_transition` and
//! `circuit_family_remove_listener`. Every member's transitions (and the overflow breaker's) reach
//! them with the member's key.
//!
//! The core's `Family::remove_listener` does not wait for a call in progress on another thread;
//! the C ABI promises that it does (as `circuit_remove_listener` does), so that `userdata` may be
//! freed once it returns. Each listener therefore runs behind a [`Gate`] that counts the threads
//! inside it; removing the listener, or destroying the family, closes the gate and waits for the
//! other threads to leave.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

use engine::FamilyListenerId;

use crate::family::{FAMILIES, circuit_family, invalid};
use crate::listener::{Userdata, circuit_transition};
use crate::status::*;

/// A family listener: called with the `userdata` given at registration, the member's key
/// (`key_len` bytes of UTF-8, not NUL-terminated; `key` is NULL for the family's overflow
/// breaker) and the transition. `key` and `transition` are valid only during the call. Called
/// once per transition, in each member's order, with no library lock held; it may call any
/// library function. It runs on the thread that caused the transition; transitions of different
/// members may be delivered on several threads at once. It must return normally (no longjmp, no
/// C++ exception).
pub type circuit_family_listener = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const c_char,
        key_len: usize,
        transition: *const circuit_transition,
    ),
>;

/// The threads inside one listener, and whether it may still be called.
pub(crate) struct Gate {
    state: Mutex<GateState>,
    left: Condvar,
}

struct GateState {
    closed: bool,
    inside: Vec<ThreadId>,
}

impl Gate {
    fn new() -> Self {
        Self { state: Mutex::new(GateState { closed: false, inside: Vec::new() }), left: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters for one call; false once the gate is closed.
    fn enter(&self) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.inside.push(std::thread::current().id());
        true
    }

    fn leave(&self) {
        let me = std::thread::current().id();
        let mut state = self.lock();
        if let Some(index) = state.inside.iter().position(|id| *id == me) {
            state.inside.swap_remove(index);
        }
        drop(state);
        self.left.notify_all();
    }

    /// Closes the gate: no call starts afterwards, and this waits until no other thread is inside
    /// (calls on this thread, when removing from inside a listener, are not waited for).
    pub(crate) fn close(&self) {
        let me = std::thread::current().id();
        let mut state = self.lock();
        state.closed = true;
        while state.inside.iter().any(|id| *id != me) {
            state = self.left.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Leaves the gate when the call returns.
struct Inside<'a>(&'a Gate);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// The listeners registered through the C ABI on one family, by the id handed out.
#[derive(Default)]
pub(crate) struct FamilyListeners {
    list: Mutex<Vec<(u64, FamilyListenerId, Arc<Gate>)>>,
}

impl FamilyListeners {
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, FamilyListenerId, Arc<Gate>)>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every gate (the family is being destroyed): no listener is called afterwards.
    pub(crate) fn close_all(&self) {
        let gates: Vec<Arc<Gate>> = self.lock().drain(..).map(|(_, _, gate)| gate).collect();
        for gate in gates {
            gate.close();
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A non-null pointer for an empty key (NULL means the overflow breaker).
const EMPTY_KEY: &[u8; 1] = b"\0";

/// Registers `listener` for every transition of every member of `family` (and of its overflow
/// breaker), with the member's key; writes an id for `circuit_family_remove_listener` to
/// `*out_listener_id` if it is not NULL. `userdata` is passed back untouched; it must stay valid
/// until the listener is removed or the family destroyed (both wait for calls in progress on other
/// threads, so it may be freed once they return). Members pinned by live member handles or permits
/// after `circuit_family_destroy` no longer reach the listener.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` (`listener` NULL) or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `listener` is NULL or a function with the `circuit_family_listener` signature;
/// `out_listener_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_on_transition(
    family: circuit_family,
    listener: circuit_family_listener,
    userdata: *mut c_void,
    out_listener_id: *mut u64,
) -> circuit_status {
    guard("circuit_family_on_transition", || {
        let Some(callback) = listener else {
            return fail(CIRCUIT_ERR_NULL_POINTER, "circuit_family_on_transition: `listener` is NULL");
        };
        let Some(entry) = FAMILIES.get(family) else {
            return invalid("circuit_family_on_transition", family);
        };
        let gate = Arc::new(Gate::new());
        let userdata = Userdata(userdata);
        let inner = Arc::clone(&gate);
        // Registered under the list's lock, so that a racing destroy (close_all) sees the gate.
        let mut list = entry.listeners.lock();
        let core_id = entry.family.on_transition(move |event| {
            if !inner.enter() {
                return;
            }
            let _inside = Inside(&inner);
            let transition = circuit_transition::from(event.transition);
            let (key, key_len) = match event.key {
                Some("") => (EMPTY_KEY.as_ptr().cast::<c_char>(), 0),
                Some(key) => (key.as_ptr().cast::<c_char>(), key.len()),
                None => (std::ptr::null(), 0),
            };
            let data = &userdata;
            // SAFETY: the caller registered a function with this signature and keeps userdata
            // valid while registered; key and transition live for the call.
            unsafe { callback(data.0, key, key_len, &transition) };
        });
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        list.push((id, core_id, gate));
        drop(list);
        if !out_listener_id.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_listener_id.write(id) };
        }
        CIRCUIT_OK
    })
}

/// Unregisters a family listener. Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_ARGUMENT` (no such
/// listener on this family) or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// Once it returns `CIRCUIT_OK` the listener is never called again, so its `userdata` may be freed
/// at once: if the listener is running on another thread, this waits until that call returns (do
/// not call it while holding a lock the listener takes); called from a listener it never waits
/// for its own thread.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_family_remove_listener(family: circuit_family, listener_id: u64) -> circuit_status {
    guard("circuit_family_remove_listener", || {
        let Some(entry) = FAMILIES.get(family) else {
            return invalid("circuit_family_remove_listener", family);
        };
        let removed = {
            let mut list = entry.listeners.lock();
            list.iter().position(|(id, _, _)| *id == listener_id).map(|index| list.remove(index))
        };
        let Some((_, core_id, gate)) = removed else {
            return fail(
                CIRCUIT_ERR_INVALID_ARGUMENT,
                format!("circuit_family_remove_listener: no listener {listener_id} on family {family}"),
            );
        };
        gate.close();
        entry.family.remove_listener(core_id);
        CIRCUIT_OK
    })
}
