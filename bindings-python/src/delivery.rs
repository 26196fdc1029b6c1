//! How engine transitions reach Python listeners, for breakers and families alike.
//!
//! * **Gates.** Each Python listener has a [`Gate`]: its delivery is skipped once it was removed,
//!   and its removal waits (the caller releases the GIL) until no other thread runs it. That gives
//!   "once `remove()` has returned, the callback is never called again" even for a call that was
//!   queued (below) before the removal.
//! * **Queued calls.** The engine's `Family::get` may apply a member's due transition (open to
//!   half-open) while it holds the family's lock, and so deliver it there. A Python listener run
//!   at that point could deadlock: by calling back into the family on the same thread, or by
//!   letting the GIL go to a thread that then waits for the family's lock while holding the GIL.
//!   So the binding calls such engine methods through [`with_calls_queued`]: listener calls made
//!   on this thread meanwhile are queued and made, in order, once the method has returned (the
//!   thread keeps the GIL throughout, so no other thread's listener call can come in between).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::ThreadId;

use pyo3::prelude::*;

/// Whether a listener was removed, and which threads are running it now.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    idle: Condvar,
}

#[derive(Default)]
struct GateState {
    removed: bool,
    running: Vec<ThreadId>,
}

impl Gate {
    /// Runs `call` unless the listener was removed, marking this thread as running it meanwhile.
    pub(crate) fn run(&self, call: impl FnOnce()) {
        let me = std::thread::current().id();
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.removed {
                return;
            }
            state.running.push(me);
        }
        struct Leave<'a>(&'a Gate, ThreadId);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(index) = state.running.iter().position(|t| *t == self.1) {
                    state.running.swap_remove(index);
                }
                drop(state);
                self.0.idle.notify_all();
            }
        }
        let _leave = Leave(self, me);
        call();
    }

    /// Marks the listener removed and waits until no other thread runs it (this thread may: a
    /// listener that removes itself). Call without the GIL.
    pub(crate) fn close(&self) {
        let me = std::thread::current().id();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.removed = true;
        while state.running.iter().any(|t| *t != me) {
            state = self.idle.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

type Queued = Box<dyn FnOnce(Python<'_>)>;

thread_local! {
    static QUEUE: RefCell<Option<VecDeque<Queued>>> = const { RefCell::new(None) };
}

/// Makes the listener call `call` now, or queues it if this thread is inside
/// [`with_calls_queued`].
pub(crate) fn deliver(py: Python<'_>, call: impl FnOnce(Python<'_>) + 'static) {
    let mut call = Some(call);
    QUEUE.with(|queue| {
        if let Some(queue) = queue.borrow_mut().as_mut()
            && let Some(call) = call.take()
        {
            queue.push_back(Box::new(call));
        }
    });
    if let Some(call) = call {
        call(py);
    }
}

/// Runs `f` (an engine call that may deliver transitions under an engine lock) with this thread's
/// listener calls queued, then makes them in order.
pub(crate) fn with_calls_queued<T>(py: Python<'_>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Option<VecDeque<Queued>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                let _ = QUEUE.with(|queue| std::mem::replace(&mut *queue.borrow_mut(), outer));
            }
        }
    }
    let outer = QUEUE.with(|queue| queue.borrow_mut().replace(VecDeque::new()));
    let mut restore = Restore(Some(outer));
    let result = f();
    let queued = QUEUE.with(|queue| {
        let outer = restore.0.take().unwrap_or(None);
        std::mem::replace(&mut *queue.borrow_mut(), outer)
    });
    drop(restore);
    for call in queued.into_iter().flatten() {
        call(py);
    }
    result
}
