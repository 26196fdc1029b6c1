// Package circuitgrpc protects gRPC client calls with circuit breakers: one breaker per target
// (cc.Target()), taken from a circuit.Family, by default.
//
//	family, err := circuit.NewFamily(circuit.Config{FailureThreshold: circuit.Of(5)}, circuit.FamilyOptions{})
//	if err != nil { ... }
//	defer family.Close()
//	conn, err := grpc.NewClient(target,
//		grpc.WithUnaryInterceptor(circuitgrpc.UnaryClientInterceptor(family)),
//		grpc.WithStreamInterceptor(circuitgrpc.StreamClientInterceptor(family)))
//
// A call is a failure when it ends with DeadlineExceeded, Internal, Unavailable, DataLoss,
// Unimplemented or ResourceExhausted (the codes go-zero counts); Canceled while the caller's own
// context is done is ignored; every other code is a success (the server answered). A failure whose
// status carries a google.rpc.RetryInfo is recorded with its retry delay
// (circuit.Breaker.RecordFailureRetryAfter). A rejected call fails without reaching the network
// with a *RejectedError: its gRPC status is codes.Unavailable (status.Code(err)) and it wraps the
// breaker's rejection (errors.Is(err, circuit.ErrOpen)). Guide: docs/integrations/go-grpc.md.
package circuitgrpc

import (
	"context"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// Option configures an interceptor.
type Option func(*options)

type options struct {
	key      func(target, method string) string
	classify func(ctx context.Context, err error) Verdict
}

func newOptions(opts []Option) options {
	o := options{key: byTarget, classify: Classify}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func byTarget(target, _ string) string { return target }

// PerMethod keys the breakers by target and full method name ("dns:///inventory:443" +
// "/inventory.Stock/Get"), so one failing method does not reject the others.
func PerMethod() Option {
	return func(o *options) { o.key = func(target, method string) string { return target + method } }
}

// WithKey chooses the breaker of each call from its target (cc.Target()) and full method name.
func WithKey(key func(target, method string) string) Option {
	return func(o *options) {
		if key != nil {
			o.key = key
		}
	}
}

// WithClassifier replaces Classify, the decision of what a call's error means to its breaker.
// ctx is the caller's context of the call.
func WithClassifier(classify func(ctx context.Context, err error) Verdict) Option {
	return func(o *options) {
		if classify != nil {
			o.classify = classify
		}
	}
}

// admit takes a permit from the call's breaker, or returns the call's rejection error.
func (o *options) admit(family *circuit.Family, target, method string) (*circuit.Permit, error) {
	if family == nil {
		return nil, errNoFamily
	}
	key := o.key(target, method)
	permit, err := family.Allow(key)
	if err != nil {
		return nil, rejection(key, err)
	}
	return permit, nil
}
