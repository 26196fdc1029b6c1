package circuit

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

type vectorFile struct {
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name          string                       `json:"name"`
	Config        map[string]json.RawMessage   `json:"config"`
	InvalidOption string                       `json:"invalid_option"`
	Steps         []map[string]json.RawMessage `json:"steps"`
	Family        *struct {
		MaxKeys   int             `json:"max_keys"`
		IdleTTLMs json.RawMessage `json:"idle_ttl_ms"`
		Name      *string         `json:"name"`
	} `json:"family"`
}

func ms(raw json.RawMessage) time.Duration {
	var v float64
	_ = json.Unmarshal(raw, &v)
	return time.Duration(math.Round(v * 1e6))
}

func buildConfig(t *testing.T, options map[string]json.RawMessage, clock *ManualClock) Config {
	c := Config{Clock: clock}
	integer := func(raw json.RawMessage) *int {
		var v int
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("integer option: %v", err)
		}
		return &v
	}
	float := func(raw json.RawMessage) *float64 {
		var v float64
		_ = json.Unmarshal(raw, &v)
		return &v
	}
	duration := func(raw json.RawMessage) *time.Duration { d := ms(raw); return &d }
	for key, raw := range options {
		switch key {
		case "name":
			_ = json.Unmarshal(raw, &c.Name)
		case "failure_threshold":
			c.FailureThreshold = integer(raw)
		case "failure_rate_threshold":
			c.FailureRateThreshold = float(raw)
		case "slow_call_duration_ms":
			c.SlowCallDuration = duration(raw)
		case "slow_call_rate_threshold":
			c.SlowCallRateThreshold = float(raw)
		case "minimum_calls":
			c.MinimumCalls = integer(raw)
		case "window_size":
			c.WindowSize = integer(raw)
		case "window_duration_ms":
			c.WindowDuration = duration(raw)
		case "window_buckets":
			c.WindowBuckets = integer(raw)
		case "reset_timeout_ms":
			c.ResetTimeout = duration(raw)
		case "backoff_multiplier":
			c.BackoffMultiplier = float(raw)
		case "max_reset_timeout_ms":
			c.MaxResetTimeout = duration(raw)
		case "jitter":
			c.Jitter = float(raw)
		case "jitter_seed":
			var v uint64
			_ = json.Unmarshal(raw, &v)
			c.JitterSeed = &v
		case "half_open_max_calls":
			c.HalfOpenMaxCalls = integer(raw)
		case "success_threshold":
			c.SuccessThreshold = integer(raw)
		case "half_open_max_wait_ms":
			c.HalfOpenMaxWait = duration(raw)
		default:
			t.Fatalf("unknown option %s", key)
		}
	}
	return c
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func near(expected, actual float64) bool {
	scale := math.Max(math.Abs(expected), 1)
	return math.Abs(expected-actual) <= 1e-6*scale
}

func metricValue(m Metrics, field string) (any, bool) {
	dms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	switch field {
	case "state":
		return string(m.State), true
	case "generation":
		return float64(m.Generation), true
	case "consecutive_failures":
		return float64(m.ConsecutiveFailures), true
	case "window_calls":
		return float64(m.WindowCalls), true
	case "window_failures":
		return float64(m.WindowFailures), true
	case "window_slow":
		return float64(m.WindowSlow), true
	case "failure_rate":
		return m.FailureRate, true
	case "slow_rate":
		return m.SlowRate, true
	case "admitted":
		return float64(m.Admitted), true
	case "rejected":
		return float64(m.Rejected), true
	case "rejected_open":
		return float64(m.RejectedOpen), true
	case "rejected_half_open_full":
		return float64(m.RejectedHalfOpenFull), true
	case "rejected_forced_open":
		return float64(m.RejectedForcedOpen), true
	case "successes":
		return float64(m.Successes), true
	case "failures":
		return float64(m.Failures), true
	case "ignored":
		return float64(m.Ignored), true
	case "slow":
		return float64(m.Slow), true
	case "stale":
		return float64(m.Stale), true
	case "opened":
		return float64(m.Opened), true
	case "time_in_state_ms":
		return dms(m.TimeInState), true
	case "retry_after_ms":
		if m.RetryAfter == nil {
			return nil, true
		}
		return dms(*m.RetryAfter), true
	}
	return nil, false
}

