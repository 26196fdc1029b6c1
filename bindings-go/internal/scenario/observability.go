// Package scenario replays the observability conformance vector for the exporter modules' tests
// (circuitprom, circuitotel), so both compare their output with the same golden exposition.
package scenario

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// The vector of tests/conformance/10_observability.json, run through the public Go API up to its
// `prometheus` step (whose golden file the test compares the scrape with).
type observabilityVector struct {
	Config struct {
		Name             string  `json:"name"`
		FailureThreshold int     `json:"failure_threshold"`
		ResetTimeoutMs   float64 `json:"reset_timeout_ms"`
	} `json:"config"`
	Family struct {
		MaxKeys   int     `json:"max_keys"`
		IdleTTLMs float64 `json:"idle_ttl_ms"`
		Name      string  `json:"name"`
	} `json:"family"`
	Steps []struct {
		Op, Permit, Outcome, Key string
		ExpectFile               string          `json:"expect_file"`
		Expect                   json.RawMessage // a string for allow and record, objects for metrics
		Ms                       float64
		Repeat                   int
		DurationMs               float64 `json:"duration_ms"`
	} `json:"steps"`
}

func msDuration(v float64) time.Duration { return time.Duration(math.Round(v * 1e6)) }

// Observability builds the vector's breaker and family on a manual clock, runs the
// steps, and returns them with the golden file named by the `prometheus` step (a path relative to
// the calling test's package directory, one level below bindings-go).
func Observability(t testing.TB) (*circuit.Breaker, *circuit.Family, string) {
	t.Helper()
	data, err := os.ReadFile("../../tests/conformance/10_observability.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []observabilityVector }
	if err := json.Unmarshal(data, &file); err != nil || len(file.Vectors) != 1 {
		t.Fatalf("10_observability.json: %v (%d vectors)", err, len(file.Vectors))
	}
	v := file.Vectors[0]
	clock, err := circuit.NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clock.Close() })
	config := circuit.Config{
		Name: v.Config.Name, FailureThreshold: circuit.Of(v.Config.FailureThreshold),
		ResetTimeout: circuit.Of(msDuration(v.Config.ResetTimeoutMs)), Clock: clock,
	}
	b, err := circuit.New(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	familyConfig := config
	familyConfig.Name = v.Family.Name
	f, err := circuit.NewFamily(familyConfig, circuit.FamilyOptions{MaxKeys: v.Family.MaxKeys, IdleTTL: msDuration(v.Family.IdleTTLMs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	permits := map[string]circuit.Permit{}
	golden := ""
	for i, s := range v.Steps {
		fail := func(format string, args ...any) { t.Fatalf("step %d (%s): %s", i, s.Op, fmt.Sprintf(format, args...)) }
		repeat := max(s.Repeat, 1)
		var expect string
		_ = json.Unmarshal(s.Expect, &expect)
		switch s.Op {
		case "call", "family_call":
			for range repeat {
				var p *circuit.Permit
				if s.Op == "call" {
					bp, err := b.Allow()
					if err != nil {
						fail("%v", err)
					}
					p = &bp
				} else if p, err = f.Allow(s.Key); err != nil {
					fail("%v", err)
				}
				clock.Advance(msDuration(s.DurationMs))
				if counted, err := p.Record(circuit.Outcome(s.Outcome)); err != nil || !counted {
					fail("recorded: %v %v", counted, err)
				}
			}
		case "allow":
			p, err := b.Allow()
			if (expect == "rejected") != (err != nil) {
				fail("allow: %v", err)
			}
			if err == nil && s.Permit != "" {
				permits[s.Permit] = p
			}
		case "record":
			counted, err := permits[s.Permit].Record(circuit.Outcome(s.Outcome))
			if err != nil || counted != (expect == "counted") {
				fail("record: %v %v", counted, err)
			}
		case "advance":
			clock.Advance(msDuration(s.Ms))
		case "force_open":
			_ = b.ForceOpen()
		case "reset":
			_ = b.Reset()
		case "metrics", "transitions":
			// checked by the circuit package's conformance test
		case "prometheus":
			golden = "../../tests/conformance/" + s.ExpectFile
		default:
			fail("unknown op")
		}
	}
	if golden == "" {
		t.Fatal("the vector has no prometheus step")
	}
	return b, f, golden
}
