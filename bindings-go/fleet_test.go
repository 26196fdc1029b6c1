package circuit

import (
	"errors"
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
