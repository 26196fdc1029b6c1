package circuit

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// The fleet through the C ABI with hand-built replies (no store): a reply that opens the fleet
// makes Allow fail with an error matching both ErrOpen and ErrFleetOpen; a half_open reply with
// a grant makes the next Allow the fleet's probe; a bad reply is a failed sync.
func TestFleetHandBuiltReplies(t *testing.T) {
	clock, err := NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	defer clock.Close()
	fleet, err := NewFleet("go-payments", FleetOptions{SyncInterval: 100 * time.Millisecond, MaxStaleness: 3 * time.Second, ResetTimeout: 2 * time.Second, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	var events []FleetEvent
	fleet.OnEvent(func(e FleetEvent) { events = append(events, e) })
	b, err := New(Config{Name: "go-payments", FailureThreshold: Of(100), Fleet: fleet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	req, ok := fleet.Poll()
	if !ok || req.Key != "circuit:{go-payments}" || len(req.Args) != 19 {
		t.Fatalf("first poll: %v %+v", ok, req)
	}
	if err := fleet.Complete(req, []any{"ok", int64(1), "open", int64(2000), int64(10000), int64(0), int64(0), int64(0)}); err != nil {
		t.Fatal(err)
	}
	_, err = b.Allow()
	var rej *RejectedError
	if !errors.Is(err, ErrOpen) || !errors.Is(err, ErrFleetOpen) || !errors.As(err, &rej) || !rej.Fleet || rej.RetryAfter == nil {
		t.Fatalf("open fleet: %v", err)
	}
	if len(events) != 1 || events[0].Kind != "transition" || events[0].To != StateOpen || events[0].Epoch != 1 {
		t.Fatalf("events: %+v", events)
	}
	clock.Advance(2 * time.Second)
	if _, err := b.Allow(); !errors.Is(err, ErrFleetOpen) {
		t.Fatalf("still open: %v", err)
	}
	req, ok = fleet.Poll()
	if !ok || req.Args[17] != "1" {
		t.Fatalf("probe wanted: %v %+v", ok, req)
	}
	if err := fleet.Complete(req, []any{"ok", 2, []byte("half_open"), 0, 10000, 0, 0, 0, 7}); err != nil {
		t.Fatal(err)
	}
	p, err := b.Allow()
	if err != nil || p.c.fleet_probe != 7 || p.c.fleet_epoch != 2 || !p.IsFleetProbe() || p.IsProbe() {
		t.Fatalf("probe: %v %+v", err, p.c)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrFleetOpen) || errors.Is(err, ErrHalfOpenFull) == false {
		t.Fatalf("second: %v", err)
	}
	if _, err := p.RecordSuccess(); err != nil {
		t.Fatal(err)
	}
	req, ok = fleet.Poll()
	if !ok || req.Args[18] != "1" || req.Args[20] != "7" || req.Args[21] != "success" {
		t.Fatalf("verdict: %+v", req)
	}
	if err := fleet.Complete(req, []any{"ok", "x"}); err != nil {
		t.Fatal(err)
	}
	st, err := fleet.Status()
	if err != nil || st.SyncFailures != 1 || st.Syncs != 3 || st.State != StateHalfOpen {
		t.Fatalf("status: %+v %v", st, err)
	}
	if err := fleet.Close(); err != nil || fleet.Close() != nil {
		t.Fatal("Close is idempotent")
	}
	if _, err := fleet.Status(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
	if _, err := NewFleet("x", FleetOptions{OnStoreFailure: "maybe"}); err == nil {
		t.Fatal("bad mode accepted")
	}
	var ce *ConfigError
	if _, err := NewFleet("x", FleetOptions{SyncInterval: time.Hour}); !errors.As(err, &ce) || ce.Option != "sync_interval" {
		t.Fatalf("config error: %v", err)
	}
}

// FleetOptions is the core's fleet schema in Go: one field per option (CamelCase) with the Go
// type of its kind, and no other field but Clock, so an option added to the core without a
// field (or a field the core does not know) fails here.
func TestFleetOptionsAreTheCoreSchema(t *testing.T) {
	if len(fleetSchema) < 15 {
		t.Fatalf("the fleet schema lists %d options", len(fleetSchema))
	}
	typ := reflect.TypeOf(FleetOptions{})
	want := map[string][]reflect.Type{
		"duration": {reflect.TypeOf(time.Duration(0))},
		"count":    {reflect.TypeOf(0)},
		"number":   {reflect.TypeOf(0.0), reflect.TypeOf((*float64)(nil))},
		"text":     {reflect.TypeOf("")},
	}
	seen := map[string]bool{"Clock": true}
	for _, opt := range fleetSchema {
		name := camelCase(opt.name)
		field, ok := typ.FieldByName(name)
		if !ok {
			t.Errorf("FleetOptions has no field %s for the core's option %q", name, opt.name)
			continue
		}
		seen[name] = true
		if !slices.Contains(want[opt.kind], field.Type) {
			t.Errorf("FleetOptions.%s is a %s; the core's option %q is a %s", name, field.Type, opt.name, opt.kind)
		}
	}
	for i := 0; i < typ.NumField(); i++ {
		if !seen[typ.Field(i).Name] {
			t.Errorf("FleetOptions.%s is not an option of the core's fleet schema", typ.Field(i).Name)
		}
	}
}

// Every option reaches the core by name: a value of the right kind is taken, a bad one is a
// *ConfigError naming the option (as the core spells it).
func TestFleetOptionsSetByName(t *testing.T) {
	f, err := NewFleet("go-schema", FleetOptions{SyncInterval: 100 * time.Millisecond, OnStoreFailure: "open", Buckets: 5, FailureRateThreshold: Of(-1.0), SlowCallRateThreshold: Of(0.5), BackoffMultiplier: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.SyncInterval(); got != 100*time.Millisecond {
		t.Errorf("sync interval %s", got)
	}
	f.Close()
	for _, c := range []struct {
		o      FleetOptions
		option string
	}{
		{FleetOptions{Buckets: 5000}, "buckets"},
		{FleetOptions{OnStoreFailure: "sideways"}, "on_store_failure"},
		{FleetOptions{BackoffMultiplier: 0.5}, "backoff_multiplier"},
		{FleetOptions{FailureRateThreshold: Of(-1.0)}, "failure_rate_threshold"}, // no rule left
		{FleetOptions{ProbeLease: -time.Second}, "probe_lease"},
		{FleetOptions{MinimumCalls: -1}, "minimum_calls"},
	} {
		_, err := NewFleet("go-schema", c.o)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Option != c.option {
			t.Errorf("%+v: got %v, want a ConfigError naming %s", c.o, err, c.option)
		}
	}
}
