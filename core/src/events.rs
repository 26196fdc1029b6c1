//! Transition events and their delivery (docs/semantics.md, "Observability").
//!
//! Invariants kept here:
//! * **Once, in order.** Transitions are appended to `pending` while the engine still holds its
//!   state lock, so the queue order is the transition order. One thread at a time (the thread
//!   recorded as `dispatcher`) pops and delivers, so listeners see events in that order, each once.
//! * **No lock held.** A listener is called after `pending`'s guard is dropped and with no engine
//!   lock held, so it may call back into the same breaker. A transition it causes is queued and
//!   delivered by the same dispatching loop after the listener returns (never re-entrantly).
//! * **No lost event.** The queue and the `dispatcher` mark live under one mutex, and the
//!   dispatcher clears the mark in the same critical section in which it finds the queue empty, so
//!   an event queued by a thread that found the flag taken is always delivered by the dispatcher.
//! * **A failing listener breaks nothing.** Each call runs under `catch_unwind`; a panic is
//!   swallowed and the next listener still runs.
//! * **Removed means never called again.** Each registration carries a `removed` flag and a
//!   `calling` mutex that the dispatcher holds around the call, checking the flag under it. `remove`
//!   sets the flag; on any thread but the one delivering this breaker's events it then takes
//!   `calling` once, so it returns only after a call already in progress on another thread has
//!   finished. After `remove` returns, the listener is never called again: not for a later event,
//!   and not for the event being delivered (a listener that removes another listener prevents
//!   that listener's call for the same event). On the delivering thread itself `remove` never
//!   waits (a listener may remove itself or another).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::state::{Reason, State};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, ThreadId, current_thread_id};

/// One state transition, as seen by listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// When, on the breaker's clock (for a lazy transition: the instant it became due).
    pub at: Duration,
    /// The generation that the transition started.
    pub generation: u64,
    /// Whether another process made it (a breaker shared through a host region,
    /// docs/shared.md); always `false` for a breaker of one process.
    pub remote: bool,
}

/// Identifies a registered listener, for [`crate::CircuitBreaker::remove_listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    /// The id as a number (for foreign interfaces).
    pub fn as_raw(self) -> u64 {
        self.0
    }
    /// Rebuilds an id from [`ListenerId::as_raw`]; an unknown id is simply not found.
    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
}

type Listener = Box<dyn Fn(&Transition) + Send + Sync>;

/// One registration.
struct Entry {
    id: u64,
    listener: Listener,
    removed: AtomicBool,
    /// Held by the dispatcher while `listener` runs.
    calling: Mutex<()>,
}

#[derive(Default)]
pub(crate) struct Events {
    listeners: Mutex<Vec<Arc<Entry>>>,
    next_id: AtomicU64,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Transition>,
    /// The thread delivering events, if one is.
    dispatcher: Option<ThreadId>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("listeners", &self.listeners.lock().len()).finish()
    }
}

impl Events {
    pub(crate) fn add(&self, listener: Listener) -> ListenerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { id, listener, removed: AtomicBool::new(false), calling: Mutex::new(()) };
        self.listeners.lock().push(Arc::new(entry));
        ListenerId(id)
    }

    /// Unregisters; when it returns the listener is never called again (see the module docs).
    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let entry = {
            let mut listeners = self.listeners.lock();
            match listeners.iter().position(|entry| entry.id == id.0) {
                Some(index) => listeners.remove(index),
                None => return false,
            }
        };
        self.retire(&[entry]);
        true
    }

    /// Unregisters every listener, with the guarantee of [`Events::remove`] for each.
    pub(crate) fn clear(&self) {
        let removed = std::mem::take(&mut *self.listeners.lock());
        self.retire(&removed);
    }

    /// Marks unregistered entries removed, then, on any thread but the delivering one, waits out
    /// a call of theirs in progress there: any later check of a flag by the dispatcher happens
    /// after this and sees it set.
    fn retire(&self, removed: &[Arc<Entry>]) {
        for entry in removed {
            entry.removed.store(true, Ordering::SeqCst);
        }
        if self.queue.lock().dispatcher != Some(current_thread_id()) {
            for entry in removed {
                drop(entry.calling.lock());
            }
        }
    }

    /// Queues a transition. Call with the engine's state lock held, in transition order.
    pub(crate) fn push(&self, transition: Transition) {
        self.queue.lock().pending.push_back(transition);
    }

    /// Delivers queued transitions unless another thread (or an outer frame of this one) is
    /// already doing so. Call with no lock held.
    pub(crate) fn dispatch(&self) {
        {
            let mut queue = self.queue.lock();
            if queue.dispatcher.is_some() || queue.pending.is_empty() {
                return;
            }
            queue.dispatcher = Some(current_thread_id());
        }
        loop {
            let transition = {
                let mut queue = self.queue.lock();
                match queue.pending.pop_front() {
                    Some(transition) => transition,
                    None => {
                        queue.dispatcher = None;
                        return;
                    }
                }
            };
            let entries: Vec<Arc<Entry>> = self.listeners.lock().iter().map(Arc::clone).collect();
            for entry in entries {
                let _calling = entry.calling.lock();
                if entry.removed.load(Ordering::SeqCst) {
                    continue;
                }
                let _ = catch_unwind(AssertUnwindSafe(|| (entry.listener)(&transition)));
            }
        }
    }
}
