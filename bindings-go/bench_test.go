package circuit

import (
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Benchmarks against sony/gobreaker v2, each circuit/gobreaker pair in one `go test -bench` run
// (scripts/bench-abi writes them to BENCHMARKS.md; scripts/bench-quick-go turns BenchmarkExecute,
// BenchmarkExecuteParallel and BenchmarkRejectOpen into the quick guard's ratios). gobreaker is
// a test-only dependency.

func BenchmarkExecute(b *testing.B) {
	cb, err := New(Config{FailureThreshold: Of(5)})
	if err != nil {
		b.Fatal(err)
	}
	defer cb.Close()
	fn := func() error { return nil }
	b.Run("circuit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = cb.Execute(fn)
		}
	})
	gb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
	gfn := func() (struct{}, error) { return struct{}{}, nil }
	b.Run("gobreaker", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = gb.Execute(gfn)
		}
	})
}

func BenchmarkExecuteParallel(b *testing.B) {
	cb, err := New(Config{FailureThreshold: Of(5)})
	if err != nil {
		b.Fatal(err)
	}
	defer cb.Close()
	fn := func() error { return nil }
	b.Run("circuit", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = cb.Execute(fn)
			}
		})
	})
	gb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
	gfn := func() (struct{}, error) { return struct{}{}, nil }
	b.Run("gobreaker", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = gb.Execute(gfn)
			}
		})
	})
}

func BenchmarkRejectOpen(b *testing.B) {
	cb, _ := New(Config{FailureThreshold: Of(1)})
	defer cb.Close()
	_ = cb.ForceOpen()
	_ = cb.Reset()
	_ = cb.Execute(func() error { return errTest })
	b.Run("circuit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = cb.Execute(func() error { return nil })
		}
	})
	gb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	_, _ = gb.Execute(func() (struct{}, error) { return struct{}{}, errTest })
	b.Run("gobreaker", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = gb.Execute(func() (struct{}, error) { return struct{}{}, nil })
		}
	})
}

// BenchmarkRejectForcedOpen: a rejection of a breaker forced open (gobreaker has no forced-open
// state; its open-state rejection is the reference).
func BenchmarkRejectForcedOpen(b *testing.B) {
	cb, _ := New(Config{})
	defer cb.Close()
	_ = cb.ForceOpen()
	b.Run("circuit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = cb.Execute(func() error { return nil })
		}
	})
	gb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	_, _ = gb.Execute(func() (struct{}, error) { return struct{}{}, errTest })
	b.Run("gobreaker", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = gb.Execute(func() (struct{}, error) { return struct{}{}, nil })
		}
	})
}

// BenchmarkRejectHalfOpenFull: a rejection while half-open with the only probe out (gobreaker:
// ErrTooManyRequests with MaxRequests 1).
func BenchmarkRejectHalfOpenFull(b *testing.B) {
	clock, _ := NewManualClock()
	defer clock.Close()
	cb, _ := New(Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
	defer cb.Close()
	_ = cb.Execute(func() error { return errTest })
	clock.Advance(time.Second)
	probe, err := cb.Allow()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("circuit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = cb.Execute(func() error { return nil })
		}
	})
	_, _ = cb.RecordIgnored(probe)
	gb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Timeout: time.Millisecond, ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	if done, err := gb.Allow(); err == nil {
		done(errTest)
	}
	time.Sleep(2 * time.Millisecond)
	done, err := gb.Allow() // the one half-open probe, held
	if err != nil {
		b.Fatal(err)
	}
	b.Run("gobreaker", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = gb.Allow()
		}
	})
	done(nil)
}

// BenchmarkAllowRecord: the two-step API, closed (gobreaker's TwoStepCircuitBreaker).
func BenchmarkAllowRecord(b *testing.B) {
	cb, _ := New(Config{FailureThreshold: Of(5)})
	defer cb.Close()
	b.Run("circuit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, _ := cb.Allow()
			_, _ = cb.RecordSuccess(p)
		}
	})
	gb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
	b.Run("gobreaker", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			done, _ := gb.Allow()
			done(nil)
		}
	})
}

type testError struct{}

func (testError) Error() string { return "test error" }

var errTest error = testError{}

// BenchmarkCgoFloor is one cgo call that does nothing: the floor under every circuit call from
// Go (Execute is two of them, a rejection one).
func BenchmarkCgoFloor(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cgoFloor()
	}
}
