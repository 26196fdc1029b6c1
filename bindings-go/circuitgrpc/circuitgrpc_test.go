package circuitgrpc

import (
	"context"
	"errors"
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// hangGuard bounds a call that must end on its own (never asserted on).
const hangGuard = 30 * time.Second

func newFamily(t *testing.T, cfg circuit.Config) (*circuit.Family, *circuit.ManualClock) {
	t.Helper()
	clock, err := circuit.NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clock.Close() })
	cfg.Clock = clock
	f, err := circuit.NewFamily(cfg, circuit.FamilyOptions{MaxKeys: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, clock
}

// metricsOf is the snapshot of key's breaker (without keeping it pinned).
func metricsOf(t *testing.T, f *circuit.Family, key string) circuit.Metrics {
	t.Helper()
	b, err := f.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

func check(t *testing.T, c healthpb.HealthClient) error {
	_, err := c.Check(callCtx(t), &healthpb.HealthCheckRequest{})
	return err
}

func assertRejected(t *testing.T, err error, key string) {
	t.Helper()
	var rejected *RejectedError
	var inner *circuit.RejectedError
	if status.Code(err) != codes.Unavailable || !errors.Is(err, circuit.ErrOpen) || !errors.As(err, &rejected) || !errors.As(err, &inner) || rejected.Key != key {
		t.Fatalf("want a rejection of %q that is both codes.Unavailable and circuit.ErrOpen, got %v (code %v)", key, err, status.Code(err))
	}
}

func TestUnaryFailureCodesOpenTheBreaker(t *testing.T) {
	for _, code := range []codes.Code{codes.DeadlineExceeded, codes.Internal, codes.Unavailable, codes.DataLoss, codes.Unimplemented, codes.ResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			u := startUpstream(t)
			u.failWith(func(context.Context) error { return status.Error(code, "sick") })
			f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(2)})
			c := dial(t, u.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))
			for range 2 {
				if err := check(t, c); status.Code(err) != code || errors.Is(err, circuit.ErrOpen) {
					t.Fatalf("the server's error must come back, got %v", err)
				}
			}
			assertRejected(t, check(t, c), u.addr)
			if got := u.calls.Load(); got != 2 {
				t.Fatalf("a rejected call must not reach the server: %d calls", got)
			}
		})
	}
}

func TestUnaryOtherCodesAreSuccesses(t *testing.T) {
	u := startUpstream(t)
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)})
	c := dial(t, u.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))
	others := []codes.Code{codes.NotFound, codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated,
		codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Unknown, codes.Canceled}
	for _, code := range others {
		u.failWith(func(context.Context) error { return status.Error(code, "the caller's business") })
		if err := check(t, c); status.Code(err) != code {
			t.Fatalf("want %v, got %v", code, err)
		}
	}
	u.failWith(func(context.Context) error { return nil })
	if err := check(t, c); err != nil {
		t.Fatal(err)
	}
	if m := metricsOf(t, f, u.addr); m.State != circuit.StateClosed || m.Successes != uint64(len(others)+1) || m.Failures != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestOneBreakerPerTarget(t *testing.T) {
	sick, healthy := startUpstream(t), startUpstream(t)
	sick.failWith(func(context.Context) error { return status.Error(codes.Unavailable, "down") })
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)})
	toSick := dial(t, sick.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))
	toHealthy := dial(t, healthy.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))
	_ = check(t, toSick)
	assertRejected(t, check(t, toSick), sick.addr)
	for range 3 {
		if err := check(t, toHealthy); err != nil {
			t.Fatalf("another target must not be rejected: %v", err)
		}
	}
}

func TestPerMethodKeysByMethod(t *testing.T) {
	u := startUpstream(t)
	u.failWith(func(context.Context) error { return status.Error(codes.Internal, "bug") })
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)})
	c := dial(t, u.addr, UnaryClientInterceptor(f, PerMethod()), StreamClientInterceptor(f, PerMethod()))
	_ = check(t, c)
	assertRejected(t, check(t, c), u.addr+healthpb.Health_Check_FullMethodName)
	u.failWith(func(context.Context) error { return nil })
	// Watch has its own breaker, still closed.
	stream, err := c.Watch(callCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("got %v, %v", resp, err)
	}
}

func TestCallerCancellationIsIgnoredAndADeadlineIsAFailure(t *testing.T) {
	u := startUpstream(t)
	arrived := make(chan struct{}, 1)
	u.failWith(func(ctx context.Context) error {
		arrived <- struct{}{}
		<-ctx.Done() // hang until the client gives up
		return ctx.Err()
	})
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)})
	c := dial(t, u.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))
	ctx, cancel := context.WithCancel(callCtx(t))
	go func() { <-arrived; cancel() }()
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Canceled {
		t.Fatalf("want Canceled, got %v", err)
	}
	if m := metricsOf(t, f, u.addr); m.Ignored != 1 || m.Failures != 0 || m.State != circuit.StateClosed {
		t.Fatalf("the caller's cancellation must be ignored: %+v", m)
	}
	deadline, cancelDeadline := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelDeadline()
	if _, err := c.Check(deadline, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("want DeadlineExceeded, got %v", err)
	}
	<-arrived
	if m := metricsOf(t, f, u.addr); m.Failures != 1 || m.State != circuit.StateOpen {
		t.Fatalf("a deadline must be a failure: %+v", m)
	}
}

