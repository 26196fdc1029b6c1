package circuit

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// within fails the test if fn does not return within a generous limit, so a deadlock fails the
// test instead of hanging the run.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still blocked after 20s (deadlock)", what)
	}
}

// A breaker that becomes unreachable is closed by its cleanup even when its listener refers
// to the breaker itself (the listener must not keep the breaker alive).
func TestUnreachableBreakerWithSelfReferencingListenerIsClosed(t *testing.T) {
	const n = 1000
	handles := make([]uint64, 0, n)
	slotsBefore := liveListenerSlots()
	func() {
		for i := 0; i < n; i++ {
			b, err := New(Config{FailureThreshold: Of(1)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.OnStateChange(func(Transition) { _ = b.State() }); err != nil {
				t.Fatal(err)
			}
			handles = append(handles, b.cHandle())
		}
	}()
	alive := func() int {
		count := 0
		for _, h := range handles {
			if cBreakerAlive(h) {
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
		t.Fatalf("%d of %d unreachable breakers with self-referencing listeners are still alive after GC", got, n)
	}
	if held := liveListenerSlots() - slotsBefore; held > n/10 {
		t.Fatalf("%d of %d listener slots still held after GC", held, n)
	}
	t.Logf("%d of %d still alive", alive(), n)
}

// The listener of a breaker that is still in use survives garbage collections.
func TestListenerOfALiveBreakerSurvivesGC(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1)})
	var calls atomic.Int32
	if _, err := b.OnStateChange(func(Transition) { calls.Add(1) }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	_ = b.ForceOpen()
	if calls.Load() != 1 {
		t.Fatalf("listener calls after GC: %d", calls.Load())
	}
}

// OnStateChange racing Close never leaves a listener slot (handle) behind.
func TestOnStateChangeRacingCloseLeavesNoListenerSlot(t *testing.T) {
	for round := 0; round < 300; round++ {
		b, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for j := 0; j < 4; j++ {
					if _, err := b.OnStateChange(func(Transition) {}); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("OnStateChange: %v", err)
						}
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			runtime.Gosched()
			_ = b.Close()
		}()
		close(start)
		wg.Wait()
		if slots := b.listenerSlots(); slots != 0 {
			t.Fatalf("round %d: %d listener slots never released after Close", round, slots)
		}
		if _, err := b.OnStateChange(func(Transition) {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("OnStateChange after Close: %v", err)
		}
		if slots := b.listenerSlots(); slots != 0 {
			t.Fatalf("OnStateChange after Close holds %d slots", slots)
		}
	}
}

// A listener that records the very permit whose record caused the transition gets
// ErrAlreadyRecorded instead of deadlocking.
func TestListenerRecordingTheSamePermitDoesNotDeadlock(t *testing.T) {
	b := newBreaker(t, Config{FailureThreshold: Of(1)})
	p, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	inner := make(chan error, 1)
	if _, err := b.OnStateChange(func(tr Transition) {
		if tr.Reason == "failure_threshold" {
			_, err := b.RecordSuccess(p)
			inner <- err
		}
	}); err != nil {
		t.Fatal(err)
	}
	var counted bool
	within(t, "RecordFailure with a listener recording the same permit", func() { counted, err = b.RecordFailure(p) })
	if !counted || err != nil {
		t.Fatalf("outer record: counted=%v err=%v", counted, err)
	}
	select {
	case err := <-inner:
		if !errors.Is(err, ErrAlreadyRecorded) {
			t.Fatalf("listener's record: %v", err)
		}
	default:
		t.Fatal("listener was not called")
	}
	if m, _ := b.Metrics(); m.Failures != 1 || m.Successes != 0 || m.State != StateOpen {
		t.Fatalf("metrics %+v", m)
	}
}

// A listener removed by an earlier listener during the same event is not called for it.
func TestListenerRemovedDuringTheSameEventIsNotCalled(t *testing.T) {
	b := newBreaker(t, Config{})
	var removeSecond func()
	var second atomic.Int32
	if _, err := b.OnStateChange(func(Transition) { removeSecond() }); err != nil {
		t.Fatal(err)
	}
	removeSecond, _ = b.OnStateChange(func(Transition) { second.Add(1) })
	_ = b.ForceOpen()
	_ = b.Reset()
	if n := second.Load(); n != 0 {
		t.Fatalf("removed listener called %d times", n)
	}
}

// A listener may remove itself (no deadlock) and is not called again.
func TestListenerRemovingItself(t *testing.T) {
	b := newBreaker(t, Config{})
	var calls atomic.Int32
	var remove func()
	remove, _ = b.OnStateChange(func(Transition) { calls.Add(1); remove(); remove() })
	within(t, "self-removal", func() { _ = b.ForceOpen() })
	_ = b.Reset()
	if n := calls.Load(); n != 1 {
		t.Fatalf("calls %d", n)
	}
}

// remove, called on another goroutine while the listener runs, returns only after that call
// has returned, and the listener is never called again.
func TestRemoveWaitsForACallInProgress(t *testing.T) {
	b := newBreaker(t, Config{})
	started, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	var calls atomic.Int32
	var returned atomic.Bool
	remove, err := b.OnStateChange(func(Transition) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			returned.Store(true)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan struct{})
	go func() { defer close(delivered); _ = b.ForceOpen() }()
	<-started
	removed := make(chan bool, 1)
	go func() { remove(); removed <- returned.Load() }()
	select {
	case <-removed:
		t.Fatal("remove returned while the listener was still running on another goroutine")
	case <-time.After(200 * time.Millisecond):
	}
	releaseOnce.Do(func() { close(release) })
	select {
	case ok := <-removed:
		if !ok {
			t.Fatal("remove returned before the call in progress did")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("remove never returned")
	}
	<-delivered
	_ = b.Reset()
	_ = b.ForceOpen()
	if n := calls.Load(); n != 1 {
		t.Fatalf("calls %d after remove", n)
	}
	within(t, "second remove", remove)
}

// Every listener is called even when an earlier one panics, and removing after Close is fine.
func TestPanickingListenerDoesNotStopTheNext(t *testing.T) {
	b := newBreaker(t, Config{})
	var calls atomic.Int32
	_, _ = b.OnStateChange(func(Transition) { panic("first") })
	remove, _ := b.OnStateChange(func(Transition) { calls.Add(1) })
	_, _ = b.OnStateChange(func(Transition) { panic("third") })
	_ = b.ForceOpen()
	_ = b.Reset()
	if calls.Load() != 2 {
		t.Fatalf("calls %d", calls.Load())
	}
	_ = b.Close()
	within(t, "remove after Close", remove)
}

// A listener may register another listener or close the breaker: no deadlock, no slot left,
// and the listeners after it are not called once the breaker is closed.
func TestListenerMayRegisterOrClose(t *testing.T) {
	b := newBreaker(t, Config{})
	var later atomic.Int32
	if _, err := b.OnStateChange(func(tr Transition) {
		if tr.To == StateForcedOpen {
			_, _ = b.OnStateChange(func(Transition) { later.Add(1) })
			return
		}
		_ = b.Close()
	}); err != nil {
		t.Fatal(err)
	}
	within(t, "ForceOpen with a registering listener", func() { _ = b.ForceOpen() })
	within(t, "Reset with a closing listener", func() { _ = b.Reset() })
	if later.Load() != 0 {
		t.Fatalf("listener after a Close in the same event called %d times", later.Load())
	}
	if slots := b.listenerSlots(); slots != 0 {
		t.Fatalf("%d slots after Close", slots)
	}
	if err := b.ForceOpen(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// A listener that holds an unrecorded probe permit of its breaker keeps neither alive: the
// breaker is closed by its cleanup (a finalizer on the permit would pin the whole cycle).
func TestListenerHoldingAProbePermitDoesNotLeakTheBreaker(t *testing.T) {
	const n = 200
	clock := manualClock(t)
	handles := make([]uint64, 0, n)
	func() {
		for i := 0; i < n; i++ {
			b, err := New(Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := b.Allow()
			_, _ = b.RecordFailure(p)
			clock.Advance(time.Second)
			probe, err := b.Allow()
			if err != nil || !probe.IsProbe() {
				t.Fatalf("probe: %v", err)
			}
			if _, err := b.OnStateChange(func(Transition) { _, _ = b.RecordSuccess(probe) }); err != nil {
				t.Fatal(err)
			}
			handles = append(handles, b.cHandle())
		}
	}()
	alive := func() int {
		count := 0
		for _, h := range handles {
			if cBreakerAlive(h) {
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
		t.Fatalf("%d of %d unreachable breakers whose listener holds a probe permit are still alive", got, n)
	}
}
