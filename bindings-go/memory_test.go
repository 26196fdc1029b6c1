package circuit

import (
	"testing"

	"github.com/circuit-rs/circuit/bindings-go/internal/memory"
)

// Memory per breaker, from Go (cmd/circuit-memory prints the figures for BENCHMARKS.md). The
// bounds are loose regression guards, about 1.7x and 3x what is measured today (224 bytes of Go
// heap, about 1.2 KiB of C heap), so allocator or Go version drift never trips them; a leak per
// breaker, or per call, does.
func TestMemoryPerBreaker(t *testing.T) {
	const n = 5000
	_, haveC := memory.CHeapInUse()
	for _, c := range []struct {
		name   string
		config Config
	}{
		{"consecutive", Config{FailureThreshold: Of(5)}},
		{"count window of 100", Config{FailureRateThreshold: Of(0.5), WindowSize: Of(100)}},
	} {
		held := make([]*Breaker, 0, n)
		cost := memory.Measure(n, func() (any, func()) {
			for i := 0; i < n; i++ {
				b, err := New(c.config)
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < 3; j++ {
					_ = b.Execute(func() error { return nil })
				}
				held = append(held, b)
			}
			return held, nil
		})
		t.Logf("%s: %.0f bytes of Go heap + %.0f of C heap per breaker", c.name, cost.GoHeap, cost.CHeap)
		if cost.GoHeap > 384 {
			t.Errorf("%s: %.0f bytes of Go heap per breaker", c.name, cost.GoHeap)
		}
		if haveC && cost.CHeap > 4096 {
			t.Errorf("%s: %.0f bytes of C heap per breaker", c.name, cost.CHeap)
		}
		// Closing them gives the memory back.
		freed := memory.Measure(n, func() (any, func()) {
			for _, b := range held {
				_ = b.Close()
			}
			held = nil
			return nil, nil
		})
		if freed.GoHeap > -0.5*cost.GoHeap || (haveC && freed.CHeap > -0.9*cost.CHeap) {
			t.Errorf("%s: Close gave back %.0f of %.0f bytes of Go heap and %.0f of %.0f of C heap per breaker",
				c.name, -freed.GoHeap, cost.GoHeap, -freed.CHeap, cost.CHeap)
		}
	}
}
