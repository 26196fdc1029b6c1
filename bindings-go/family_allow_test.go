package circuit

import (
	"errors"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestFamilyAllowPinsItsMemberUntilRecorded(t *testing.T) {
	clock := manualClock(t)
	f := newFamily(t, Config{Name: "api", Clock: clock}, FamilyOptions{MaxKeys: 1, IdleTTL: time.Second})
	p, err := f.Allow("a")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	b := familyGet(t, f, "b")
	if b.Name() != "api/(overflow)" {
		t.Fatalf("a member with an outstanding permit was evicted: got %q", b.Name())
	}
	_ = b.Close()
	if counted, err := p.RecordSuccess(); !counted || err != nil {
		t.Fatalf("record: %v %v", counted, err)
	}
	if _, err := p.RecordSuccess(); !errors.Is(err, ErrAlreadyRecorded) {
		t.Fatalf("second record: %v", err)
	}
	copied := *p
	if _, err := copied.RecordFailure(); !errors.Is(err, ErrAlreadyRecorded) {
		t.Fatalf("record of a copy: %v", err)
	}
	b = familyGet(t, f, "b")
	defer b.Close()
	if b.Name() != "api/b" {
		t.Fatalf("after recording, the member is evictable: got %q", b.Name())
	}
	if keys := f.Keys(); !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("keys %q", keys)
	}
	if m := f.Metrics(); m.Evicted != 1 || m.Overflowed != 1 || m.Members != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestFamilyAllowRejectsLikeBreakerAllow(t *testing.T) {
	clock := manualClock(t)
	f := newFamily(t, Config{Name: "api", FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock}, FamilyOptions{})
	p, err := f.Allow("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Record(OutcomeFailure); err != nil {
		t.Fatal(err)
	}
	_, err = f.Allow("a")
	var re *RejectedError
	if !errors.As(err, &re) || !errors.Is(err, ErrOpen) || re.Name != "api/a" || re.RetryAfter == nil || *re.RetryAfter != time.Second {
		t.Fatalf("rejection %#v", err)
	}
	if p, err := f.Allow("b"); err != nil {
		t.Fatalf("another key is independent: %v", err)
	} else {
		_, _ = p.RecordIgnored()
	}
	_ = f.Close()
	if _, err := f.Allow("a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if f.Keys() != nil || !reflect.DeepEqual(f.Metrics(), FamilyMetrics{}) {
		t.Fatal("a closed family has no keys and zero metrics")
	}
	var zero Family
	if _, err := zero.Allow("a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("zero Family: %v", err)
	}
	if _, err := zero.OnStateChange(func(FamilyTransition) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("zero Family listener: %v", err)
	}
	var none Permit
	if _, err := none.RecordSuccess(); !errors.Is(err, ErrInvalidPermit) {
		t.Fatalf("zero Permit: %v", err)
	}
}

// A family permit dropped unrecorded is recorded as ignored by its cleanup, which unpins the member.
func TestDroppedFamilyPermitReleasesItsMember(t *testing.T) {
	clock := manualClock(t)
	f := newFamily(t, Config{Name: "api", Clock: clock}, FamilyOptions{MaxKeys: 1, IdleTTL: time.Second})
	func() {
		if _, err := f.Allow("a"); err != nil {
			t.Fatal(err)
		}
	}()
	clock.Advance(5 * time.Second)
	for i := 0; i < 200; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		b := familyGet(t, f, "b")
		name := b.Name()
		_ = b.Close()
		if name == "api/b" {
			return
		}
	}
	t.Fatal("the dropped family permit never released its member")
}

func TestFamilyOnStateChangeReceivesEveryMemberWithItsKey(t *testing.T) {
	clock := manualClock(t)
	f := newFamily(t, Config{Name: "api", FailureThreshold: Of(1), Clock: clock}, FamilyOptions{MaxKeys: 1, IdleTTL: time.Hour})
	var mu sync.Mutex
	var got []FamilyTransition
	remove, err := f.OnStateChange(func(t FamilyTransition) { mu.Lock(); got = append(got, t); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.Allow("a")
	_, _ = p.RecordFailure() // a opens (and is pinned): b goes to the overflow breaker
	q, err := f.Allow("b")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = q.RecordFailure()
	mu.Lock()
	events := slices.Clone(got)
	mu.Unlock()
	if len(events) != 2 || events[0].Key != "a" || events[0].Overflow || events[0].To != StateOpen ||
		events[0].Reason != "failure_threshold" || !events[1].Overflow || events[1].Key != "" || events[1].To != StateOpen {
		t.Fatalf("events %+v", events)
	}
	remove()
	remove()
	b := familyGet(t, f, "a")
	defer b.Close()
	_ = b.Reset()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("a removed listener was called: %+v", got[2:])
	}
}

// Listeners are called from the goroutines that cause transitions, concurrently for different
// members; Close waits for them and no call follows.
func TestFamilyListenersUnderConcurrencyAndClose(t *testing.T) {
	f, err := NewFamily(Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Hour)}, FamilyOptions{MaxKeys: 64})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	keys := map[string]int{}
	closed := false
	late := false
	if _, err := f.OnStateChange(func(t FamilyTransition) {
		mu.Lock()
		keys[t.Key]++
		late = late || closed
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			key := string(rune('a' + g))
			p, err := f.Allow(key)
			if err == nil {
				_, _ = p.RecordFailure()
			}
		}(g)
	}
	wg.Wait()
	_ = f.Close()
	mu.Lock()
	closed = true
	n := len(keys)
	mu.Unlock()
	if n != 8 {
		t.Fatalf("transitions of %d keys, want 8: %v", n, keys)
	}
	if late {
		t.Fatal("a listener ran after Close")
	}
}

// A family whose listener refers to it is still collected once unreachable, and its cleanup
// destroys the C family.
func TestUnreachableFamilyWithASelfReferencingListenerIsClosed(t *testing.T) {
	const n = 20
	handles := make([]uint64, 0, n)
	func() {
		for i := 0; i < n; i++ {
			f, err := NewFamily(Config{}, FamilyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.OnStateChange(func(FamilyTransition) { _ = f.Len() }); err != nil {
				t.Fatal(err)
			}
			handles = append(handles, f.familyHandle())
		}
	}()
	alive := func() int {
		count := 0
		for _, h := range handles {
			if cFamilyHandleAlive(h) {
				count++
			}
		}
		return count
	}
	for i := 0; i < 100 && alive() > n/10; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got := alive(); got > n/10 {
		t.Fatalf("%d of %d unreachable families with self-referencing listeners are still alive after GC", got, n)
	}
}
