package circuitgrpc

import (
	"context"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"google.golang.org/grpc"
)

// UnaryClientInterceptor protects unary calls: each call takes a permit from its breaker in
// family (keyed by cc.Target() unless PerMethod or WithKey says otherwise) and records the call's
// outcome when it returns. A rejected call returns a *RejectedError without being sent.
func UnaryClientInterceptor(family *circuit.Family, opts ...Option) grpc.UnaryClientInterceptor {
	o := newOptions(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		permit, err := o.admit(family, cc.Target(), method)
		if err != nil {
			return err
		}
		// A panic in the invoker (another interceptor) is recorded as a failure and continues.
		verdict := Verdict{Outcome: circuit.OutcomeFailure}
		defer func() { record(permit, verdict) }()
		err = invoker(ctx, method, req, reply, cc, callOpts...)
		verdict = o.classify(ctx, err)
		return err
	}
}
