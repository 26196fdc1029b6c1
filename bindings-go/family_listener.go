package circuit

/*
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// FamilyTransition is one state change of a family member, as Family.OnStateChange listeners
// see it.
type FamilyTransition struct {
	// Key is the member's key ("" for the overflow breaker).
	Key string
	// Overflow is true for the family's shared overflow breaker (which has no key).
	Overflow bool
	Transition
}

// familyDispatch maps a family's dispatch slot (the C listener's userdata) to its *familyCore.
// Slots come from the same counter as the breakers' (lastSlot).
var familyDispatch sync.Map

//export goCircuitFamilyListener
func goCircuitFamilyListener(userdata unsafe.Pointer, key *C.char, keyLen C.size_t, t *C.circuit_transition) {
	defer func() { _ = recover() }() // nothing may unwind into C
	v, ok := familyDispatch.Load(uintptr(userdata))
	if !ok {
		return // closed
	}
	in := v.(*familyCore)
	set := in.listeners.Value()
	if set == nil {
		return // the Family is unreachable; its cleanup is about to close it
	}
	ft := FamilyTransition{Overflow: key == nil, Transition: transitionOf(t)}
	if key != nil {
		ft.Key = C.GoStringN(key, C.int(keyLen))
	}
	set.deliver(&in.closed, ft)
}

// OnStateChange registers fn for every transition of every member (and of the overflow breaker),
// with the member's key, and returns a function that unregisters it. The delivery and removal
// rules are Breaker.OnStateChange's, except that transitions of different members may be
// delivered on several goroutines at once. Listeners may refer to the family: they do not keep it
// alive. After Close no listener is called again.
func (f *Family) OnStateChange(fn func(FamilyTransition)) (remove func(), err error) {
	in := f.core()
	in.mu.Lock()
	if in.closed.Load() {
		in.mu.Unlock()
		return func() {}, ErrClosed
	}
	if in.slot == 0 {
		slot := lastSlot.Add(1)
		familyDispatch.Store(slot, in)
		var id C.uint64_t
		if st := C.circuit_go_family_on_transition(in.h, C.uintptr_t(slot), &id); st != C.CIRCUIT_OK {
			familyDispatch.Delete(slot)
			in.mu.Unlock()
			return func() {}, errorFor(st, "")
		}
		in.slot = slot
	}
	l := f.listeners.add(fn)
	in.mu.Unlock()
	runtime.KeepAlive(f)
	return func() { f.listeners.remove(l) }, nil
}
