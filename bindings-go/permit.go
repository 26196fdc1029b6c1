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
)

// Permit is an admitted call: record its outcome once with RecordSuccess, RecordFailure or
// RecordIgnored. Copies of a Permit share its "recorded" flag. A half-open probe permit that is
// garbage-collected unrecorded is recorded as ignored, which returns its probe slot.
type Permit struct {
	// cell is the flag that copies share; seq is the use of the cell this permit owns.
	cell *permitCell
	seq  uint64
	// c is the library's permit (its breaker handle, generation and probe flag), by value.
	c C.circuit_permit
}

// permitCell is the shared "recorded" flag of a Permit and its copies. To keep Allow free of
// allocations, the cells of ordinary (non-probe) permits are recycled through cells once
// recorded, so a cell serves many permits one after another: its word is use<<1 | recorded. A
// permit's record claims the cell with one CAS from its own use, unrecorded, to recorded; a copy
// of an already recorded permit fails that CAS (the bit is set, or the cell has moved on to a later
// use) and gets ErrAlreadyRecorded. A cell never refers to a breaker or a user value.
type permitCell struct {
	word    atomic.Uint64
	cleanup runtime.Cleanup // probes only: records a dropped probe as ignored
}

// cells recycles the cells of recorded ordinary permits. Probe cells carry a cleanup and are
// never recycled (probes are rare: at most half_open_max_calls per half-open period).
var cells = sync.Pool{New: func() any { return new(permitCell) }}

// claimCell takes a cell for a new permit and starts its next use, unrecorded.
func claimCell(cell *permitCell) uint64 {
	seq := cell.word.Load()>>1 + 1
	cell.word.Store(seq << 1)
	return seq
}

// droppedProbe is what the cleanup of an unrecorded probe permit needs (never the permit itself).
type droppedProbe struct {
	in *breaker
	c  C.circuit_permit
}

func recordDroppedProbe(d droppedProbe) { C.circuit_go_record(d.in.h, d.c, outcomeIgnored) }

// IsProbe reports whether the permit is a half-open probe.
func (p Permit) IsProbe() bool { return p.cell != nil && p.c.flags&C.CIRCUIT_PERMIT_PROBE != 0 }

// IsFleetProbe reports whether the permit holds the fleet's probe lease (a breaker with
// Config.Fleet, its fleet half-open); its outcome is the fleet's probe verdict.
func (p Permit) IsFleetProbe() bool {
	return p.cell != nil && p.c.flags&C.CIRCUIT_PERMIT_FLEET_PROBE != 0
}

// Generation returns the breaker generation the permit was admitted in.
func (p Permit) Generation() uint64 {
	if p.cell == nil {
		return 0
	}
	return uint64(p.c.generation)
}

// Allow asks to make a call. It returns a Permit, or a *RejectedError (errors.Is(err, ErrOpen)).
// An ordinary (closed-state) admission allocates nothing.
func (b *Breaker) Allow() (Permit, error) {
	r := C.circuit_go_allow(b.h)
	runtime.KeepAlive(b)
	if r.status != C.CIRCUIT_OK {
		return Permit{}, b.rejection(r.status, r.retry_after_ns)
	}
	if r.permit.flags&(C.CIRCUIT_PERMIT_PROBE|C.CIRCUIT_PERMIT_FLEET_PROBE) != 0 {
		cell := new(permitCell)
		cell.cleanup = runtime.AddCleanup(cell, recordDroppedProbe, droppedProbe{in: b.core(), c: r.permit})
		return Permit{cell: cell, seq: claimCell(cell), c: r.permit}, nil
	}
	cell := cells.Get().(*permitCell)
	return Permit{cell: cell, seq: claimCell(cell), c: r.permit}, nil
}

// Outcome codes of circuit_go_record.
const (
	outcomeSuccess C.int = 0
	outcomeFailure C.int = 1
	outcomeIgnored C.int = 2
)

func (b *Breaker) record(p Permit, outcome C.int) (bool, error) {
	return b.recordWith(p, outcome, 0)
}

// recordWith records p; retryAfterNs > 0 (a failure only) is the dependency's retry time.
func (b *Breaker) recordWith(p Permit, outcome C.int, retryAfterNs uint64) (bool, error) {
	counted, err := recordOn(b.h, p, outcome, retryAfterNs)
	runtime.KeepAlive(b)
	return counted, err
}

