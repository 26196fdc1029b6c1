package circuit

import (
	"testing"

	"github.com/sony/gobreaker/v2"
)

// Benchmarks of Execute against sony/gobreaker v2 Execute, in one `go test -bench` run
// (scripts/bench-go writes the results to BENCHMARKS.md). gobreaker is a test-only dependency.

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

type testError struct{}

func (testError) Error() string { return "test error" }

var errTest error = testError{}
