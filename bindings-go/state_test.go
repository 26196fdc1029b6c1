package circuit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTripThroughMarshalJSONAndConfigState(t *testing.T) {
	clock := manualClock(t)
	config := Config{Name: "payments", FailureThreshold: Of(1), ResetTimeout: Of(10 * time.Second), Clock: clock}
	a, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	p, _ := a.Allow()
	_, _ = p.RecordFailure()
	wall := time.Unix(1_800_000_000, 0)
	doc, err := a.ExportState(wall)
	if err != nil {
		t.Fatal(err)
	}
	marshalled, err := json.Marshal(a)
	if err != nil || !json.Valid(marshalled) || !strings.Contains(string(marshalled), `"state":"open"`) {
		t.Fatalf("json.Marshal: %s, %v", marshalled, err)
	}
	config.State, config.StateAt = doc, wall.Add(4*time.Second)
	b, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, _ := b.Metrics()
	if m.State != StateOpen || m.Failures != 1 || m.RetryAfter == nil || *m.RetryAfter != 6*time.Second {
		t.Fatalf("restored %+v", m)
	}
	if len(m.Transitions) != 1 || m.Transitions[0] != (TransitionCount{StateClosed, StateOpen, "failure_threshold", 1}) {
		t.Fatalf("transitions %+v", m.Transitions)
	}
}

func TestRefusedStateCreatesNothing(t *testing.T) {
	for doc, field := range map[string]string{
		`{"format":"circuit-breaker-state","version":9}`: "version",
		`{"format":"pybreaker","version":1}`:             "format",
		`{"format":`:                                     "",
		``:                                               "",
	} {
		b, err := New(Config{Name: "payments", State: []byte(doc)})
		var se *StateError
		if b != nil || !errors.As(err, &se) || se.Field != field {
			t.Errorf("%q: %v, %v", doc, b, err)
		}
		if field != "" && !strings.Contains(err.Error(), "`"+field+"`") {
			t.Errorf("%q: the message does not name `%s`: %v", doc, field, err)
		}
	}
	var ce *ConfigError
	if _, err := NewFamily(Config{State: []byte("{}")}, FamilyOptions{}); !errors.As(err, &ce) || ce.Option != "state" {
		t.Fatalf("a family with a state document: %v", err)
	}
}

func TestMetricPointsCoverTheMetricSet(t *testing.T) {
	b, err := New(Config{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	points, err := b.MetricPoints()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range points {
		if len(p.LabelValues) != len(p.Family.Labels) || p.Key != "" {
			t.Fatalf("point %+v", p)
		}
		seen[p.Family.Name] = true
	}
	// Every family but the transition counters (none yet) has samples.
	if len(MetricFamilies()) != 9 || len(seen) != 8 || seen["circuit_breaker_transitions_total"] {
		t.Fatalf("families %d, seen %v", len(MetricFamilies()), seen)
	}
	_ = b.Close()
	if _, err := b.MetricPoints(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
