//! Where a breaker's words live: its own atomics, or a host region's record (`crate::shared`).
//! Every access of the engine to its hot words and its locked state goes through here, so the
//! state machine is one piece of code for both.

use std::ops::{Deref, DerefMut};

use super::{CircuitBreaker, Inner};
use crate::sync::{AtomicU64, MutexGuard};

/// The locked state. For a shared breaker it also holds the record's process-shared lock, and
/// commits the state to the record when dropped (then releases both locks).
pub(crate) struct InnerGuard<'a> {
    pub(super) guard: MutexGuard<'a, Inner>,
    #[cfg(not(loom))]
    pub(super) host: Option<&'a crate::shared::HostParts>,
}

impl Deref for InnerGuard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl DerefMut for InnerGuard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for InnerGuard<'_> {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        if let Some(host) = self.host {
            let inner = &*self.guard;
            host.commit(|out| inner.encode(out));
            host.record.unlock();
        }
    }
}

impl CircuitBreaker {
    #[inline(always)]
    pub(super) fn word(&self) -> &AtomicU64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return host.word;
        }
        &self.word
    }

    #[inline(always)]
    pub(super) fn run(&self) -> &AtomicU64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return host.run;
        }
        &self.run
    }

    #[inline(always)]
    pub(super) fn open_until(&self) -> &AtomicU64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return host.open_until;
        }
        &self.open_until
    }

    #[inline(always)]
    pub(super) fn warm(&self) -> &AtomicU64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return host.warm;
        }
        &self.warm
    }

    #[inline(always)]
    pub(super) fn rejected_forced_open(&self) -> &AtomicU64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return host.forced;
        }
        &self.rejected_forced_open
    }

    /// A closed-state admission of a shared breaker (its inlined path): delivers other
    /// processes' transitions first if any are waiting, then counts the call.
    #[inline(always)]
    pub(super) fn host_admit(&self, slot: crate::counters::ThreadSlot, word: u64) {
        #[cfg(not(loom))]
        self.deliver_if_behind(word);
        let _ = word;
        self.host_count(slot, crate::counters::Counter::Admitted);
    }

    /// Bumps a total in this process's stripe of the record (a shared breaker only).
    #[inline(always)]
    pub(super) fn host_count(&self, slot: crate::counters::ThreadSlot, counter: crate::counters::Counter) {
        #[cfg(not(loom))]
        self.counters.bump_host(slot.get(), counter);
        let _ = (slot, counter);
    }

    /// Locks the state (for a shared breaker: this process's lock, then the record's, bringing
    /// the local copy up to date with what other processes committed).
    pub(super) fn lock_inner(&self) -> InnerGuard<'_> {
        let guard = self.inner.lock();
        #[cfg(not(loom))]
        if let Some(host) = &self.host {
            return self.lock_host(guard, host);
        }
        InnerGuard {
            guard,
            #[cfg(not(loom))]
            host: None,
        }
    }

    /// Delivers queued transitions (for a shared breaker, first every transition of the record
    /// this object has not delivered yet, including other processes').
    pub(super) fn dispatch(&self) {
        #[cfg(not(loom))]
        self.host_catch_up();
        self.events.dispatch();
    }

    /// Whether this breaker lives in a host region.
    pub fn is_shared(&self) -> bool {
        #[cfg(not(loom))]
        return self.host.is_some();
        #[cfg(loom)]
        false
    }

    /// The process a probe admitted now belongs to (0 for a breaker of one process).
    pub(super) fn probe_owner(&self) -> u32 {
        #[cfg(not(loom))]
        if let Some(stripes) = self.counters.host() {
            return stripes.pid();
        }
        0
    }

    /// When every probe slot is taken: frees the slots of processes that are gone (a shared
    /// breaker) and returns how many are taken then.
    pub(super) fn free_dead_probes(&self, inner: &mut Inner, taken: u64) -> u64 {
        #[cfg(not(loom))]
        if let Some(host) = &self.host
            && inner.probes.release_dead(|pid| host.record.is_alive(pid)) > 0
        {
            if inner.probes.outstanding() == 0 && self.config.half_open_max_wait == crate::config::MaxWait::OpenDuration
            {
                inner.first_probe_at = None;
            }
            return u64::from(inner.probes.outstanding()) + u64::from(inner.probe_successes);
        }
        let _ = inner;
        taken
    }
}
