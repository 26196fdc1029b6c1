package circuitredis

import (
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// BenchmarkExecuteWithFleet times the closed-state Execute of the same breaker configuration
// with and without a fleet breaker (a RedisFleet over a real redis-server on loopback, synced
// every 250 ms by its goroutine during the run). scripts/bench-go-fleet runs it for BENCHMARKS.md.
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
	for _, c := range []struct {
		name string
		br   *circuit.Breaker
	}{{"local", local}, {"fleet", in.b}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := c.br.Execute(ok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if st, _ := in.fleet.Status(); st.SyncFailures != 0 {
		b.Fatalf("the store failed during the run: %+v", st)
	}
}
