package circuit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newFamily(t *testing.T, c Config, o FamilyOptions) *Family {
	t.Helper()
	f, err := NewFamily(c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func familyGet(t *testing.T, f *Family, key string) *Breaker {
	t.Helper()
	b, err := f.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFamilyIsolation(t *testing.T) {
	f := newFamily(t, Config{Name: "api", FailureThreshold: Of(1)}, FamilyOptions{})
	a := familyGet(t, f, "a.example:443")
	defer a.Close()
	b := familyGet(t, f, "b.example:443")
	defer b.Close()
	if a.Name() != "api/a.example:443" {
		t.Fatalf("name %q", a.Name())
	}
	_ = a.Execute(func() error { return errors.New("boom") })
	if s := a.State(); s != StateOpen {
		t.Fatalf("a: %v", s)
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("b: %v", s)
	}
	again := familyGet(t, f, "a.example:443")
	defer again.Close()
	if s := again.State(); s != StateOpen {
		t.Fatalf("same key, same member: %v", s)
	}
	if f.Len() != 2 || !f.Contains("a.example:443") || f.Contains("c") {
		t.Fatalf("len %d", f.Len())
	}
}

func TestFamilyBoundUnderKeyFlood(t *testing.T) {
	f := newFamily(t, Config{}, FamilyOptions{MaxKeys: 64})
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxLen := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2500; i++ {
				b, err := f.Get(fmt.Sprintf("host-%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				if err := b.Execute(func() error { return nil }); err != nil {
					t.Error(err)
				}
				_ = b.Close()
				n := f.Len()
				mu.Lock()
				maxLen = max(maxLen, n)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	// Handles used on other threads may pin a member until that thread's cache drops it, so the
	// bound holds with a margin of the overflow breaker only: the family never exceeds MaxKeys.
	if maxLen > 64 || f.Len() > 64 {
		t.Fatalf("family grew to %d (now %d), max_keys 64", maxLen, f.Len())
	}
}

func TestFamilyHeldBreakerPinsMember(t *testing.T) {
	f := newFamily(t, Config{}, FamilyOptions{MaxKeys: 2})
	held := familyGet(t, f, "held")
	for i := 0; i < 100; i++ {
		b := familyGet(t, f, fmt.Sprintf("other-%d", i))
		_ = b.Close()
	}
	if !f.Contains("held") || f.Len() > 2 {
		t.Fatalf("held member evicted (len %d)", f.Len())
	}
	p, err := held.Allow()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.RecordSuccess(p); err != nil {
		t.Fatal(err)
	}
	_ = held.Close()
	if _, err := held.Allow(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed member breaker: %v", err)
	}
}

func TestFamilyIdleTTLOnManualClock(t *testing.T) {
	clock := manualClock(t)
	f := newFamily(t, Config{Clock: clock}, FamilyOptions{IdleTTL: 10 * time.Second})
	_ = familyGet(t, f, "idle").Close()
	clock.Advance(11 * time.Second)
	_ = familyGet(t, f, "fresh").Close()
	if f.Contains("idle") || !f.Contains("fresh") {
		t.Fatal("the manual clock did not drive idle_ttl")
	}
}

func TestFamilyCloseIdempotent(t *testing.T) {
	f, err := NewFamily(Config{}, FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := familyGet(t, f, "k")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get("k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if f.Len() != 0 || f.Contains("k") {
		t.Fatal("closed family reports members")
	}
	// A member breaker outlives its family.
	if err := b.Execute(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	_ = b.Close()
}

func TestFamilyOptionsRefused(t *testing.T) {
	var ce *ConfigError
	if _, err := NewFamily(Config{}, FamilyOptions{MaxKeys: -1}); !errors.As(err, &ce) || ce.Option != "max_keys" {
		t.Fatalf("negative MaxKeys: %v", err)
	}
	if _, err := NewFamily(Config{FailureThreshold: Of(0)}, FamilyOptions{}); !errors.As(err, &ce) {
		t.Fatalf("bad config: %v", err)
	}
}

func TestFamilyMemberListeners(t *testing.T) {
	f := newFamily(t, Config{FailureThreshold: Of(1)}, FamilyOptions{})
	first := familyGet(t, f, "k")
	second := familyGet(t, f, "k")
	defer second.Close()
	var firstCalls, secondCalls atomic.Int32
	if _, err := first.OnStateChange(func(Transition) { firstCalls.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if _, err := second.OnStateChange(func(Transition) { secondCalls.Add(1) }); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	_ = second.Execute(func() error { return errors.New("boom") })
	if firstCalls.Load() != 0 || secondCalls.Load() != 1 || second.State() != StateOpen {
		t.Fatalf("first %d, second %d calls, state %v", firstCalls.Load(), secondCalls.Load(), second.State())
	}
}
