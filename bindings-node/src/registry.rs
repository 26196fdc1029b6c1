//! Breakers by id: each JS thread (the main thread, each worker) keeps its breakers in its own
//! registry (`LOCAL`), and JavaScript refers to one by a small integer. An entry holds the
//! engine's breaker, the queue of transitions its core listener fills until JavaScript drains them,
//! and its trivial-generation cell (`trivial.rs`), which JavaScript reads without a native call.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use engine::fleet::Refused;
use engine::{CircuitBreaker, ListenerId, ThreadSlot, Transition};
use napi::bindgen_prelude::*;

use crate::frame::Frame;
use crate::trivial::{Pages, Trivial};

/// Why a native call failed, thrown as an `Error` with code `ERR_CIRCUIT_NATIVE`.
pub(crate) type Failure = &'static CStr;

/// Transitions queued by the core listener until `lib/breaker.js` drains them.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) transitions: Mutex<Vec<Transition>>,
    pub(crate) pending: AtomicBool,
}

impl Queue {
    pub(crate) fn push(&self, t: &Transition) {
        self.transitions.lock().unwrap_or_else(PoisonError::into_inner).push(*t);
        self.pending.store(true, Ordering::Release);
    }

    /// [`crate::protocol::EVENTS`] when transitions are queued, else 0.
    #[inline]
    pub(crate) fn pending_bit(&self) -> i32 {
        i32::from(self.pending.load(Ordering::Acquire))
    }
}

/// One breaker as the binding holds it.
pub(crate) struct Entry {
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) queue: Arc<Queue>,
    /// Its trivial-generation cell (`trivial.rs`).
    pub(crate) trivial: Trivial,
    /// The last rejection (the local breaker's or the fleet's), read by `takeRejection` right
    /// after a rejected `allow`.
    pub(crate) rejection: Option<Refused>,
    /// The fleet breaker the calls also go through (`fleet.rs`), or `None`.
    pub(crate) fleet: Option<Arc<crate::fleet::ClockedFleet>>,
    /// The core listener filling `queue`. A family member (`family.rs`) outlives its entry, so
    /// freeing the entry unregisters it (for a breaker of its own, dropping it drops both).
    pub(crate) listener: ListenerId,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.breaker.remove_listener(self.listener);
    }
}

struct Registry {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
}

/// The state of one JS thread: its breakers, by id, its counter stripe and its call frame.
pub(crate) struct Local {
    registry: RefCell<Registry>,
    /// The numbers the fast-path functions take and give (`frame.rs`).
    pub(crate) frame: Frame,
    /// The breakers' trivial-generation cells, by id (`trivial.rs`).
    pub(crate) pages: Pages,
    /// The thread's counter stripe, looked up once (saves a thread-local access per call).
    slot: Cell<Option<ThreadSlot>>,
}

thread_local! {
    /// Each JS thread (the main thread, each worker) has its own breakers and call frame.
    pub(crate) static LOCAL: Local = const {
        Local {
            registry: RefCell::new(Registry { entries: Vec::new(), free: Vec::new() }),
            frame: Frame::new(),
            pages: Pages::new(),
            slot: Cell::new(None),
        }
    };
}

impl Local {
    /// Runs `f` on the breaker `id` with this thread's counter stripe. The core never calls back
    /// into this module except through the transition listener, which only touches its own queue,
    /// so the borrow is never re-entered.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        id: u32,
        f: impl FnOnce(&mut Entry, ThreadSlot) -> R,
    ) -> std::result::Result<R, Failure> {
        let mut registry = self.registry.try_borrow_mut().map_err(|_| c"circuit: re-entrant native call")?;
        let slot = match self.slot.get() {
            Some(slot) => slot,
            None => {
                let slot = ThreadSlot::current();
                self.slot.set(Some(slot));
                slot
            }
        };
        match registry.entries.get_mut(id as usize) {
            Some(Some(entry)) => Ok(f(entry, slot)),
            _ => Err(c"circuit: unknown breaker id"),
        }
    }

    /// Adds the breaker `make` builds around its trivial-generation cell; returns its id (a
    /// freed one first).
    pub(crate) fn insert(&self, make: impl FnOnce(Trivial) -> Entry) -> u32 {
        let mut registry = self.registry.borrow_mut();
        let id = match registry.free.pop() {
            Some(id) => id,
            None => {
                registry.entries.push(None);
                (registry.entries.len() - 1) as u32
            }
        };
        registry.entries[id as usize] = Some(make(self.pages.cell(id)));
        id
    }

    /// Frees the breaker `id` (unless a native call of this thread is running, which cannot
    /// happen from a finalizer).
    pub(crate) fn remove(&self, id: u32) {
        if let Ok(mut registry) = self.registry.try_borrow_mut()
            && let Some(slot) = registry.entries.get_mut(id as usize)
            && slot.take().is_some()
        {
            registry.free.push(id);
        }
    }

    /// Breakers not freed yet.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn live(&self) -> usize {
        self.registry.borrow().entries.iter().filter(|e| e.is_some()).count()
    }
}

/// Runs `f` on the breaker `id` (the slow path: metrics, control, events).
pub(crate) fn with_entry<R>(id: u32, f: impl FnOnce(&mut Entry) -> R) -> Result<R> {
    LOCAL
        .with(|local| local.with(id, |entry, _| f(entry)))
        .map_err(|e| Error::new(Status::GenericFailure, e.to_string_lossy().into_owned()))
}
