package circuit

/*
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Transition is one state change, as seen by OnStateChange listeners.
type Transition struct {
	From, To State
	// Reason: "failure_threshold", "failure_rate", "slow_call_rate", "open_elapsed",
	// "probe_failure", "half_open_max_wait", "probe_success", "reset", "force_open", "disable".
	Reason string
	// At is the instant on the breaker's clock (the due instant for lazy transitions).
	At time.Duration
	// Generation is the generation the transition started.
	Generation uint64
	// Remote is true when another process made the transition (a breaker in a HostRegion; always
	// false otherwise). Another process's transitions reach this process's listeners at its
	// next operation on the breaker (Execute, Allow, State, Metrics, ...), not when they happen.
	Remote bool
}

// How listeners are wired (and why):
//
//   - A breaker registers at most ONE C listener, at its first OnStateChange. Its userdata is a
//     number, the breaker's key in the dispatch table below, which maps it to the inner
//     *breaker. No Go pointer crosses into C.
//   - The inner *breaker reaches the Go listeners only through a weak pointer to the
//     listenerSet, which only the public *Breaker holds strongly. So neither the C library nor
//     the dispatch table (a global root) keeps a listener, or a Breaker a listener refers to,
//     alive: an unreachable Breaker is collected and its cleanup closes it.
//   - Registration and close serialize on breaker.mu, so a registration racing Close either
//     fails with ErrClosed or is released by Close: no dispatch slot is ever left behind.
//   - Each listener is called under its own calling mutex, after checking its removed flag under
//     it; remove sets the flag and, unless it runs inside that listener's call on this same
//     thread, waits out a call in progress by taking the mutex once. So after remove returns the
//     listener is never called again, even for the event being delivered.

var (
	dispatch  sync.Map // uintptr slot -> *breaker
	lastSlot  atomic.Uintptr
	liveSlots atomic.Int64 // entries in dispatch (test hook)
)

func releaseSlot(slot uintptr) {
	if slot != 0 {
		dispatch.Delete(slot)
		liveSlots.Add(-1)
	}
}

// listenerSet is the list of a Breaker's (T = Transition) or a Family's (T = FamilyTransition)
// listeners. list is copy-on-write: a delivery iterates a snapshot without holding mu.
type listenerSet[T any] struct {
	mu   sync.Mutex
	list []*listener[T]
}

type listener[T any] struct {
	fn      func(T)
	removed atomic.Bool
	// calling is held while fn runs; thread is the OS thread it runs on (0 when idle).
	calling sync.Mutex
	thread  atomic.Uintptr
}

func (s *listenerSet[T]) add(fn func(T)) *listener[T] {
	l := &listener[T]{fn: fn}
	s.mu.Lock()
	list := make([]*listener[T], len(s.list), len(s.list)+1)
	copy(list, s.list)
	s.list = append(list, l)
	s.mu.Unlock()
	return l
}

func (s *listenerSet[T]) remove(l *listener[T]) {
	s.mu.Lock()
	list := make([]*listener[T], 0, len(s.list))
	for _, each := range s.list {
		if each != l {
			list = append(list, each)
		}
	}
	s.list = list
	s.mu.Unlock()
	l.removed.Store(true)
	// Pin this goroutine to its thread while comparing, so that no other goroutine can be
	// running a listener on it meanwhile: a listener runs in a cgo callback, whose goroutine
	// keeps its thread to itself until the callback returns.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if l.thread.Load() != uintptr(C.circuit_go_thread()) {
		// Not inside this listener's own call: wait out a call in progress elsewhere. Any later
		// call checks removed under the mutex and sees it set.
		l.calling.Lock()
		l.calling.Unlock() // (an empty critical section is the point)
	}
}

// deliver calls every listener with t, stopping once closed is set (the owner was closed).
func (s *listenerSet[T]) deliver(closed *atomic.Bool, t T) {
	s.mu.Lock()
	list := s.list
	s.mu.Unlock()
	if len(list) == 0 {
		return
	}
	thread := uintptr(C.circuit_go_thread())
	for _, l := range list {
		if closed.Load() {
			return
		}
		l.call(t, thread)
	}
}

func (l *listener[T]) call(t T, thread uintptr) {
	l.calling.Lock()
	defer l.calling.Unlock()
	if l.removed.Load() {
		return
	}
	l.thread.Store(thread)
	defer l.thread.Store(0)
	defer func() { _ = recover() }() // a panicking listener breaks nothing, the next still runs
	l.fn(t)
}

//export goCircuitListener
func goCircuitListener(userdata unsafe.Pointer, _ C.circuit_breaker, t *C.circuit_transition) {
	defer func() { _ = recover() }() // nothing may unwind into C
	v, ok := dispatch.Load(uintptr(userdata))
	if !ok {
		return // closed
	}
	in := v.(*breaker)
	set := in.listeners.Value()
	if set == nil {
		return // the Breaker is unreachable; its cleanup is about to close it
	}
	set.deliver(&in.closed, transitionOf(t))
}

func transitionOf(t *C.circuit_transition) Transition {
	return Transition{
		From: stateOf(t.from), To: stateOf(t.to),
		Reason:     C.GoString(C.circuit_reason_name(C.uint32_t(t.reason))),
		At:         nanosToDuration(uint64(t.at_ns)),
		Generation: uint64(t.generation),
		Remote:     bool(t.remote),
	}
}

// OnStateChange registers fn for every transition and returns a function that unregisters it.
//
// Each transition is delivered once, in order, with no lock held (fn may call the breaker), on
// the goroutine whose call caused it or on another goroutine that is already delivering this
// breaker's earlier events, so possibly after the causing call has returned. A panic in fn is
// recovered and ignored; fn must not call runtime.Goexit (so no t.FailNow or t.Fatal in a
// listener). Listeners may refer to the breaker: they do not keep it alive.
//
// After remove returns, fn is never called again, not even for an event being delivered: called
// from inside a listener (fn itself or another one) it takes effect at once, and called on any
// other goroutine it waits until a call of fn in progress has returned (so do not call it while
// holding a lock fn takes). remove is idempotent and may be called after Close.
func (b *Breaker) OnStateChange(fn func(Transition)) (remove func(), err error) {
	in := b.core()
	in.mu.Lock()
	if in.closed.Load() {
		in.mu.Unlock()
		return func() {}, ErrClosed
	}
	if in.slot == 0 {
		slot := lastSlot.Add(1)
		dispatch.Store(slot, in)
		liveSlots.Add(1)
		st := C.circuit_go_on_transition(in.h, C.uintptr_t(slot), &in.listenerID)
		if st != C.CIRCUIT_OK {
			releaseSlot(slot)
			in.mu.Unlock()
			return func() {}, errorFor(st, "")
		}
		in.slot = slot
	}
	l := b.listeners.add(fn)
	in.mu.Unlock()
	runtime.KeepAlive(b)
	return func() { b.listeners.remove(l) }, nil
}
