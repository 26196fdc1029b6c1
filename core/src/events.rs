//! Transition events and their delivery (SEMANTICS.md §8).
//!
//! Invariants kept here:
//! * **Once, in order.** Transitions are appended to `pending` while the engine still holds its
//!   state lock, so the queue order is the transition order. One thread at a time (the holder of
//!   the `dispatching` flag) pops and delivers, so listeners see events in that order, each once.
//! * **No lock held.** A listener is called after `pending`'s guard is dropped and with no engine
//!   lock held, so it may call back into the same breaker. A transition it causes is queued and
//!   delivered by the same dispatching loop after the listener returns (never re-entrantly).
//! * **No lost event.** The queue and the `dispatching` flag live under one mutex, and the
//!   dispatcher clears the flag in the same critical section in which it finds the queue empty, so
//!   an event queued by a thread that found the flag taken is always delivered by the dispatcher.
//! * **A failing listener breaks nothing.** Each call runs under `catch_unwind`; a panic is
//!   swallowed and the next listener still runs.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::state::{Reason, State};
use crate::sync::{AtomicU64, Mutex, Ordering};

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

type Listener = Arc<dyn Fn(&Transition) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Events {
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_id: AtomicU64,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Transition>,
    dispatching: bool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("listeners", &self.listeners.lock().len()).finish()
    }
}

impl Events {
    pub(crate) fn add(&self, listener: Listener) -> ListenerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.listeners.lock().push((id, listener));
        ListenerId(id)
    }

    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let mut listeners = self.listeners.lock();
        let before = listeners.len();
        listeners.retain(|(each, _)| *each != id.0);
        listeners.len() != before
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
            if queue.dispatching || queue.pending.is_empty() {
                return;
            }
            queue.dispatching = true;
        }
        loop {
            let transition = {
                let mut queue = self.queue.lock();
                match queue.pending.pop_front() {
                    Some(transition) => transition,
                    None => {
                        queue.dispatching = false;
                        return;
                    }
                }
            };
            let listeners: Vec<Listener> = self.listeners.lock().iter().map(|(_, l)| Arc::clone(l)).collect();
            for listener in listeners {
                let _ = catch_unwind(AssertUnwindSafe(|| listener(&transition)));
            }
        }
    }
}
