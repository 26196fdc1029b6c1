// Package memory measures what breakers cost in memory from Go: the Go heap (the runtime's
// statistics after a collection) plus the C heap the engine allocates from (glibc's mallinfo2),
// and, as a cross-check that includes allocator overhead and page granularity, the growth of the
// process's resident set. cmd/circuit-memory prints the figures; the package's tests bound them.
package memory

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Usage is one reading of the process's memory.
type Usage struct {
	GoHeap uint64 // bytes of live Go objects (runtime.MemStats.HeapAlloc after a collection)
	CHeap  uint64 // bytes in use on the C heap (0 when unavailable)
	RSS    uint64 // resident set size (0 when unavailable)
}

// Read collects garbage (twice, so cleanups queued by the first run) and reads the usage.
func Read() Usage {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c, _ := CHeapInUse()
	return Usage{GoHeap: ms.HeapAlloc, CHeap: c, RSS: rss()}
}

// Cost is the memory attributed to each of n things, in bytes.
type Cost struct {
	N             int
	GoHeap, CHeap float64 // per thing
	Total         float64 // GoHeap + CHeap
	RSS           float64 // resident-set growth per thing (includes allocator overhead)
}

// Measure reads the usage, runs build (which creates n things and returns what holds them, and
// how to free them), reads the usage again while that is still reachable, then frees them and
// returns what each thing added.
func Measure(n int, build func() (held any, release func())) Cost {
	before := Read()
	held, release := build()
	after := Read()
	runtime.KeepAlive(held)
	if release != nil {
		release()
	}
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	c := Cost{N: n, GoHeap: per(before.GoHeap, after.GoHeap), CHeap: per(before.CHeap, after.CHeap), RSS: per(before.RSS, after.RSS)}
	c.Total = c.GoHeap + c.CHeap
	return c
}

// rss reads the resident set size from /proc/self/statm (0 when unavailable).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
