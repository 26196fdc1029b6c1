//! Breakers by id: each JS thread (the main thread, each worker) keeps its breakers in its own
//! registry (`LOCAL`), and JavaScript refers to one by a small integer. An entry holds the
//! engine's breaker, the queue of transitions its core listener fills until JavaScript drains them,
//! and the trivial-generation cell JavaScript reads without a native call.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use engine::{CircuitBreaker, Rejected, ThreadSlot, Transition};
use napi::bindgen_prelude::*;

use crate::protocol::NO_TRIVIAL_GENERATION;

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

/// The generation whose ordinary permits' successes are trivial (`CircuitBreaker::
/// success_is_trivial`), or [`NO_TRIVIAL_GENERATION`]: an `f64` that `lib/breaker.js` reads
/// through a `Float64Array` over this very memory (`trivialView`), so that it can tell, without a
/// native call, whether the success of a permit may be handed over later (`fastSettle`).
///
/// Set by `allow` when the permit it issues has a trivial success, cleared by the core listener
/// on every transition (a trivial success stays trivial until then), so it is current whenever
/// JavaScript runs: every change happens inside a native call of this breaker, on its thread.
pub(crate) struct Trivial(AtomicU64);

impl Trivial {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(NO_TRIVIAL_GENERATION.to_bits()))
    }

    #[inline]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    /// The cell's 8 bytes, for the `Float64Array` over them.
    pub(crate) fn as_ptr(&self) -> *mut u64 {
        self.0.as_ptr()
    }
}

/// One breaker as the binding holds it.
pub(crate) struct Entry {
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) trivial: Arc<Trivial>,
    /// The last rejection, read by `takeRejection` right after a rejected `allow`.
    pub(crate) rejection: Option<Rejected>,
}

struct Registry {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
}

/// The state of one JS thread: its breakers, by id, and its counter stripe.
pub(crate) struct Local {
    registry: RefCell<Registry>,
    /// The thread's counter stripe, looked up once (saves a thread-local access per call).
    slot: Cell<Option<ThreadSlot>>,
}

thread_local! {
    /// Each JS thread (the main thread, each worker) has its own breakers. The fast-path
    /// functions receive the address of their thread's `Local` as callback data, so they do not
    /// look it up per call.
    pub(crate) static LOCAL: Local = const {
        Local {
            registry: RefCell::new(Registry { entries: Vec::new(), free: Vec::new() }),
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

    /// Adds a breaker; returns its id (a freed one first).
    pub(crate) fn insert(&self, entry: Entry) -> u32 {
        let mut registry = self.registry.borrow_mut();
        match registry.free.pop() {
            Some(id) => {
                registry.entries[id as usize] = Some(entry);
                id
            }
            None => {
                registry.entries.push(Some(entry));
                (registry.entries.len() - 1) as u32
            }
        }
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
