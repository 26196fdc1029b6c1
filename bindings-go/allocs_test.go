package circuit

import (
	"errors"
	"testing"
	"time"
)

// docs/go.md "Performance": neither the closed path nor a rejection allocates. AllocsPerRun
// reports the average per run rounded down, so one allocation per call (the regression these
// guard against) reads 1. The open breakers here are far from their due instant (see
// rejection.go). Under -race, sync.Pool drops a quarter of what is put back by design,
// which Allow's recycled permit cells then re-allocate; that averages below one per call.

const allocRuns = 1000

func assertNoAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(allocRuns, f); n != 0 {
		t.Errorf("%s allocates %v times per call", what, n)
	}
}

func TestClosedPathAllocatesNothing(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1000000)})
	fail := errors.New("x")
	fn := func() error { return fail }
	ok := func() error { return nil }
	// Recording on every path (success, failure) must not change that.
	assertNoAllocs(t, "Execute", func() { _ = b.Execute(ok); _ = b.Execute(fn) })
	assertNoAllocs(t, "Allow+RecordSuccess", func() {
		p, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.RecordSuccess(p); err != nil {
			t.Fatal(err)
		}
	})
	assertNoAllocs(t, "Allow+RecordFailure", func() {
		p, _ := b.Allow()
		_, _ = b.RecordFailure(p)
	})
	// A failure rate of one half never reaches the threshold 1: the window stays closed.
	rate := newBreaker(t, Config{FailureRateThreshold: Of(1.0), WindowSize: Of(100)})
	assertNoAllocs(t, "Execute (failure-rate window)", func() { _ = rate.Execute(ok); _ = rate.Execute(fn) })
	for _, b := range []*Breaker{b, rate} {
		if s := b.State(); s != StateClosed {
			t.Fatalf("the closed path left the breaker %s", s)
		}
	}
}

// rejectingBreakers are breakers that refuse every call, one per reason, on the monotonic clock
// (whose coarse tick changes RetryAfter every few milliseconds) and on a manual clock.
func rejectingBreakers(t *testing.T) map[string]*Breaker {
	t.Helper()
	down := func() error { return errTest }
	open := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Hour)})
	_ = open.Execute(down)
	clock := manualClock(t)
	openManual := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Hour), Clock: clock})
	_ = openManual.Execute(down)
	forced := newBreaker(t, Config{})
	if err := forced.ForceOpen(); err != nil {
		t.Fatal(err)
	}
	full := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
	_ = full.Execute(down)
	clock.Advance(time.Second)
	if p, err := full.Allow(); err != nil || !p.IsProbe() {
		t.Fatalf("probe: %v", err)
	} else {
		t.Cleanup(func() { _, _ = full.RecordIgnored(p) })
	}
	return map[string]*Breaker{"open": open, "open (manual clock)": openManual, "forced_open": forced, "half_open_full": full}
}

func TestRejectionsAllocateNothing(t *testing.T) {
	for name, b := range rejectingBreakers(t) {
		if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
			t.Fatalf("%s: expected a rejection, got %v", name, err)
		}
		assertNoAllocs(t, name+": Allow", func() { _, _ = b.Allow() })
		assertNoAllocs(t, name+": Execute", func() { _ = b.Execute(func() error { return nil }) })
	}
}