func runVector(t *testing.T, v vector) error {
	clock, err := NewManualClock()
	if err != nil {
		return err
	}
	defer clock.Close()
	b, err := New(buildConfig(t, v.Config, clock))
	if v.InvalidOption != "" {
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Option != v.InvalidOption {
			return fmt.Errorf("expected a ConfigError naming %s, got %v", v.InvalidOption, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }() // b is replaced by `import`
	var mu sync.Mutex
	var events []Transition
	listen := func(b *Breaker) error {
		_, err := b.OnStateChange(func(tr Transition) { mu.Lock(); events = append(events, tr); mu.Unlock() })
		return err
	}
	if err := listen(b); err != nil {
		return err
	}
	var fam *familyRun
	if v.Family != nil {
		familyConfig := buildConfig(t, v.Config, clock)
		if v.Family.Name != nil {
			familyConfig.Name = *v.Family.Name
		}
		if fam, err = startFamily(familyConfig, clock, v.Family.MaxKeys, ms(v.Family.IdleTTLMs)); err != nil {
			return err
		}
		defer fam.f.Close()
	}
	permits := map[string]Permit{}
	record := func(p Permit, outcome string) (bool, error) {
		if p.c.flags&familyPermitFlag != 0 {
			return p.Record(Outcome(outcome)) // a family permit records on its own member
		}
		switch outcome {
		case "success":
			return b.RecordSuccess(p)
		case "failure":
			return b.RecordFailure(p)
		default:
			return b.RecordIgnored(p)
		}
	}
	for i, s := range v.Steps {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("step %d (%s): %s", i, str(s["op"]), fmt.Sprintf(format, args...))
		}
		if handled, err := httpStep(s, b); handled {
			if err != nil {
				return fail("%v", err)
			}
			continue
		}
		if handled, err := fam.step(s); handled {
			if err != nil {
				return fail("%v", err)
			}
			continue
		}
		if handled, err := stateStep(t, s, &b, v, clock, fam, listen); handled {
			if err != nil {
				return fail("%v", err)
			}
			continue
		}
		switch op := str(s["op"]); op {
		case "allow", "family_allow":
			var p Permit
			var err error
			if op == "allow" {
				p, err = b.Allow()
			} else if fam == nil {
				return fail("family_allow in a vector without a family")
			} else {
				var fp *Permit
				if fp, err = fam.f.Allow(str(s["key"])); err == nil {
					p = *fp
				}
			}
			if str(s["expect"]) == "rejected" {
				var re *RejectedError
				if !errors.As(err, &re) || !errors.Is(err, ErrOpen) {
					return fail("expected a rejection, got %v", err)
				}
				if raw, ok := s["reason"]; ok && str(raw) != re.Reason {
					return fail("reason %s", re.Reason)
				}
				if raw, ok := s["retry_after_ms"]; ok {
					if string(raw) == "null" {
						if re.RetryAfter != nil {
							return fail("retry_after %v, expected none", *re.RetryAfter)
						}
					} else if re.RetryAfter == nil || !near(float64(ms(raw))/1e6, float64(*re.RetryAfter)/1e6) {
						return fail("retry_after %v, expected %s ms", re.RetryAfter, raw)
					}
				}
				continue
			}
			if err != nil {
				return fail("rejected: %v", err)
			}
			if raw, ok := s["probe"]; ok && (string(raw) == "true") != p.IsProbe() {
				return fail("probe flag %v", p.IsProbe())
			}
			if raw, ok := s["permit"]; ok {
				permits[str(raw)] = p
			} else {
				_, _ = p.RecordIgnored()
			}
		case "record":
			p, ok := permits[str(s["permit"])]
			if !ok {
				return fail("no permit %s", s["permit"])
			}
			counted, err := record(p, str(s["outcome"]))
			got := "stale"
			switch {
			case errors.Is(err, ErrAlreadyRecorded):
				got = "already_recorded"
			case err != nil:
				return fail("error %v", err)
			case counted:
				got = "counted"
			}
			if got != str(s["expect"]) {
				return fail("got %s, expected %s", got, str(s["expect"]))
			}
			if string(s["drop"]) == "true" {
				delete(permits, str(s["permit"]))
			}
		case "call":
			repeat := 1
			if raw, ok := s["repeat"]; ok {
				_ = json.Unmarshal(raw, &repeat)
			}
			for r := 0; r < repeat; r++ {
				p, err := b.Allow()
				if err != nil {
					return fail("call rejected: %v", err)
				}
				if raw, ok := s["duration_ms"]; ok {
					clock.Advance(ms(raw))
				}
				counted, err := record(p, str(s["outcome"]))
				if err != nil || !counted {
					return fail("call recorded as counted=%v err=%v", counted, err)
				}
			}
		case "advance":
			clock.Advance(ms(s["ms"]))
		case "state":
			if got := b.State(); string(got) != str(s["expect"]) {
				return fail("state %s, expected %s", got, str(s["expect"]))
			}
		case "metrics":
			m, err := b.Metrics()
			if err != nil {
				return fail("%v", err)
			}
			var expect map[string]any
			_ = json.Unmarshal(s["expect"], &expect)
			keys := make([]string, 0, len(expect))
			for k := range expect {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, field := range keys {
				want := expect[field]
				got, known := metricValue(m, field)
				if !known {
					return fail("unknown metric %s", field)
				}
				ok := false
				switch w := want.(type) {
				case nil:
					ok = got == nil
				case string:
					ok = got == w
				case float64:
					g, isNum := got.(float64)
					ok = isNum && near(w, g)
				}
				if !ok {
					return fail("metrics.%s = %v, expected %v", field, got, want)
				}
			}
		case "reset":
			_ = b.Reset()
		case "force_open":
			_ = b.ForceOpen()
		case "disable":
			_ = b.Disable()
		case "events":
			var want []struct {
				From, To, Reason string
				AtMs             float64 `json:"at_ms"`
			}
			_ = json.Unmarshal(s["expect"], &want)
			mu.Lock()
			got := events
			events = nil
			mu.Unlock()
			match := len(got) == len(want)
			for k := 0; match && k < len(want); k++ {
				match = string(got[k].From) == want[k].From && string(got[k].To) == want[k].To &&
					got[k].Reason == want[k].Reason && near(want[k].AtMs, float64(got[k].At)/1e6)
			}
			if !match {
				return fail("events %+v, expected %+v", got, want)
			}
		default:
			return fail("unknown op")
		}
	}
	return nil
}

func TestConformanceVectors(t *testing.T) {
	files, _ := filepath.Glob("../tests/conformance/*.json")
	if len(files) == 0 {
		t.Fatal("no conformance vectors found")
	}
	total := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc vectorFile
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range doc.Vectors {
			total++
			v := v
			t.Run(v.Name, func(t *testing.T) {
				if err := runVector(t, v); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if total < 40 {
		t.Fatalf("only %d vectors", total)
	}
	for _, required := range []string{"08_http.json", "09_family.json", "10_observability.json", "11_state.json"} {
		if !slices.Contains(files, filepath.Join("../tests/conformance", required)) {
			t.Fatalf("%s is missing from the vectors run", required)
		}
	}
}
