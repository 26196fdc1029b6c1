package circuit

/*
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// TransitionCount is how many times a breaker went from one state to another for one reason,
// over its life (docs/observability.md).
type TransitionCount struct {
	From   State
	To     State
	Reason string
	Count  uint64
}

// MetricFamily is one family of the metric set every language exports (docs/observability.md):
// the core's definition, read through the C ABI, so exporters never re-map Metrics fields.
type MetricFamily struct {
	// Name is the Prometheus name, e.g. "circuit_breaker_calls_total".
	Name string
	// OtelName is the OpenTelemetry instrument name, e.g. "circuit_breaker.calls".
	OtelName string
	// Help is the HELP text (the OpenTelemetry description).
	Help string
	// Unit is "1" or "s".
	Unit string
	// Counter is true for a monotonic total, false for a gauge.
	Counter bool
	// Labels are the family's own label names (beyond "name" and "key"), sorted.
	Labels []string
}

// MetricPoint is one sample of the metric set for one breaker.
type MetricPoint struct {
	// Family is one of MetricFamilies().
	Family *MetricFamily
	// LabelValues are the values of Family.Labels, in that order.
	LabelValues []string
	// Value is the sample's value.
	Value float64
	// Key is a family member's key ("(overflow)" for the family's overflow breaker); empty for a
	// breaker of its own.
	Key string
}

// OverflowKey is the "key" label of a family's overflow breaker.
const OverflowKey = "(overflow)"

var metricFamilies = sync.OnceValue(func() []MetricFamily {
	n := int(C.circuit_metric_family_count())
	out := make([]MetricFamily, n)
	for i := range out {
		f := C.circuit_metric_family_at(C.size_t(i))
		names := unsafe.Slice(f.label_names, int(f.label_count))
		labels := make([]string, len(names))
		for j, name := range names {
			labels[j] = C.GoString(name)
		}
		out[i] = MetricFamily{
			Name: C.GoString(f.name), OtelName: C.GoString(f.otel_name), Help: C.GoString(f.help),
			Unit: C.GoString(f.unit), Counter: f.kind == C.CIRCUIT_METRIC_COUNTER, Labels: labels,
		}
	}
	return out
})

// MetricFamilies returns the metric set, sorted by name (shared: do not modify).
func MetricFamilies() []MetricFamily { return metricFamilies() }

// pointSink collects the points of one visit.
type pointSink struct {
	points []MetricPoint
}

func (s *pointSink) add(key string, p *C.circuit_metric_point) {
	families := metricFamilies()
	var family *MetricFamily
	for i := range families {
		if C.circuit_metric_family_at(C.size_t(i)) == p.family {
			family = &families[i]
		}
	}
	if family == nil {
		return
	}
	raw := unsafe.Slice(p.label_values, int(p.label_count))
	values := make([]string, len(raw))
	for i, v := range raw {
		values[i] = C.GoString(v)
	}
	s.points = append(s.points, MetricPoint{Family: family, LabelValues: values, Value: float64(p.value), Key: key})
}

// MetricPoints returns the breaker's samples of the metric set (without the "name" label, which
// is Name()), or ErrClosed after Close.
func (b *Breaker) MetricPoints() ([]MetricPoint, error) {
	sink := &pointSink{}
	h := cgo.NewHandle(sink)
	defer h.Delete()
	st := C.circuit_go_metric_points(b.h, C.uintptr_t(h))
	runtime.KeepAlive(b)
	if st != C.CIRCUIT_OK {
		return nil, errorFor(st, "")
	}
	return sink.points, nil
}

// MetricPoints returns the samples of every member (sorted by key) and then of the overflow
// breaker (Key OverflowKey); their "name" label is the family's Name(). ErrClosed after Close.
func (f *Family) MetricPoints() ([]MetricPoint, error) {
	sink := &pointSink{}
	h := cgo.NewHandle(sink)
	defer h.Delete()
	st := C.circuit_go_family_metric_points(f.h, C.uintptr_t(h))
	runtime.KeepAlive(f)
	if st != C.CIRCUIT_OK {
		return nil, errorFor(st, "")
	}
	return sink.points, nil
}

// Name returns the family's name (its Config.Name), the "name" label of its members' samples.
func (f *Family) Name() string { return f.name }

//export goCircuitPoint
func goCircuitPoint(userdata unsafe.Pointer, point *C.circuit_metric_point) {
	defer func() { _ = recover() }() // nothing may unwind into C
	cgo.Handle(uintptr(userdata)).Value().(*pointSink).add("", point)
}

//export goCircuitFamilyPoint
func goCircuitFamilyPoint(userdata unsafe.Pointer, key *C.char, keyLen C.size_t, point *C.circuit_metric_point) {
	defer func() { _ = recover() }() // nothing may unwind into C
	cgo.Handle(uintptr(userdata)).Value().(*pointSink).add(C.GoStringN(key, C.int(keyLen)), point)
}

// transitionsOf returns the breaker's lifetime transition counts.
func transitionsOf(h C.circuit_breaker) []TransitionCount {
	var counts []TransitionCount
	handle := cgo.NewHandle(&counts)
	defer handle.Delete()
	C.circuit_go_transitions(h, C.uintptr_t(handle))
	return counts
}

//export goCircuitTransitionCount
func goCircuitTransitionCount(userdata unsafe.Pointer, from, to C.circuit_breaker_state, reason C.circuit_reason, count C.uint64_t) {
	defer func() { _ = recover() }() // nothing may unwind into C
	counts := cgo.Handle(uintptr(userdata)).Value().(*[]TransitionCount)
	*counts = append(*counts, TransitionCount{
		From: stateOf(from), To: stateOf(to), Reason: C.GoString(C.circuit_reason_name(C.uint32_t(reason))), Count: uint64(count),
	})
}
