package circuit

/*
#include "helpers.h"
*/
import "C"

// Test hooks (unexported; _test.go files cannot use cgo).

// cHandle returns the C handle of the breaker.
func (b *Breaker) cHandle() uint64 { return uint64(b.in.h) }

// cBreakerAlive reports whether a C breaker handle is still valid (not destroyed).
func cBreakerAlive(h uint64) bool {
	return C.circuit_go_state(C.circuit_breaker(h)).status != C.CIRCUIT_ERR_INVALID_HANDLE
}

// listenerSlots is the number of dispatch slots this breaker holds (0 or 1).
func (b *Breaker) listenerSlots() int {
	b.in.mu.Lock()
	defer b.in.mu.Unlock()
	count := 0
	dispatch.Range(func(_, v any) bool {
		if v.(*breaker) == b.in {
			count++
		}
		return true
	})
	return count
}

// liveListenerSlots is the number of dispatch slots held by all breakers.
func liveListenerSlots() int64 { return liveSlots.Load() }

// libraryStateNames are the library's state spellings, by code (the State constants must match).
func libraryStateNames() []string {
	var names []string
	for code := C.uint32_t(0); ; code++ {
		name := C.circuit_state_name(code)
		if name == nil {
			return names
		}
		names = append(names, C.GoString(name))
	}
}

// cFamilyAlive reports whether a C family handle is still valid (not destroyed).
func cFamilyAlive(h C.circuit_family) bool {
	var n C.size_t
	return C.circuit_family_len(h, &n) != C.CIRCUIT_ERR_INVALID_HANDLE
}

// familyHandle is f's C handle, as a number (tests keep it, not f).
func (f *Family) familyHandle() uint64 { return uint64(f.h) }

// cFamilyHandleAlive is cFamilyAlive for a handle kept as a number.
func cFamilyHandleAlive(h uint64) bool { return cFamilyAlive(C.circuit_family(h)) }
