// Command circuit-memory prints what breakers cost in memory from Go: bytes per breaker (Go heap
// plus the C heap the engine allocates from, and the resident-set growth as a cross-check) for a
// consecutive-failure breaker and a failure-rate breaker over a 100-outcome count window, and the
// memory of 100,000 breakers held in a map[string]*Breaker (keyed families come with issue 12).
//
//	cd bindings-go && go run ./cmd/circuit-memory [-n 10000] [-keys 100000] [-json out.json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/circuit-rs/circuit/bindings-go/internal/memory"
)

// Row is one measured configuration.
type Row struct {
	Name string      `json:"name"`
	What string      `json:"what"`
	Cost memory.Cost `json:"cost"`
}

var configs = []struct {
	name, what string
	config     circuit.Config
}{
	{"consecutive", "consecutive-failure breaker (failure_threshold 5)", circuit.Config{FailureThreshold: circuit.Of(5)}},
	{"count_window_100", "failure-rate breaker, 100-outcome count window (failure_rate_threshold 0.5, window_size 100)",
		circuit.Config{FailureRateThreshold: circuit.Of(0.5), WindowSize: circuit.Of(100)}},
}

// breakers creates n breakers of config, each used once (one successful Execute, so that any
// state the engine allocates on first use is counted), held in a slice.
func breakers(n int, config circuit.Config) func() (any, func()) {
	return func() (any, func()) {
		held := make([]*circuit.Breaker, 0, n)
		for i := 0; i < n; i++ {
			b, err := circuit.New(config)
			if err != nil {
				log.Fatal(err)
			}
			_ = b.Execute(func() error { return nil })
			held = append(held, b)
		}
		return held, func() {
			for _, b := range held {
				_ = b.Close()
			}
		}
	}
}

// family creates keys breakers of config held in a map by name, the way a per-key family is
// kept by hand today. The keys' strings and the map are part of what is measured.
func family(keys int, config circuit.Config) func() (any, func()) {
	return func() (any, func()) {
		held := make(map[string]*circuit.Breaker)
		for i := 0; i < keys; i++ {
			key := fmt.Sprintf("tenant-%06d", i)
			c := config
			c.Name = key
			b, err := circuit.New(c)
			if err != nil {
				log.Fatal(err)
			}
			_ = b.Execute(func() error { return nil })
			held[key] = b
		}
		return held, func() {
			for _, b := range held {
				_ = b.Close()
			}
		}
	}
}

func main() {
	n := flag.Int("n", 10000, "breakers per configuration")
	keys := flag.Int("keys", 100000, "breakers in the map")
	out := flag.String("json", "", "also write the rows as JSON to this file")
	flag.Parse()
	if _, ok := memory.CHeapInUse(); !ok {
		log.Print("the C heap cannot be read on this platform (mallinfo2): C figures read 0")
	}
	// Warm up: the first breaker creates per-process state (the handle table, thread caches).
	memory.Measure(1000, breakers(1000, configs[0].config))

	var rows []Row
	for _, c := range configs {
		rows = append(rows, Row{c.name, c.what, memory.Measure(*n, breakers(*n, c.config))})
	}
	rows = append(rows, Row{"map_100k", fmt.Sprintf("%d consecutive breakers in a map[string]*Breaker (named by their key)", *keys),
		memory.Measure(*keys, family(*keys, configs[0].config))})

	fmt.Printf("Go %s, %s/%s; per breaker, in bytes (Go heap after GC + C heap via mallinfo2; RSS growth as a cross-check)\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Println("| what | Go heap | C heap | total | RSS growth | total for all |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		c := r.Cost
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f | %.1f MiB for %d |\n", r.What, c.GoHeap, c.CHeap, c.Total, c.RSS, c.Total*float64(c.N)/(1<<20), c.N)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
