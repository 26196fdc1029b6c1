package circuit

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"
)

// FamilyOptions bounds a Family's memory (docs/semantics.md "Families"). Zero values take the
// defaults.
type FamilyOptions struct {
	// MaxKeys is the most members at once (default 1024).
	MaxKeys int
	// IdleTTL is the idle time after which an unpinned member is evicted (default 10 minutes),
	// on the family's clock (Config.Clock if set).
	IdleTTL time.Duration
}

// Family is one breaker per key (a downstream host, endpoint or tenant), created on first use,
// with bounded memory. Safe for concurrent use. Close it when done (a cleanup closes a forgotten
// one once it is unreachable).
type Family struct {
	h         C.circuit_family
	in        *familyCore
	name      string
	isIgnored func(error) bool
	// listeners is reachable (strongly) only from this Family (see Breaker.listeners).
	listeners *listenerSet[FamilyTransition]
	cleanup   runtime.Cleanup
}

// NewFamily creates a family whose members are breakers configured by cfg, each named
// "<cfg.Name>/<key>" (just the key if cfg.Name is empty). An invalid option returns a
// *ConfigError naming it; nothing is created.
//
// With cfg.Region, the members live in the host region: the member of key k is the region's
// breaker "<cfg.Name>/k" and the overflow breaker "<cfg.Name>/(overflow)", each one breaker across
// every process that creates the same family there (same Name, same options). Each member takes
// one record of the region; once the region is full, new keys get the overflow breaker. The
// family runs on the region's clock (Clock must be nil). A region that refuses the family (no
// Name, no room for the overflow breaker, a breaker of the family there with other options)
// gives an error matching ErrRegion.
func NewFamily(cfg Config, opts FamilyOptions) (*Family, error) {
	if opts.MaxKeys < 0 || opts.MaxKeys > int(^uint32(0)) {
		return nil, &ConfigError{Option: "max_keys", Message: "max_keys: must be between 1 and 4294967295 (0: the default)"}
	}
	if cfg.State != nil {
		return nil, &ConfigError{Option: "state", Message: "state: a family restores no state document (its members start fresh)"}
	}
	if opts.IdleTTL < 0 {
		return nil, &ConfigError{Option: "idle_ttl", Message: "idle_ttl: must not be negative (0: the default)"}
	}
	c, err := checkedConfig(&cfg)
	if err != nil {
		return nil, err
	}
	defer C.circuit_config_free(c)
	var message [512]C.char
	var h C.circuit_family
	// The message is thread-local in the library: read it on the thread that made the call.
	runtime.LockOSThread()
	st := C.circuit_family_create(c, C.uint32_t(opts.MaxKeys), C.uint64_t(opts.IdleTTL), &h)
	if st != C.CIRCUIT_OK {
		C.circuit_last_error_message(&message[0], C.size_t(len(message)))
	}
	runtime.UnlockOSThread()
	if st != C.CIRCUIT_OK {
		return nil, errorFor(st, strings.TrimPrefix(C.GoString(&message[0]), "circuit_family_create: "))
	}
	runtime.KeepAlive(cfg.Clock)
	runtime.KeepAlive(cfg.Region)
	runtime.KeepAlive(cfg.FleetSet)
	in := &familyCore{h: h}
	f := &Family{h: h, in: in, name: cfg.Name, isIgnored: cfg.IsIgnored, listeners: &listenerSet[FamilyTransition]{}}
	in.listeners = weak.Make(f.listeners)
	f.cleanup = runtime.AddCleanup(f, (*familyCore).close, in)
	return f, nil
}

// familyCore is what the C library's family listener and the cleanup of a Family hold; like
// breaker, it never refers to the Family or to a user value.
type familyCore struct {
	h C.circuit_family
	// mu serializes OnStateChange's registration of the C listener with close.
	mu     sync.Mutex
	closed atomic.Bool
	// slot is this family's key in familyDispatch (0: no C listener registered yet).
	slot      uintptr
	listeners weak.Pointer[listenerSet[FamilyTransition]]
}

