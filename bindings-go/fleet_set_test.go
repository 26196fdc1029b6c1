package circuit

import (
	"errors"
	"testing"
	"time"
)

// A family with a FleetSet: each member goes through the set's fleet of its name, through
// Family.Allow and through the *Breaker of Family.Get; one member's open fleet refuses only that
// member (an error matching ErrOpen and ErrFleetOpen, naming the member); a breaker made from
// the set gets the fleet of its Name; an idle fleet is forgotten after the idle TTL and its
// wrapper stops syncing; Close is idempotent.
func TestFleetSetGivesEachMemberItsFleet(t *testing.T) {
	clock, err := NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	defer clock.Close()
	set, err := NewFleetSet(FleetOptions{SyncInterval: 100 * time.Millisecond, MaxStaleness: time.Hour, Clock: clock}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var events []string
	set.OnEvent(func(name string, e FleetEvent) { events = append(events, name+":"+e.Kind) })
	fam, err := NewFamily(Config{Name: "api", Clock: clock, FleetSet: set}, FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fam.Close()
	solo, err := New(Config{Name: "solo", Clock: clock, FleetSet: set})
	if err != nil {
		t.Fatal(err)
	}
	defer solo.Close()
	for _, key := range []string{"a", "b"} {
		p, err := fam.Allow(key)
		if err != nil {
			t.Fatalf("allow %s: %v", key, err)
		}
		if _, err := p.RecordSuccess(); err != nil {
			t.Fatal(err)
		}
	}
	byName := map[string]*Fleet{}
	for _, f := range set.Fleets() {
		byName[f.Name()] = f
	}
	if len(byName) != 3 || byName["api/a"] == nil || byName["api/b"] == nil || byName["solo"] == nil {
		t.Fatalf("fleets: %v", byName)
	}
	reply := func(f *Fleet, key, state string, epoch int) {
		t.Helper()
		req, ok := f.Poll()
		if !ok || req.Key != key {
			t.Fatalf("poll %s: %v %+v", key, ok, req)
		}
		open := 0
		if state == "open" {
			open = 30000
		}
		if err := f.Complete(req, []any{"ok", epoch, state, open, 10000, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	reply(byName["api/a"], "circuit:{api/a}", "open", 1)
	reply(byName["api/b"], "circuit:{api/b}", "closed", 0)
	reply(byName["solo"], "circuit:{solo}", "closed", 0)
	if len(events) != 1 || events[0] != "api/a:transition" {
		t.Fatalf("events: %v", events)
	}
	_, err = fam.Allow("a")
	var rej *RejectedError
	if !errors.Is(err, ErrOpen) || !errors.Is(err, ErrFleetOpen) || !errors.As(err, &rej) || rej.Name != "api/a" || !rej.Fleet {
		t.Fatalf("member a with its fleet open: %v", err)
	}
	ba, err := fam.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ba.Allow(); !errors.Is(err, ErrFleetOpen) {
		t.Fatalf("Get(a).Allow: %v", err)
	}
	ba.Close()
	if p, err := fam.Allow("b"); err != nil {
		t.Fatalf("member b: %v", err)
	} else {
		p.RecordSuccess()
	}
	if p, err := solo.Allow(); err != nil {
		t.Fatalf("solo: %v", err)
	} else {
		p.RecordSuccess()
	}
	// b sends its success, then stays idle past the TTL: forgotten; a (open) and solo (held) stay.
	clock.Advance(100 * time.Millisecond)
	reply(byName["api/b"], "circuit:{api/b}", "closed", 0)
	set.Fleets()
	clock.Advance(11 * time.Second)
	names := map[string]bool{}
	for _, f := range set.Fleets() {
		names[f.Name()] = true
	}
	if len(names) != 2 || !names["api/a"] || !names["solo"] {
		t.Fatalf("after idle_ttl: %v", names)
	}
	if _, ok := byName["api/b"].Poll(); ok {
		t.Fatal("a forgotten fleet still polls")
	}
	if err := byName["api/a"].Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := byName["api/a"].Poll(); !ok {
		t.Fatal("Close of a set's fleet must leave it to the set")
	}
	set.Close()
	if err := set.Close(); err != nil || set.Fleets() != nil {
		t.Fatal("Close is idempotent, Fleets nil after it")
	}
	if _, err := NewFamily(Config{Name: "x", FleetSet: set}, FamilyOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed set: %v", err)
	}
}

func TestFleetSetRefusals(t *testing.T) {
	if _, err := NewFleetSet(FleetOptions{Buckets: -1}, 0); err == nil {
		t.Fatal("an invalid option must be refused")
	}
	var cerr *ConfigError
	if _, err := NewFleetSet(FleetOptions{FailureRateThreshold: Of(2.0)}, 0); !errors.As(err, &cerr) || cerr.Option != "failure_rate_threshold" {
		t.Fatalf("invalid rate: %v", err)
	}
	if _, err := NewFleetSet(FleetOptions{}, -time.Second); !errors.As(err, &cerr) || cerr.Option != "idle_ttl" {
		t.Fatalf("negative idle ttl: %v", err)
	}
	set, err := NewFleetSet(FleetOptions{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if _, err := NewFamily(Config{FleetSet: set}, FamilyOptions{}); !errors.As(err, &cerr) || cerr.Option != "name" {
		t.Fatalf("a family with a set needs a name: %v", err)
	}
	fleet, err := NewFleet("f", FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	if _, err := New(Config{Name: "f", Fleet: fleet, FleetSet: set}); !errors.As(err, &cerr) || cerr.Option != "fleet" {
		t.Fatalf("Fleet and FleetSet: %v", err)
	}
}