func TestRetryInfoKeepsTheBreakerOpen(t *testing.T) {
	u := startUpstream(t)
	u.failWith(func(context.Context) error {
		st, err := status.New(codes.Unavailable, "overloaded").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(90 * time.Second)})
		if err != nil {
			return err
		}
		return st.Err()
	})
	f, clock := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1), ResetTimeout: circuit.Of(time.Second)})
	c := dial(t, u.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))
	_ = check(t, c)
	clock.Advance(time.Minute) // past reset_timeout, not past the server's 90 s
	err := check(t, c)
	assertRejected(t, err, u.addr)
	var inner *circuit.RejectedError
	errors.As(err, &inner)
	if inner.RetryAfter == nil || *inner.RetryAfter != 30*time.Second {
		t.Fatalf("want 30 s left of the server's 90 s, got %v", inner.RetryAfter)
	}
	// The rejection's status carries the same retry time for the caller's own retry policy.
	if delay := retryDelay(status.Convert(err)); delay != 30*time.Second {
		t.Fatalf("RetryInfo in the rejection's status: %v", delay)
	}
	clock.Advance(30 * time.Second)
	u.failWith(func(context.Context) error { return nil })
	if err := check(t, c); err != nil {
		t.Fatalf("the probe after the server's retry time must go through: %v", err)
	}
}

func TestStreamOutcomes(t *testing.T) {
	u := startUpstream(t)
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)})
	c := dial(t, u.addr, UnaryClientInterceptor(f), StreamClientInterceptor(f))

	// A healthy stream: its first message is a success; cancelling it afterwards changes nothing.
	ctx, cancel := context.WithCancel(callCtx(t))
	stream, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("want Canceled, got %v", err)
	}
	if m := metricsOf(t, f, u.addr); m.Successes != 1 || m.Ignored != 0 || m.Failures != 0 {
		t.Fatalf("one success only: %+v", m)
	}

	// Cancelled by the caller before any answer: ignored, even if the caller never reads.
	arrived := make(chan struct{}, 1)
	u.failWith(func(ctx context.Context) error { arrived <- struct{}{}; <-ctx.Done(); return ctx.Err() })
	ctx, cancel = context.WithCancel(callCtx(t))
	if _, err := c.Watch(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	<-arrived
	cancel()
	waitFor(t, func() bool { return metricsOf(t, f, u.addr).Ignored == 1 })

	// A stream that ends with a failure code opens the breaker; the next stream is rejected.
	u.failWith(func(context.Context) error { return status.Error(codes.Unavailable, "down") })
	stream, err = c.Watch(callCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("want Unavailable, got %v", err)
	}
	_, err = c.Watch(callCtx(t), &healthpb.HealthCheckRequest{})
	assertRejected(t, err, u.addr)
	if m := metricsOf(t, f, u.addr); m.Successes != 1 || m.Ignored != 1 || m.Failures != 1 || m.State != circuit.StateOpen {
		t.Fatalf("metrics %+v", m)
	}
}

// waitFor polls cond (an outcome recorded on another goroutine) up to the hang guard.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(hangGuard); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition not reached (hang guard)")
		}
	}
}

func TestNilFamilyFailsTheCallWithoutPanicking(t *testing.T) {
	u := startUpstream(t)
	c := dial(t, u.addr, UnaryClientInterceptor(nil), StreamClientInterceptor(nil))
	if err := check(t, c); status.Code(err) != codes.Internal {
		t.Fatalf("want Internal naming the problem, got %v", err)
	}
	if _, err := c.Watch(callCtx(t), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Internal {
		t.Fatalf("want Internal naming the problem, got %v", err)
	}
}

func TestCustomClassifier(t *testing.T) {
	u := startUpstream(t)
	u.failWith(func(context.Context) error { return status.Error(codes.NotFound, "gone") })
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)})
	notFoundFails := WithClassifier(func(ctx context.Context, err error) Verdict {
		if status.Code(err) == codes.NotFound {
			return Verdict{Outcome: circuit.OutcomeFailure}
		}
		return Classify(ctx, err)
	})
	c := dial(t, u.addr, UnaryClientInterceptor(f, notFoundFails), StreamClientInterceptor(f, notFoundFails))
	_ = check(t, c)
	assertRejected(t, check(t, c), u.addr)
}
