package circuitredis

import (
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// BenchmarkExecuteWithFleet times the closed-state Execute of the same breaker configuration
// with and without a fleet breaker (a RedisFleet over a real redis-server on loopback, synced
// every 250 ms by its goroutine during the run), interleaved in chunks of 10,000 calls so that
// both see the same machine. It reports local-ns/call, fleet-ns/call and their ratio
// (local/fleet, bigger is better); scripts/bench-abi writes them to BENCHMARKS.md.
func BenchmarkExecuteWithFleet(b *testing.B) {
	s := startRedis(b, freePort(b), b.TempDir())
	defer s.stop()
	in := newInstance(b, s.addr(), "bench-fleet", circuit.FleetOptions{})
	local, err := circuit.New(circuit.Config{Name: "bench-local", FailureThreshold: circuit.Of(0), FailureRateThreshold: circuit.Of(1.0), WindowSize: circuit.Of(1000), MinimumCalls: circuit.Of(1000)})
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	ok := func() error { return nil }
	waitFor(b, 5*time.Second, "the fleet's first sync", func() bool {
		_ = in.b.Execute(ok)
		st, _ := in.fleet.Status()
		return st.Syncs > 0 && st.SyncFailures == 0
	})
	run := func(br *circuit.Breaker, n int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := br.Execute(ok); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	const chunk = 10_000
	var spentLocal, spentFleet time.Duration
	calls := 0
	b.ReportAllocs()
	b.ResetTimer()
	for calls < b.N {
		n := min(chunk, b.N-calls)
		spentLocal += run(local, n)
		spentFleet += run(in.b, n)
		calls += n
	}
	b.StopTimer()
	if st, _ := in.fleet.Status(); st.SyncFailures != 0 {
		b.Fatalf("the store failed during the run: %+v", st)
	}
	b.ReportMetric(float64(spentLocal.Nanoseconds())/float64(calls), "local-ns/call")
	b.ReportMetric(float64(spentFleet.Nanoseconds())/float64(calls), "fleet-ns/call")
	b.ReportMetric(float64(spentLocal)/float64(spentFleet), "local/fleet")
}
