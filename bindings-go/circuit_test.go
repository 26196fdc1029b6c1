package circuit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newBreaker(t *testing.T, c Config) *Breaker {
	t.Helper()
	b, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func manualClock(t *testing.T) *ManualClock {
	t.Helper()
	c, err := NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRejectionErrorsMatchWithErrorsIsAndAs(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{Name: "payments", FailureThreshold: Of(1), ResetTimeout: Of(2 * time.Second), Clock: clock})
	if err := b.Execute(func() error { return errors.New("boom") }); err == nil || errors.Is(err, ErrOpen) {
		t.Fatalf("the function's own error must come back, got %v", err)
	}
	err := b.Execute(func() error { t.Fatal("must not run while open"); return nil })
	if !errors.Is(err, ErrOpen) || errors.Is(err, ErrForcedOpen) || errors.Is(err, ErrHalfOpenFull) {
		t.Fatalf("errors.Is mismatch: %v", err)
	}
	var re *RejectedError
	if !errors.As(err, &re) || re.Name != "payments" || re.State != StateOpen || re.Reason != "open" || re.RetryAfter == nil || *re.RetryAfter != 2*time.Second {
		t.Fatalf("rejection details: %+v", re)
	}
	if got := err.Error(); got != `circuit "payments" rejected the call (open); retry after 2s` {
		t.Fatalf("message %q", got)
	}
	if err := b.ForceOpen(); err != nil {
		t.Fatal(err)
	}
	_, err = b.Allow()
	if !errors.Is(err, ErrForcedOpen) || !errors.Is(err, ErrOpen) {
		t.Fatalf("forced open: %v", err)
	}
	if errors.As(err, &re); re.RetryAfter != nil {
		t.Fatal("forced open has no retry-after")
	}
}

func TestHalfOpenFullAndProbe(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
	_ = b.Execute(func() error { return errors.New("down") })
	clock.Advance(time.Second)
	p, err := b.Allow()
	if err != nil || !p.IsProbe() {
		t.Fatalf("probe: %v %v", err, p.IsProbe())
	}
	if _, err := b.Allow(); !errors.Is(err, ErrHalfOpenFull) {
		t.Fatalf("expected half-open full, got %v", err)
	}
	counted, err := b.RecordSuccess(p)
	if !counted || err != nil {
		t.Fatal(counted, err)
	}
	if _, err := b.RecordSuccess(p); !errors.Is(err, ErrAlreadyRecorded) {
		t.Fatalf("double record: %v", err)
	}
	copyOfPermit := p
	if _, err := b.RecordFailure(copyOfPermit); !errors.Is(err, ErrAlreadyRecorded) {
		t.Fatalf("a copy shares the recorded flag: %v", err)
	}
	if b.State() != StateClosed {
		t.Fatal(b.State())
	}
}

func TestPermitErrors(t *testing.T) {
	a := newBreaker(t, Config{})
	b := newBreaker(t, Config{})
	p, _ := a.Allow()
	if _, err := b.RecordSuccess(p); !errors.Is(err, ErrForeignPermit) {
		t.Fatalf("foreign permit: %v", err)
	}
	if _, err := b.RecordSuccess(Permit{}); !errors.Is(err, ErrInvalidPermit) {
		t.Fatalf("zero permit: %v", err)
	}
	old, _ := a.Allow()
	_ = a.Reset()
	counted, err := a.RecordFailure(old)
	if counted || err != nil {
		t.Fatalf("stale permit: counted=%v err=%v", counted, err)
	}
	m, _ := a.Metrics()
	if m.Stale != 1 || m.Failures != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestExecutePanicCountsAsFailureAndRepanics(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1)})
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("the panic must continue, got %v", r)
			}
		}()
		_ = b.Execute(func() error { panic("kaboom") })
	}()
	m, _ := b.Metrics()
	if m.Failures != 1 || m.State != StateOpen {
		t.Fatalf("panic recorded as failure: %+v", m)
	}
}

