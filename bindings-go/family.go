package circuit

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"strings"
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
	name      string
	isIgnored func(error) bool
	closed    *atomic.Bool
	cleanup   runtime.Cleanup
}

// NewFamily creates a family whose members are breakers configured by cfg, each named
// "<cfg.Name>/<key>" (just the key if cfg.Name is empty). An invalid option returns a
// *ConfigError naming it; nothing is created.
func NewFamily(cfg Config, opts FamilyOptions) (*Family, error) {
	if opts.MaxKeys < 0 || opts.MaxKeys > int(^uint32(0)) {
		return nil, &ConfigError{Option: "max_keys", Message: "max_keys: must be between 1 and 4294967295 (0: the default)"}
	}
	if opts.IdleTTL < 0 {
		return nil, &ConfigError{Option: "idle_ttl", Message: "idle_ttl: must not be negative (0: the default)"}
	}
	c := C.circuit_config_new()
	if c == nil {
		return nil, errors.New("circuit: out of memory")
	}
	defer C.circuit_config_free(c)
	if err := cfg.apply(c); err != nil {
		return nil, err
	}
	var message [512]C.char
	var code C.uint32_t
	if st := C.circuit_config_check(c, &code, &message[0], C.size_t(len(message)), nil); st == C.CIRCUIT_ERR_INVALID_CONFIG {
		return nil, &ConfigError{Option: optionName(code), Message: C.GoString(&message[0])}
	}
	var h C.circuit_family
	if st := C.circuit_family_create(c, C.uint32_t(opts.MaxKeys), C.uint64_t(opts.IdleTTL), &h); st != C.CIRCUIT_OK {
		C.circuit_last_error_message(&message[0], C.size_t(len(message)))
		return nil, errorFor(st, strings.TrimPrefix(C.GoString(&message[0]), "circuit_family_create: "))
	}
	runtime.KeepAlive(cfg.Clock)
	f := &Family{h: h, name: cfg.Name, isIgnored: cfg.IsIgnored, closed: &atomic.Bool{}}
	f.cleanup = runtime.AddCleanup(f, closeFamily, familyHandle{h: h, closed: f.closed})
	return f, nil
}

type familyHandle struct {
	h      C.circuit_family
	closed *atomic.Bool
}

func closeFamily(fh familyHandle) {
	if fh.closed.CompareAndSwap(false, true) {
		C.circuit_family_destroy(fh.h)
	}
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
	name := key
	if f.name != "" {
		name = f.name + "/" + key
	}
	in := &breaker{h: h, member: true}
	b := &Breaker{h: h, in: in, name: name, isIgnored: f.isIgnored, listeners: &listenerSet{}}
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
// ordinary breakers until they are closed.
func (f *Family) Close() error {
	f.cleanup.Stop()
	closeFamily(familyHandle{h: f.h, closed: f.closed})
	runtime.KeepAlive(f)
	return nil
}
