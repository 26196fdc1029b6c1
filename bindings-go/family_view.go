package circuit

/*
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// FamilyMetrics is a family's own counts (docs/semantics.md "Families"); each member's metrics
// come from Get(key).Metrics().
type FamilyMetrics struct {
	// Members is the number of members now (the overflow breaker not counted).
	Members int
	// Evicted counts the members evicted so far (idle, or to make room).
	Evicted uint64
	// Overflowed counts the lookups answered with the overflow breaker because every member was
	// pinned.
	Overflowed uint64
	// Overflow is the overflow breaker's metrics.
	Overflow Metrics
}

// Metrics returns the family's counts; the zero FamilyMetrics after Close.
func (f *Family) Metrics() FamilyMetrics {
	var m C.circuit_family_metrics_snapshot
	st := C.circuit_family_metrics(f.h, &m)
	runtime.KeepAlive(f)
	if st != C.CIRCUIT_OK {
		return FamilyMetrics{}
	}
	return FamilyMetrics{
		Members: int(m.members), Evicted: uint64(m.evicted), Overflowed: uint64(m.overflowed),
		Overflow: metricsOf(&m.overflow),
	}
}

// Keys returns the keys of the current members, in no particular order (nil after Close).
func (f *Family) Keys() []string {
	var keys []string
	h := cgo.NewHandle(&keys)
	defer h.Delete()
	C.circuit_go_family_keys(f.h, C.uintptr_t(h))
	runtime.KeepAlive(f)
	return keys
}

//export goCircuitKey
func goCircuitKey(userdata unsafe.Pointer, key *C.char, keyLen C.size_t) {
	defer func() { _ = recover() }() // nothing may unwind into C
	keys := cgo.Handle(uintptr(userdata)).Value().(*[]string)
	*keys = append(*keys, C.GoStringN(key, C.int(keyLen)))
}