func TestExecuteIgnoresCancellation(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1)})
	err := b.Execute(func() error { return fmt.Errorf("wrapped: %w", context.Canceled) })
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	custom := newBreaker(t, Config{FailureThreshold: Of(1), IsIgnored: func(err error) bool { return err.Error() == "not found" }})
	_ = custom.Execute(func() error { return errors.New("not found") })
	m1, _ := b.Metrics()
	m2, _ := custom.Metrics()
	if m1.Ignored != 1 || m1.State != StateClosed || m2.Ignored != 1 || m2.State != StateClosed {
		t.Fatalf("%+v %+v", m1, m2)
	}
}

func TestConfigErrorsNameTheOption(t *testing.T) {
	cases := map[string]Config{
		"failure_rate_threshold": {FailureRateThreshold: Of(1.5)},
		"success_threshold":      {HalfOpenMaxCalls: Of(2), SuccessThreshold: Of(3)},
		"reset_timeout":          {ResetTimeout: Of(-time.Second)},
		"window_size":            {FailureRateThreshold: Of(0.5), WindowSize: Of(-1)},
		"backoff_multiplier":     {BackoffMultiplier: Of(0.5)},
		"name":                   {Name: "a\x00b"},
	}
	for option, config := range cases {
		b, err := New(config)
		var ce *ConfigError
		if b != nil || !errors.As(err, &ce) || ce.Option != option {
			t.Errorf("%s: got %v (%T)", option, err, err)
		}
	}
}

func TestListenersOrderReentrancyAndPanics(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
	var got []string
	_, _ = b.OnStateChange(func(tr Transition) { panic("listener bug") })
	remove, err := b.OnStateChange(func(tr Transition) {
		got = append(got, fmt.Sprintf("%s->%s:%s@%v", tr.From, tr.To, tr.Reason, tr.At))
		_ = b.State() // calling back into the breaker from a listener is allowed
		if tr.To == StateOpen && tr.Reason == "failure_threshold" {
			_ = b.Reset()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Execute(func() error { return errors.New("x") })
	want := []string{"closed->open:failure_threshold@0s", "open->closed:reset@0s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v", got)
	}
	remove()
	_ = b.ForceOpen()
	if len(got) != 2 {
		t.Fatal("removed listener was called")
	}
}

func TestCloseIsIdempotentAndSafe(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				err := b.Execute(func() error { return nil })
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("unexpected %v", err)
					return
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	wg.Wait()
	if _, err := b.Allow(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := b.Metrics(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if b.State() != "" || !errors.Is(b.Reset(), ErrClosed) {
		t.Fatal("methods after Close")
	}
}

func TestConcurrentUseCountsEveryCall(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1000000)})
	const goroutines, calls = 8, 5000
	var failures atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				err := b.Execute(func() error {
					if (i+g)%10 == 0 {
						return errors.New("x")
					}
					return nil
				})
				if err != nil {
					failures.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	m, _ := b.Metrics()
	if m.Admitted != goroutines*calls || m.Successes+m.Failures != goroutines*calls || int64(m.Failures) != failures.Load() {
		t.Fatalf("%+v (failures seen %d)", m, failures.Load())
	}
}

func TestProbeSlotReturnedByFinalizer(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
	_ = b.Execute(func() error { return errors.New("x") })
	clock.Advance(time.Second)
	func() {
		p, err := b.Allow()
		if err != nil || !p.IsProbe() {
			t.Fatal(err)
		}
	}() // the probe permit is dropped unrecorded
	for i := 0; i < 200; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p, err := b.Allow(); err == nil {
			_, _ = b.RecordSuccess(p)
			return
		}
	}
	t.Fatal("the dropped probe's slot was never returned")
}

func TestManualClock(t *testing.T) {
	c := manualClock(t)
	if c.Now() != 0 || c.Advance(1500*time.Millisecond) != 1500*time.Millisecond {
		t.Fatal("advance")
	}
	if c.Advance(-time.Second) != 1500*time.Millisecond {
		t.Fatal("negative advance must be refused")
	}
	_ = c.Close()
	_ = c.Close()
	if _, err := New(Config{Clock: c}); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed clock: %v", err)
	}
}

