package circuit

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Permit cells are recycled once recorded: a copy of a recorded permit still gets
// ErrAlreadyRecorded, and keeps its own generation, after its cell serves a later permit.
func TestRecordedPermitCopyStaysRecordedAfterItsCellIsReused(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1000)})
	for attempt := 0; attempt < 100; attempt++ {
		first, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		copyOfFirst, gen := first, first.Generation()
		if counted, err := b.RecordSuccess(first); !counted || err != nil {
			t.Fatal(counted, err)
		}
		_ = b.Reset() // a new generation for the later permit
		later, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		if later.cell != copyOfFirst.cell {
			_, _ = b.RecordIgnored(later)
			continue // another cell came from the pool (e.g. the goroutine moved); try again
		}
		if _, err := b.RecordFailure(copyOfFirst); !errors.Is(err, ErrAlreadyRecorded) {
			t.Fatalf("a recorded permit's copy must stay recorded, got %v", err)
		}
		if copyOfFirst.Generation() != gen || later.Generation() == gen {
			t.Fatalf("generations: held %d (was %d), later %d", copyOfFirst.Generation(), gen, later.Generation())
		}
		if counted, err := b.RecordSuccess(later); !counted || err != nil {
			t.Fatalf("the later permit must still record: %v %v", counted, err)
		}
		if m, _ := b.Metrics(); m.Failures != 0 {
			t.Fatalf("the copy's failure was counted: %+v", m)
		}
		if _, err := newBreaker(t, Config{}).RecordSuccess(later); !errors.Is(err, ErrForeignPermit) {
			t.Fatalf("foreign: %v", err)
		}
		return
	}
	t.Fatal("recorded permit cells are never reused (Allow would allocate)")
}

// Two goroutines racing to record copies of one permit: exactly one records it, however the
// cells are recycled meanwhile (go test -race checks the cells' reuse).
func TestConcurrentRecordsOfCopiesCountOnce(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1 << 30)})
	const goroutines, each = 4, 500
	var wg sync.WaitGroup
	var recorded, refused atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p, err := b.Allow()
				if err != nil {
					t.Error(err)
					return
				}
				var race sync.WaitGroup
				for _, record := range []func(Permit) (bool, error){b.RecordSuccess, b.RecordFailure} {
					race.Add(1)
					go func(copyOfP Permit) {
						defer race.Done()
						switch _, err := record(copyOfP); {
						case err == nil:
							recorded.Add(1)
						case errors.Is(err, ErrAlreadyRecorded):
							refused.Add(1)
						default:
							t.Error(err)
						}
					}(p)
				}
				race.Wait()
			}
		}()
	}
	wg.Wait()
	m, _ := b.Metrics()
	if n := int64(goroutines * each); recorded.Load() != n || refused.Load() != n || m.Successes+m.Failures != uint64(n) {
		t.Fatalf("recorded %d, refused %d, counted %d, of %d permits", recorded.Load(), refused.Load(), m.Successes+m.Failures, n)
	}
}
