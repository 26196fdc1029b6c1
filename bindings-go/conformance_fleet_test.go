package circuit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Runs tests/conformance/fleet/*.json (README "Fleet vectors") through the Go API: a Breaker with
// a Fleet on one ManualClock, this test being the host that answers each sync request with the
// vector's hand-built reply.

type fleetVector struct {
	Name          string                       `json:"name"`
	Config        map[string]json.RawMessage   `json:"config"`
	Fleet         map[string]json.RawMessage   `json:"fleet"`
	InvalidOption string                       `json:"invalid_fleet_option"`
	Steps         []map[string]json.RawMessage `json:"steps"`
}

// fleetOptionsOf fills FleetOptions from the vector's options by the core's fleet schema: durations
// end in _ms, null for a rate turns its rule off (a negative rate in Go).
func fleetOptionsOf(raw map[string]json.RawMessage, clock *ManualClock) (FleetOptions, error) {
	o := FleetOptions{Clock: clock}
	v := reflect.ValueOf(&o).Elem()
	for key, value := range raw {
		name := strings.TrimSuffix(key, "_ms")
		field := v.FieldByName(camelCase(name))
		if !field.IsValid() {
			return o, fmt.Errorf("unknown fleet option %s", key)
		}
		switch field.Interface().(type) {
		case time.Duration:
			field.Set(reflect.ValueOf(ms(value)))
		case int:
			var n int
			_ = json.Unmarshal(value, &n)
			field.SetInt(int64(n))
		case float64:
			var f float64
			_ = json.Unmarshal(value, &f)
			field.SetFloat(f)
		case *float64:
			f := -1.0
			if string(value) != "null" {
				_ = json.Unmarshal(value, &f)
			}
			field.Set(reflect.ValueOf(&f))
		case string:
			field.SetString(str(value))
		}
	}
	return o, nil
}

func fleetEventJSON(e FleetEvent) map[string]any {
	switch e.Kind {
	case "transition":
		return map[string]any{"kind": e.Kind, "from": string(e.From), "to": string(e.To), "epoch": float64(e.Epoch)}
	case "mismatch":
		return map[string]any{"kind": e.Kind, "stored": e.Stored}
	}
	return map[string]any{"kind": e.Kind}
}

// sameJSON compares an expectation with a value through JSON (numbers as float64).
func sameJSON(want json.RawMessage, got any) bool {
	var w any
	_ = json.Unmarshal(want, &w)
	g, _ := json.Marshal(got)
	var gv any
	_ = json.Unmarshal(g, &gv)
	return reflect.DeepEqual(w, gv)
}

func checkFields(want json.RawMessage, got map[string]any) error {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(want, &fields)
	for k, w := range fields {
		if !sameJSON(w, got[k]) {
			return fmt.Errorf("field %s is %v, want %s", k, got[k], w)
		}
	}
	return nil
}

func requestFields(r *SyncRequest) map[string]any {
	n := func(i int) float64 { v, _ := strconv.ParseFloat(r.Args[i], 64); return v }
	verdicts := []any{}
	count := int(n(18))
	for i := 0; i < count; i++ {
		verdicts = append(verdicts, []any{n(19 + 3*i), n(20 + 3*i), r.Args[21+3*i]})
	}
	return map[string]any{"epoch": n(13), "calls": n(14), "failures": n(15), "slow": n(16), "want": n(17), "verdicts": verdicts}
}

func runFleetVector(t *testing.T, v fleetVector) error {
	clock, err := NewManualClock()
	if err != nil {
		return err
	}
	defer clock.Close()
	name := "vector"
	if raw, ok := v.Config["name"]; ok {
		name = str(raw)
	}
	opts, err := fleetOptionsOf(v.Fleet, clock)
	if err != nil {
		return err
	}
	fleet, err := NewFleet(name, opts)
	if v.InvalidOption != "" {
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Option != v.InvalidOption {
			return fmt.Errorf("got %v, want a ConfigError naming %s", err, v.InvalidOption)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer fleet.Close()
	var events []FleetEvent
	fleet.OnEvent(func(e FleetEvent) { events = append(events, e) })
	config := buildConfig(t, v.Config, clock)
	config.Fleet = fleet
	b, err := New(config)
	if err != nil {
		return err
	}
	defer b.Close()
	checkEvents := func(want json.RawMessage) error {
		got := []any{}
		for _, e := range events {
			got = append(got, fleetEventJSON(e))
		}
		events = nil
		if want != nil && !sameJSON(want, got) {
			return fmt.Errorf("events %v, want %s", got, want)
		}
		return nil
	}
	permits := map[string]Permit{}
	var request *SyncRequest
	for i, s := range v.Steps {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("step %d (%s): %s", i, str(s["op"]), fmt.Sprintf(format, args...))
		}
		switch op := str(s["op"]); op {
		case "advance":
			clock.Advance(ms(s["ms"]))
		case "fleet_poll":
			r, ok := fleet.Poll()
			events = nil // Poll's own events are not what a vector checks
			if string(s["expect"]) == "null" {
				if ok {
					return fail("a sync went out: %v", r.Args)
				}
				continue
			}
			if !ok {
				return fail("no sync is due")
			}
			if err := checkFields(s["expect"], requestFields(r)); err != nil {
				return fail("%v", err)
			}
			request = r
		case "fleet_reply", "fleet_fail":
			if request == nil {
				return fail("no request to answer")
			}
			if op == "fleet_fail" {
				err = fleet.Fail(request, "timeout")
			} else {
				var items []any
				var raw []json.RawMessage
				_ = json.Unmarshal(s["reply"], &raw)
				for _, item := range raw {
					if n, err := strconv.ParseInt(string(item), 10, 64); err == nil {
						items = append(items, n)
					} else {
						items = append(items, str(item))
					}
				}
				err = fleet.Complete(request, items)
			}
			request = nil
			if err != nil {
				return fail("%v", err)
			}
			if err := checkEvents(s["events"]); err != nil {
				return fail("%v", err)
			}
		case "fleet_tick":
			if err := fleet.Tick(); err != nil {
				return fail("%v", err)
			}
			if err := checkEvents(s["events"]); err != nil {
				return fail("%v", err)
			}
		case "fleet_status":
			st, err := fleet.Status()
			if err != nil {
				return fail("%v", err)
			}
			got := map[string]any{"state": string(st.State), "epoch": float64(st.Epoch), "degraded": st.Degraded, "syncs": float64(st.Syncs), "sync_failures": float64(st.SyncFailures)}
			if err := checkFields(s["expect"], got); err != nil {
				return fail("%v", err)
			}
		case "fleet_allow":
			p, err := b.Allow()
			var rej *RejectedError
			got := "admitted"
			switch {
			case err == nil && p.IsFleetProbe():
				got = "fleet_probe"
			case err == nil:
			case errors.Is(err, ErrFleetOpen) && errors.Is(err, ErrHalfOpenFull):
				got = "fleet_half_open_full"
			case errors.Is(err, ErrFleetOpen):
				got = "fleet_open"
			case errors.Is(err, ErrOpen):
				got = "local_rejected"
			default:
				return fail("error %v", err)
			}
			if got != str(s["expect"]) {
				return fail("got %s, want %s", got, str(s["expect"]))
			}
			if want, ok := s["retry_after_ms"]; ok && errors.As(err, &rej) {
				var retry any
				if rej.RetryAfter != nil {
					retry = float64(*rej.RetryAfter) / 1e6
				}
				if !sameJSON(want, retry) {
					return fail("retry_after_ms %v, want %s", retry, want)
				}
			}
			if err == nil {
				if key := str(s["permit"]); key != "" {
					permits[key] = p
				} else if _, err := b.RecordIgnored(p); err != nil {
					return fail("%v", err)
				}
			}
		case "call", "record":
			outcome := str(s["outcome"])
			do := func(p Permit) (bool, error) {
				switch outcome {
				case "success":
					return b.RecordSuccess(p)
				case "failure":
					return b.RecordFailure(p)
				}
				return b.RecordIgnored(p)
			}
			if op == "record" {
				p, ok := permits[str(s["permit"])]
				if !ok {
					return fail("no permit %s", s["permit"])
				}
				delete(permits, str(s["permit"]))
				counted, err := do(p)
				if err != nil {
					return fail("%v", err)
				}
				if got := map[bool]string{true: "counted", false: "stale"}[counted]; got != str(s["expect"]) {
					return fail("got %s, want %s", got, str(s["expect"]))
				}
				continue
			}
			repeat := 1
			if raw, ok := s["repeat"]; ok {
				_ = json.Unmarshal(raw, &repeat)
			}
			for r := 0; r < repeat; r++ {
				p, err := b.Allow()
				if err != nil {
					return fail("refused: %v", err)
				}
				if counted, err := do(p); err != nil || !counted {
					return fail("not counted: %v", err)
				}
			}
		case "state":
			if got := string(b.State()); got != str(s["expect"]) {
				return fail("state %s, want %s", got, str(s["expect"]))
			}
		case "metrics":
			m, err := b.Metrics()
			if err != nil {
				return fail("%v", err)
			}
			got := map[string]any{"admitted": float64(m.Admitted), "ignored": float64(m.Ignored), "rejected": float64(m.Rejected), "successes": float64(m.Successes), "failures": float64(m.Failures)}
			if err := checkFields(s["expect"], got); err != nil {
				return fail("%v", err)
			}
		default:
			return fail("unknown op")
		}
	}
	return nil
}

func TestFleetConformance(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "tests", "conformance", "fleet", "*.json"))
	ran := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Vectors []fleetVector `json:"vectors"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range doc.Vectors {
			ran++
			t.Run(v.Name, func(t *testing.T) {
				if err := runFleetVector(t, v); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if ran < 12 {
		t.Fatalf("ran %d fleet vectors", ran)
	}
}