// recordOn records p on the breaker handle h (the permit's issuer): the body of every record.
func recordOn(h C.circuit_breaker, p Permit, outcome C.int, retryAfterNs uint64) (bool, error) {
	// The cell is claimed before the C call, not after, and no lock is held across it: the call
	// runs listeners synchronously, and a listener that records this same permit (on this
	// goroutine) gets ErrAlreadyRecorded instead of waiting for this call to finish.
	unrecorded := p.seq << 1
	if !p.cell.word.CompareAndSwap(unrecorded, unrecorded|1) {
		return false, ErrAlreadyRecorded
	}
	var st C.circuit_status
	if retryAfterNs > 0 {
		st = C.circuit_go_record_failure_retry_after(h, p.c, C.uint64_t(retryAfterNs))
	} else {
		st = C.circuit_go_record(h, p.c, outcome)
	}
	// A probe's (or family permit's) cell stays reachable until the call returns: its cleanup
	// must not record the permit as dropped while this records it.
	runtime.KeepAlive(p.cell)
	switch st {
	case C.CIRCUIT_OK, C.CIRCUIT_STALE:
		if p.c.flags&(C.CIRCUIT_PERMIT_PROBE|C.CIRCUIT_PERMIT_MEMBER|C.CIRCUIT_PERMIT_FLEET_PROBE) != 0 {
			p.cell.cleanup.Stop()
		} else {
			cells.Put(p.cell)
		}
		return st == C.CIRCUIT_OK, nil
	default:
		p.cell.word.Store(unrecorded) // nothing was recorded (the breaker is closed)
		return false, errorFor(st, "")
	}
}

func (b *Breaker) recordPermit(p Permit, outcome C.int) (bool, error) {
	return b.recordPermitWith(p, outcome, 0)
}

func (b *Breaker) recordPermitWith(p Permit, outcome C.int, retryAfterNs uint64) (bool, error) {
	if p.cell == nil {
		return false, ErrInvalidPermit
	}
	if p.c.breaker != b.h {
		return false, ErrForeignPermit
	}
	return b.recordWith(p, outcome, retryAfterNs)
}

// RecordSuccess records a success. counted is false when the permit was stale (admitted before
// the last state change): the outcome then changed nothing. A second record returns
// ErrAlreadyRecorded.
func (b *Breaker) RecordSuccess(p Permit) (counted bool, err error) {
	return b.recordPermit(p, outcomeSuccess)
}

// RecordFailure records a failure. See RecordSuccess.
func (b *Breaker) RecordFailure(p Permit) (counted bool, err error) {
	return b.recordPermit(p, outcomeFailure)
}

// RecordFailureRetryAfter records a failure that came with the dependency's retry time (an HTTP
// Retry-After): if this failure opens the breaker (it trips it, or a probe's failure re-opens it),
// the breaker stays open at least retryAfter, capped by MaxResetTimeout; otherwise it is
// RecordFailure. A zero or negative retryAfter is RecordFailure.
func (b *Breaker) RecordFailureRetryAfter(p Permit, retryAfter time.Duration) (counted bool, err error) {
	ns := uint64(0)
	if retryAfter > 0 {
		ns = uint64(retryAfter)
	}
	return b.recordPermitWith(p, outcomeFailure, ns)
}

// RecordIgnored records a neutral outcome (it enters no window and returns a probe's slot).
func (b *Breaker) RecordIgnored(p Permit) (counted bool, err error) {
	return b.recordPermit(p, outcomeIgnored)
}

// recordSelf records p on the breaker that issued it (Permit's own Record methods).
func (p Permit) recordSelf(outcome C.int, retryAfterNs uint64) (bool, error) {
	if p.cell == nil {
		return false, ErrInvalidPermit
	}
	return recordOn(p.c.breaker, p, outcome, retryAfterNs)
}

// RecordSuccess records a success on the breaker that issued the permit (the way to record a
// permit from Family.Allow; a Breaker's permit may be recorded either way). See
// Breaker.RecordSuccess. Recording a family permit releases the member it pinned.
func (p Permit) RecordSuccess() (counted bool, err error) { return p.recordSelf(outcomeSuccess, 0) }

// RecordFailure records a failure on the breaker that issued the permit. See RecordSuccess.
func (p Permit) RecordFailure() (counted bool, err error) { return p.recordSelf(outcomeFailure, 0) }

// RecordFailureRetryAfter records a failure with the dependency's retry time on the breaker that
// issued the permit. See Breaker.RecordFailureRetryAfter.
func (p Permit) RecordFailureRetryAfter(retryAfter time.Duration) (counted bool, err error) {
	ns := uint64(0)
	if retryAfter > 0 {
		ns = uint64(retryAfter)
	}
	return p.recordSelf(outcomeFailure, ns)
}

// RecordIgnored records a neutral outcome on the breaker that issued the permit. See RecordSuccess.
func (p Permit) RecordIgnored() (counted bool, err error) { return p.recordSelf(outcomeIgnored, 0) }

// Record records outcome (OutcomeSuccess, OutcomeFailure or OutcomeIgnored; anything else is a
// failure) on the breaker that issued the permit, as ClassifyHTTPStatus and friends return it.
func (p Permit) Record(outcome Outcome) (counted bool, err error) {
	return p.recordSelf(outcomeCode(outcome), 0)
}

// Record records outcome (OutcomeSuccess, OutcomeFailure or OutcomeIgnored; anything else is a
// failure). See RecordSuccess.
func (b *Breaker) Record(p Permit, outcome Outcome) (counted bool, err error) {
	return b.recordPermit(p, outcomeCode(outcome))
}

func outcomeCode(outcome Outcome) C.int {
	switch outcome {
	case OutcomeSuccess:
		return outcomeSuccess
	case OutcomeIgnored:
		return outcomeIgnored
	default:
		return outcomeFailure
	}
}
