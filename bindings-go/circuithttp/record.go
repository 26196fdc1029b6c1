package circuithttp

import circuit "github.com/circuit-rs/circuit/bindings-go"

// record records a call's verdict on the breaker that admitted it (which releases the member the
// permit pinned): a failure with its retry time when it has one.
func record(permit *circuit.Permit, v Verdict) {
	if v.Outcome == circuit.OutcomeFailure && v.RetryAfter > 0 {
		_, _ = permit.RecordFailureRetryAfter(v.RetryAfter)
		return
	}
	_, _ = permit.Record(v.Outcome)
}
