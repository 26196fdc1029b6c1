package circuit

/*
#include "helpers.h"
*/
import "C"

import "runtime"

// Allow asks to make a call on the member for key (created on first use; the family's shared
// overflow breaker when the family is full and every member is pinned), in one call and without
// a *Breaker to close. It returns a *Permit, or a *RejectedError like Breaker.Allow's
// (errors.Is(err, ErrOpen), ErrHalfOpenFull, ErrForcedOpen), or ErrClosed after Close.
//
// The permit pins its member until it is recorded: the family never evicts it, so the outcome
// always lands on the breaker that admitted the call. Record it with its own methods
// (p.RecordSuccess(), p.RecordFailure(), p.RecordFailureRetryAfter(d), p.RecordIgnored(),
// p.Record(outcome)), which release the pin. A permit that is garbage-collected unrecorded is
// recorded as ignored, which releases it too; record abandoned calls as ignored rather than rely
// on that.
func (f *Family) Allow(key string) (*Permit, error) {
	p, n := keyArgs(key)
	r := C.circuit_go_family_allow(f.h, p, n)
	runtime.KeepAlive(key)
	runtime.KeepAlive(f)
	if r.status != C.CIRCUIT_OK {
		if e := fleetRejection(f.memberName(key), r.status, r.retry_after_ns); e != nil {
			return nil, e
		}
		if reason, ok := rejectReasonOf(r.status); ok {
			return nil, newRejection(f.memberName(key), reason, uint64(r.retry_after_ns))
		}
		return nil, errorFor(r.status, "")
	}
	cell := new(permitCell)
	cell.cleanup = runtime.AddCleanup(cell, recordDroppedMember, r.permit)
	return &Permit{cell: cell, seq: claimCell(cell), c: r.permit}, nil
}

// recordDroppedMember records an unrecorded family permit as ignored, which releases its member.
func recordDroppedMember(c C.circuit_permit) { C.circuit_go_record(c.breaker, c, outcomeIgnored) }
