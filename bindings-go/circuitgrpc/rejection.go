package circuitgrpc

import (
	"errors"
	"fmt"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// errNoFamily is returned by interceptors built with a nil family.
var errNoFamily = status.Error(codes.Internal, "circuitgrpc: the interceptor has no circuit.Family (nil)")

// RejectedError is the error of a call its breaker rejected (the call never reached the network).
// It is a gRPC status error with codes.Unavailable (status.Code(err), status.FromError), and it
// wraps the breaker's rejection: errors.Is(err, circuit.ErrOpen) holds and errors.As gives the
// *circuit.RejectedError (its RetryAfter is also in the status as a google.rpc.RetryInfo).
type RejectedError struct {
	// Key is the breaker's key in the family (the target, by default).
	Key string
	// Err is the breaker's rejection (a *circuit.RejectedError, or circuit.ErrClosed after the
	// family was closed).
	Err error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("circuitgrpc: %s: %v", e.Key, e.Err)
}

// Unwrap returns the breaker's rejection.
func (e *RejectedError) Unwrap() error { return e.Err }

// GRPCStatus is the call's status: codes.Unavailable, with a RetryInfo detail when the breaker
// knows when it will admit a probe.
func (e *RejectedError) GRPCStatus() *status.Status {
	st := status.New(codes.Unavailable, e.Error())
	var rejected *circuit.RejectedError
	if errors.As(e.Err, &rejected) && rejected.RetryAfter != nil {
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(*rejected.RetryAfter)}); err == nil {
			return withInfo
		}
	}
	return st
}

func rejection(key string, err error) error { return &RejectedError{Key: key, Err: err} }