// However Execute ends (the function panics, the IsIgnored classifier panics, the function
// calls runtime.Goexit), the half-open probe is recorded as a failure and its slot is not held.
func TestExecuteRecordsTheProbeOnEveryAbnormalPath(t *testing.T) {
	for name, tc := range map[string]struct {
		fn        func() error
		isIgnored func(error) bool
		panics    any
	}{
		"fn panics":         {fn: func() error { panic("fn bug") }, panics: "fn bug"},
		"classifier panics": {fn: func() error { return errors.New("down") }, isIgnored: func(error) bool { panic("classifier bug") }, panics: "classifier bug"},
		"fn exits":          {fn: func() error { runtime.Goexit(); return nil }},
	} {
		t.Run(name, func(t *testing.T) {
			clock := manualClock(t)
			b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock, IsIgnored: tc.isIgnored})
			p, _ := b.Allow()
			_, _ = b.RecordFailure(p)
			clock.Advance(time.Second)
			var recovered any
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { recovered = recover() }()
				_ = b.Execute(tc.fn)
			}()
			<-done
			if recovered != tc.panics {
				t.Fatalf("the panic must continue: got %v, want %v", recovered, tc.panics)
			}
			m, _ := b.Metrics()
			if m.State != StateOpen || m.Failures != 2 {
				t.Fatalf("the probe must be recorded as a failure: %+v", m)
			}
			clock.Advance(time.Second)
			probe, err := b.Allow()
			if err != nil {
				t.Fatalf("the probe slot leaked: %v", err)
			}
			_, _ = b.RecordSuccess(probe)
		})
	}
}

// A zero Breaker{} (not made by New) behaves like a closed one: errors, never a panic.
func TestZeroBreakerBehavesAsClosed(t *testing.T) {
	var b Breaker
	if _, err := b.Allow(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Allow: %v", err)
	}
	if err := b.Execute(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Execute: %v", err)
	}
	if _, err := b.Metrics(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Metrics: %v", err)
	}
	if err := b.Reset(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset: %v", err)
	}
	if _, err := b.OnStateChange(func(Transition) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnStateChange: %v", err)
	}
	if s := b.State(); s != "" {
		t.Fatalf("State: %q", s)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A deadline inside the protected function is the dependency's failure; the caller's cancel is not.
func TestExecuteCountsADeadlineAsAFailureAndACancelAsIgnored(t *testing.T) {
	b, err := New(Config{FailureThreshold: Of(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Execute(func() error { return cancelled.Err() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	if err := b.Execute(func() error {
		ctx, stop := context.WithTimeout(context.Background(), time.Millisecond)
		defer stop()
		<-ctx.Done()
		return ctx.Err()
	}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	m, _ := b.Metrics()
	if m.Ignored != 1 || m.Failures != 1 || m.State != StateOpen {
		t.Fatalf("ignored %d failures %d state %s", m.Ignored, m.Failures, m.State)
	}
}

// The State constants are the library's spellings, in code order; so are the rejection reasons.
func TestSpellingsAreTheLibrarys(t *testing.T) {
	want := []State{StateClosed, StateOpen, StateHalfOpen, StateForcedOpen, StateDisabled}
	got := libraryStateNames()
	if len(got) != len(want) {
		t.Fatalf("library states %v, Go constants %v", got, want)
	}
	for i, name := range got {
		if State(name) != want[i] {
			t.Fatalf("state %d: library %q, Go %q", i, name, want[i])
		}
	}
	if rejectReasons != [3]string{"open", "half_open_full", "forced_open"} {
		t.Fatalf("reject reasons %v", rejectReasons)
	}
}
