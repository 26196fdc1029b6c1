package circuit

/*
#include "circuit.h"
*/
import "C"

import "sync/atomic"

// A rejection allocates nothing in the steady state: each Breaker keeps, per reason, the last
// *RejectedError it returned, and hands out that same value again while what it would say is
// identical (same reason, same RetryAfter to the nanosecond). A *RejectedError is never written
// after it is published, so a caller holding one never sees it change; a rejection whose
// RetryAfter differs from the cached one gets a fresh value, which replaces the cached one.
//
// RetryAfter changes only when the clock the engine reads for rejections moves: a manual clock
// when advanced; the monotonic clock's coarse reading (one tick every 1-4 ms), except in the last
// two ticks before a probe is due, where the engine reads the precise clock and each rejection
// gets its own value. "half_open_full" and "forced_open" carry no RetryAfter, so their value is
// allocated once per breaker. See docs/go.md "Errors" for the figures and the design choice.

// The rejection reasons, as indices of rejections (the C reject-reason codes).
const (
	reasonOpen = iota
	reasonHalfOpenFull
	reasonForcedOpen
	reasonCount
)

// rejectReasons are the library's spellings of the rejection reasons, by code ("open",
// "half_open_full", "forced_open"), read once.
var rejectReasons = func() (names [reasonCount]string) {
	for i := range names {
		names[i] = C.GoString(C.circuit_reject_reason_name(C.uint32_t(i)))
	}
	return names
}()

// rejectStates are the states the breaker is in when it rejects for each reason.
var rejectStates = [reasonCount]State{StateOpen, StateHalfOpen, StateForcedOpen}

// rejections is a Breaker's cache of published rejections, by reason.
type rejections [reasonCount]atomic.Pointer[RejectedError]

// noRetry is CIRCUIT_NO_TIME: the rejection has no RetryAfter.
const noRetry = uint64(C.CIRCUIT_NO_TIME)

// rejection turns a refused admission into its error: the cached *RejectedError when it says the
// same, else a new one (or the error of a non-rejection status, e.g. ErrClosed).
func (b *Breaker) rejection(st C.circuit_status, retry C.uint64_t) error {
	if e := fleetRejection(b.name, st, retry); e != nil {
		return e
	}
	reason, ok := rejectReasonOf(st)
	if !ok {
		return errorFor(st, "")
	}
	if e := b.rejections[reason].Load(); e != nil && e.retryNanos == uint64(retry) {
		return e
	}
	return b.publishRejection(reason, uint64(retry))
}

// publishRejection builds the rejection fully, then caches it (the last writer wins; every value
// stays valid for whoever holds it).
func (b *Breaker) publishRejection(reason int, retry uint64) *RejectedError {
	e := newRejection(b.name, reason, retry)
	b.rejections[reason].Store(e)
	return e
}

// rejectReasonOf is the rejection reason of a status (false: not a rejection).
func rejectReasonOf(st C.circuit_status) (int, bool) {
	switch st {
	case C.CIRCUIT_REJECTED_OPEN:
		return reasonOpen, true
	case C.CIRCUIT_REJECTED_HALF_OPEN_FULL:
		return reasonHalfOpenFull, true
	case C.CIRCUIT_REJECTED_FORCED_OPEN:
		return reasonForcedOpen, true
	}
	return 0, false
}

func newRejection(name string, reason int, retry uint64) *RejectedError {
	e := &RejectedError{Name: name, State: rejectStates[reason], Reason: rejectReasons[reason], retryNanos: retry}
	if retry != noRetry {
		e.retryAfter = nanosToDuration(retry)
		e.RetryAfter = &e.retryAfter
	}
	return e
}
