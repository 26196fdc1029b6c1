package circuit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func doMetrics(t *testing.T, b *Breaker) Metrics {
	t.Helper()
	m, err := b.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDoReturnsTheValueAndCountsOutcomes(t *testing.T) {
	b := newBreaker(t, Config{Name: "stock", FailureThreshold: Of(2), Clock: manualClock(t)})
	ctx := context.Background()
	n, err := Do(ctx, b, func(context.Context) (int, error) { return 42, nil })
	if n != 42 || err != nil {
		t.Fatalf("got %d, %v", n, err)
	}
	boom := errors.New("boom")
	for range 2 {
		if _, err := Do(ctx, b, func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("fn's error must come back, got %v", err)
		}
	}
	if m := doMetrics(t, b); m.Successes != 1 || m.Failures != 2 || m.State != StateOpen {
		t.Fatalf("metrics %+v", m)
	}
	called := false
	s, err := Do(ctx, b, func(context.Context) (string, error) { called = true; return "x", nil })
	var rejected *RejectedError
	if called || s != "" || !errors.Is(err, ErrOpen) || !errors.As(err, &rejected) || rejected.Name != "stock" {
		t.Fatalf("an open breaker must reject without calling fn: called=%v value=%q err=%v", called, s, err)
	}
}

func TestDoIgnoresTheCallersCancellationOnly(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(100), Clock: manualClock(t)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Do(ctx, b, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if m := doMetrics(t, b); m.Ignored != 1 || m.Failures != 0 {
		t.Fatalf("the caller's cancellation must be ignored: %+v", m)
	}
	// context.Canceled from some other context (the caller's is live) is the dependency's failure.
	_, _ = Do(context.Background(), b, func(context.Context) (int, error) { return 0, context.Canceled })
	// A deadline is how a hanging dependency shows: a failure.
	deadline, cancelDeadline := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancelDeadline()
	_, err = Do(deadline, b, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if m := doMetrics(t, b); m.Ignored != 1 || m.Failures != 2 {
		t.Fatalf("a foreign Canceled and a deadline must be failures: %+v", m)
	}
}

func TestDoHonoursIsIgnored(t *testing.T) {
	notFound := errors.New("not found")
	b := newBreaker(t, Config{Clock: manualClock(t), IsIgnored: func(err error) bool { return errors.Is(err, notFound) }})
	_, _ = Do(context.Background(), b, func(context.Context) (int, error) { return 0, notFound })
	_, _ = Do(context.Background(), b, func(context.Context) (int, error) { return 0, errors.New("other") })
	if m := doMetrics(t, b); m.Ignored != 1 || m.Failures != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestDoRecordsAPanicAsFailureAndRepanics(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1), HalfOpenMaxCalls: Of(1), ResetTimeout: Of(time.Second), Clock: manualClock(t)})
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("the panic must continue, got %v", r)
			}
		}()
		_, _ = Do(context.Background(), b, func(context.Context) (int, error) { panic("kaboom") })
		t.Fatal("unreachable")
	}()
	if m := doMetrics(t, b); m.Failures != 1 || m.State != StateOpen {
		t.Fatalf("a panic must count as a failure: %+v", m)
	}
}

func TestDoRecordsTheProbeOnGoexit(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
	_, _ = Do(context.Background(), b, func(context.Context) (int, error) { return 0, errors.New("down") })
	clock.Advance(time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = Do(context.Background(), b, func(context.Context) (int, error) { runtime.Goexit(); return 0, nil })
	}()
	wg.Wait()
	// The probe was recorded (as a failure): the breaker re-opened instead of staying half-open
	// with its only probe slot taken.
	if m := doMetrics(t, b); m.State != StateOpen || m.Failures != 2 {
		t.Fatalf("metrics %+v", m)
	}
}
