package circuit

/*
#include "circuit.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
)

// ManualClock is a clock that starts at 0 and moves only when advanced. Any number of breakers
// can share one (set Config.Clock), which makes tests and simulations deterministic. Safe for
// concurrent use. Close releases it; breakers created with it keep their (frozen) time.
type ManualClock struct {
	mu sync.RWMutex
	h  C.circuit_clock
}

// NewManualClock returns a manual clock at instant 0.
func NewManualClock() (*ManualClock, error) {
	var h C.circuit_clock
	if st := C.circuit_clock_manual_new(&h); st != C.CIRCUIT_OK {
		return nil, errorFor(st, "")
	}
	c := &ManualClock{h: h}
	runtime.SetFinalizer(c, (*ManualClock).Close)
	return c, nil
}

func (c *ManualClock) handle() (C.circuit_clock, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.h == 0 {
		return 0, ErrClosed
	}
	return c.h, nil
}

// Advance moves the clock forward by d (saturating) and returns the new instant. A negative d
// is refused (the clock is monotonic) and returns the current instant unchanged.
func (c *ManualClock) Advance(d time.Duration) time.Duration {
	h, err := c.handle()
	if err != nil || d < 0 {
		return c.Now()
	}
	var now C.uint64_t
	C.circuit_clock_manual_advance(h, C.uint64_t(d), &now)
	runtime.KeepAlive(c)
	return nanosToDuration(uint64(now))
}

// Now returns the clock's current instant (0 after Close).
func (c *ManualClock) Now() time.Duration {
	h, err := c.handle()
	if err != nil {
		return 0
	}
	var now C.uint64_t
	C.circuit_clock_manual_now(h, &now)
	runtime.KeepAlive(c)
	return nanosToDuration(uint64(now))
}

// Close releases the clock. It is idempotent and safe to call concurrently.
func (c *ManualClock) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != 0 {
		C.circuit_clock_destroy(c.h)
		c.h = 0
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

func nanosToDuration(ns uint64) time.Duration {
	if ns > uint64(1<<63-1) {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(ns)
}
