package circuitgrpc

import (
	"context"
	"errors"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Verdict is what one call means to its breaker.
type Verdict struct {
	Outcome circuit.Outcome
	// RetryAfter, when > 0 on a failure, is the dependency's retry time: if this failure opens
	// the breaker, it stays open at least this long (capped by Config.MaxResetTimeout).
	RetryAfter time.Duration
}

// failureCodes are the codes that say the server (or the way to it) is in trouble.
var failureCodes = map[codes.Code]bool{
	codes.DeadlineExceeded:  true,
	codes.Internal:          true,
	codes.Unavailable:       true,
	codes.DataLoss:          true,
	codes.Unimplemented:     true,
	codes.ResourceExhausted: true,
}

// Classify is the default classifier: nil is a success; Canceled while ctx (the caller's) is done
// is ignored; DeadlineExceeded, Internal, Unavailable, DataLoss, Unimplemented and
// ResourceExhausted are failures, with the retry delay of a google.rpc.RetryInfo detail if the
// status has one; any other code is a success.
func Classify(ctx context.Context, err error) Verdict {
	if err == nil {
		return Verdict{Outcome: circuit.OutcomeSuccess}
	}
	st := status.Convert(err)
	if ctx.Err() != nil && (st.Code() == codes.Canceled || errors.Is(err, context.Canceled)) {
		return Verdict{Outcome: circuit.OutcomeIgnored}
	}
	if !failureCodes[st.Code()] {
		return Verdict{Outcome: circuit.OutcomeSuccess}
	}
	return Verdict{Outcome: circuit.OutcomeFailure, RetryAfter: retryDelay(st)}
}

// retryDelay is the delay of the status's google.rpc.RetryInfo detail (0 if none).
func retryDelay(st *status.Status) time.Duration {
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			if d := info.GetRetryDelay().AsDuration(); d > 0 {
				return d
			}
		}
	}
	return 0
}
