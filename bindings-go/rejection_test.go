package circuit

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func rejectedBy(t *testing.T, b *Breaker) *RejectedError {
	t.Helper()
	var re *RejectedError
	if err := b.Execute(func() error { t.Fatal("must not run"); return nil }); !errors.As(err, &re) {
		t.Fatalf("expected a *RejectedError, got %v", err)
	}
	return re
}

// The cached rejection is shared only while it says the same; a value once returned never
// changes, whatever later rejections report.
func TestHeldRejectionNeverChanges(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{Name: "db", FailureThreshold: Of(1), ResetTimeout: Of(2 * time.Second), Clock: clock})
	_ = b.Execute(func() error { return errTest })
	first := rejectedBy(t, b)
	if again := rejectedBy(t, b); again != first {
		t.Fatal("an identical rejection must reuse the cached value (no allocation)")
	}
	clock.Advance(500 * time.Millisecond)
	later := rejectedBy(t, b)
	if later == first || *later.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("a later rejection must say its own retry-after: %v", later)
	}
	if *first.RetryAfter != 2*time.Second || first.Error() != `circuit "db" rejected the call (open); retry after 2s` {
		t.Fatalf("the held rejection changed: %v", first)
	}
	if err := b.ForceOpen(); err != nil {
		t.Fatal(err)
	}
	forced := rejectedBy(t, b)
	if forced.Reason != "forced_open" || forced.State != StateForcedOpen || forced.RetryAfter != nil || !errors.Is(forced, ErrForcedOpen) {
		t.Fatalf("forced open: %+v", forced)
	}
	if later.Reason != "open" || *later.RetryAfter != 1500*time.Millisecond || errors.Is(later, ErrForcedOpen) {
		t.Fatalf("the held open rejection changed: %+v", later)
	}
}

// Breakers never share rejections (each names its own breaker).
func TestRejectionsAreCachedPerBreaker(t *testing.T) {
	a, b := newBreaker(t, Config{Name: "a"}), newBreaker(t, Config{Name: "b"})
	_, _ = a.ForceOpen(), b.ForceOpen()
	if ra, rb := rejectedBy(t, a), rejectedBy(t, b); ra.Name != "a" || rb.Name != "b" {
		t.Fatalf("names: %q %q", ra.Name, rb.Name)
	}
}

// Goroutines rejected while the clock moves each keep what they were told (go test -race
// reports any write to a published value).
func TestConcurrentRejectionsKeepTheirValues(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Hour), Clock: clock})
	_ = b.Execute(func() error { return errTest })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			clock.Advance(time.Millisecond)
		}
		close(stop)
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []*RejectedError
			var told []time.Duration
			for {
				select {
				case <-stop:
					for i, re := range held {
						if *re.RetryAfter != told[i] || re.Reason != "open" {
							t.Errorf("a held rejection changed: %v, was told %v", re, told[i])
						}
					}
					return
				default:
				}
				_, err := b.Allow()
				var re *RejectedError
				if !errors.As(err, &re) || re.RetryAfter == nil {
					t.Errorf("expected an open rejection, got %v", err)
					return
				}
				if len(held) < 10000 {
					held, told = append(held, re), append(told, *re.RetryAfter)
				}
			}
		}()
	}
	wg.Wait()
}
