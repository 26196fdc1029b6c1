package circuit

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"
)

// ErrRegion matches (with errors.Is) every error a host region reports: a file that cannot be
// opened or created, or is not a region, or was made with another capacity or clock; a full
// region; a breaker without a name; a breaker that exists in the region with other options (the
// message names each differing option). The error's text is the library's, naming the region's
// path and the problem.
var ErrRegion = errors.New("circuit: host region error")

// regionError is the error of a refused region operation; it matches ErrRegion.
type regionError struct{ message string }

func (e *regionError) Error() string { return "circuit: " + e.message }

// Is reports whether target is ErrRegion.
func (e *regionError) Is(target error) bool { return target == ErrRegion }

// HostRegion is a host region (docs/shared.md): a file, typically under /dev/shm, that every
// process on the host maps. Breakers created with the same Config.Name in one region, by any
// number of processes (whatever their language), are one breaker: one state, one failure count,
// one half-open probe budget. Safe for concurrent use.
//
// Close releases the handle; breakers created in the region keep working (the mapping they use
// stays for the life of the process), and the file keeps its breakers for other processes.
type HostRegion struct {
	mu   sync.RWMutex
	h    C.circuit_region
	path string
}

// OpenHostRegion opens the region at path, creating it if it does not exist (mode 0600, the
// host's monotonic clock, room for capacity breakers: fixed at creation, at most 65536). An error
// matches ErrRegion and names the path and the problem.
func OpenHostRegion(path string, capacity int) (*HostRegion, error) {
	return openRegion(path, capacity, false)
}

// OpenManualHostRegion is OpenHostRegion for a region on a manual clock, for deterministic tests
// and simulations: its clock starts at 0 and moves only with Advance, called from any process.
// Opening a host-clock region this way (or a manual-clock one with OpenHostRegion) is refused.
func OpenManualHostRegion(path string, capacity int) (*HostRegion, error) {
	return openRegion(path, capacity, true)
}

func openRegion(path string, capacity int, manual bool) (*HostRegion, error) {
	if capacity < 1 || capacity > math.MaxUint32 {
		return nil, &regionError{fmt.Sprintf("circuit region %s: capacity must be at least 1, got %d", path, capacity)}
	}
	if path == "" || strings.ContainsRune(path, 0) {
		return nil, &regionError{fmt.Sprintf("circuit region %q: the path must be non-empty, without NUL bytes", path)}
	}
	cpath, free := cString(path)
	defer free()
	var message [1024]C.char
	var h C.circuit_region
	st := C.circuit_go_region_open(cpath, C.uint32_t(capacity), C.bool(manual), &h, &message[0], C.size_t(len(message)))
	if st != C.CIRCUIT_OK {
		return nil, errorFor(st, trimFunction(C.GoString(&message[0])))
	}
	r := &HostRegion{h: h, path: path}
	runtime.SetFinalizer(r, (*HostRegion).Close)
	return r, nil
}

// trimFunction drops the C function's name ("circuit_region_open: ") from a library message.
func trimFunction(message string) string {
	if i := strings.Index(message, ": "); i > 0 && strings.HasPrefix(message, "circuit_") && !strings.Contains(message[:i], " ") {
		return message[i+2:]
	}
	return message
}

// Path returns the region's path.
func (r *HostRegion) Path() string { return r.path }

func (r *HostRegion) handle() (C.circuit_region, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == 0 {
		return 0, ErrClosed
	}
	return r.h, nil
}

// Advance moves a manual-clock region's clock forward by d, for every process and every breaker
// of the region. It returns an error matching ErrRegion for a host-clock region, ErrClosed after
// Close, and refuses a negative d.
func (r *HostRegion) Advance(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("circuit: Advance(%s): the clock is monotonic", d)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == 0 {
		return ErrClosed
	}
	var message [1024]C.char
	st := C.circuit_go_region_advance(r.h, C.uint64_t(d), &message[0], C.size_t(len(message)))
	return errorFor(st, trimFunction(C.GoString(&message[0])))
}

// Close releases the region. Breakers created in it keep working. It is idempotent (a second
// Close returns nil) and safe to call concurrently.
func (r *HostRegion) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h != 0 {
		C.circuit_region_close(r.h)
		r.h = 0
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// ProcessCounts are a breaker's own counts in this process: what this Breaker admitted and
// recorded. For a breaker in a HostRegion, Metrics reports the totals of every process; for any
// other breaker both agree.
type ProcessCounts struct {
	Admitted     uint64
	RejectedOpen uint64
	Successes    uint64
	Failures     uint64
	Ignored      uint64
	Slow         uint64
	Stale        uint64
}

// ProcessCounts returns this Breaker's own counts. ok is false after Close, and for a breaker in
// a region that got no process entry of its own (more than sixteen Breakers of it alive at once
// across the host: its counts then go to a common stripe and only the totals are known).
func (b *Breaker) ProcessCounts() (counts ProcessCounts, ok bool) {
	var c C.circuit_process_counts_snapshot
	st := C.circuit_process_counts(b.h, &c)
	runtime.KeepAlive(b)
	if st != C.CIRCUIT_OK {
		return ProcessCounts{}, false
	}
	return ProcessCounts{
		Admitted: uint64(c.admitted), RejectedOpen: uint64(c.rejected_open), Successes: uint64(c.successes),
		Failures: uint64(c.failures), Ignored: uint64(c.ignored), Slow: uint64(c.slow), Stale: uint64(c.stale),
	}, true
}
