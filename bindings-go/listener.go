package circuit

/*
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
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
}

type listenerFunc func(Transition)

//export goCircuitListener
func goCircuitListener(userdata unsafe.Pointer, breaker C.circuit_breaker, t *C.circuit_transition) {
	defer func() { _ = recover() }() // a panicking listener must never unwind into C
	fn, ok := cgo.Handle(uintptr(userdata)).Value().(listenerFunc)
	if !ok {
		return
	}
	fn(Transition{
		From: stateOf(t.from), To: stateOf(t.to),
		Reason:     C.GoString(C.circuit_reason_name(C.uint32_t(t.reason))),
		At:         nanosToDuration(uint64(t.at_ns)),
		Generation: uint64(t.generation),
	})
}

// OnStateChange registers fn for every transition and returns a function that unregisters it.
// fn is called once per transition, in order, with no lock held (it may call the breaker), on the
// goroutine whose call caused the transition. A panic in fn is recovered and ignored. C never
// holds a Go pointer: fn is kept in a runtime/cgo.Handle and only the handle's number crosses.
func (b *Breaker) OnStateChange(fn func(Transition)) (remove func(), err error) {
	h := cgo.NewHandle(listenerFunc(fn))
	var id C.uint64_t
	st := C.circuit_go_on_transition(b.h, C.uintptr_t(h), &id)
	runtime.KeepAlive(b)
	if st != C.CIRCUIT_OK {
		h.Delete()
		return func() {}, errorFor(st, "")
	}
	b.mu.Lock()
	b.listeners[uint64(id)] = h
	b.mu.Unlock()
	return func() {
		C.circuit_remove_listener(b.h, id)
		runtime.KeepAlive(b)
		b.mu.Lock()
		if h, ok := b.listeners[uint64(id)]; ok {
			h.Delete()
			delete(b.listeners, uint64(id))
		}
		b.mu.Unlock()
	}, nil
}