// close destroys the C family (which waits for a listener call in progress on another thread)
// and releases its dispatch slot; idempotent. It is the cleanup of a Family.
func (in *familyCore) close() {
	in.mu.Lock()
	if in.closed.Load() {
		in.mu.Unlock()
		return
	}
	in.closed.Store(true)
	slot := in.slot
	in.slot = 0
	in.mu.Unlock()
	C.circuit_family_destroy(in.h)
	if slot != 0 {
		familyDispatch.Delete(slot)
	}
}

// breakerName is the library's name of the breaker h ("" if it has none or h is not live).
func breakerName(h C.circuit_breaker) string {
	var buffer [128]C.char
	var n C.size_t
	if C.circuit_name(h, &buffer[0], C.size_t(len(buffer)), &n) != C.CIRCUIT_OK {
		return ""
	}
	if int(n) < len(buffer) {
		return C.GoStringN(&buffer[0], C.int(n))
	}
	long := make([]byte, int(n)+1)
	if C.circuit_name(h, (*C.char)(unsafe.Pointer(&long[0])), C.size_t(len(long)), &n) != C.CIRCUIT_OK {
		return ""
	}
	return string(long[:n])
}

// memberName is the name of the member for key (the overflow breaker's is not known here).
func (f *Family) memberName(key string) string {
	if f.name != "" {
		return f.name + "/" + key
	}
	return key
}

// keyArgs passes key's bytes to C without copying (they hold no Go pointers).
func keyArgs(key string) (*C.char, C.size_t) {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(key))), C.size_t(len(key))
}

// Get returns the breaker for key, created on first use (if the family is full and every member
// is pinned, the family's shared overflow breaker). Each call returns a new *Breaker that owns a
// handle of the member: while it is open (not closed) the member is pinned, never evicted, so a
// permit from it always records on the breaker that issued it. Close it when done with it (a
// cleanup closes a forgotten one); closing it releases only this handle, never the member. After
// Close of the family, Get returns ErrClosed.
func (f *Family) Get(key string) (*Breaker, error) {
	p, n := keyArgs(key)
	var h C.circuit_breaker
	st := C.circuit_family_get(f.h, p, n, &h)
	runtime.KeepAlive(key)
	if st != C.CIRCUIT_OK {
		var message [256]C.char
		C.circuit_last_error_message(&message[0], C.size_t(len(message)))
		runtime.KeepAlive(f)
		return nil, errorFor(st, C.GoString(&message[0]))
	}
	name := breakerName(h) // the library's: "<name>/(overflow)" for the overflow breaker
	in := &breaker{h: h, member: true}
	b := &Breaker{h: h, in: in, name: name, isIgnored: f.isIgnored, listeners: &listenerSet[Transition]{}}
	in.listeners = weak.Make(b.listeners)
	b.cleanup = runtime.AddCleanup(b, (*breaker).close, in)
	runtime.KeepAlive(f)
	return b, nil
}

// Len is the number of members (not counting the overflow breaker); 0 after Close.
func (f *Family) Len() int {
	var n C.size_t
	if C.circuit_family_len(f.h, &n) != C.CIRCUIT_OK {
		return 0
	}
	runtime.KeepAlive(f)
	return int(n)
}

// Contains reports whether the family has a member for key now (without creating one or
// counting as a use); false after Close.
func (f *Family) Contains(key string) bool {
	p, n := keyArgs(key)
	var c C.bool
	st := C.circuit_family_contains(f.h, p, n, &c)
	runtime.KeepAlive(key)
	runtime.KeepAlive(f)
	return st == C.CIRCUIT_OK && bool(c)
}

// Close releases the family; idempotent. Breakers from Get that are still open keep working as
// ordinary breakers until they are closed, and permits from Allow until they are recorded. Once
// Close returns, no OnStateChange listener is called again.
func (f *Family) Close() error {
	f.cleanup.Stop()
	f.core().close()
	runtime.KeepAlive(f)
	return nil
}

// closedFamily stands in for the inner family of a zero Family{}.
var closedFamily = func() *familyCore {
	in := &familyCore{}
	in.closed.Store(true)
	return in
}()

func (f *Family) core() *familyCore {
	if f.in == nil {
		return closedFamily
	}
	return f.in
}
