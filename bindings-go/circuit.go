// Package circuit is a circuit breaker for Go, built on the circuit C library (one Rust engine
// shared with the C, Python and Node bindings; behaviour in docs/semantics.md).
//
//	b, err := circuit.New(circuit.Config{Name: "inventory", FailureThreshold: circuit.Of(5)})
//	if err != nil { ... }
//	defer b.Close()
//	err = b.Execute(func() error { return callInventory(ctx) })
//	if errors.Is(err, circuit.ErrOpen) { serve the fallback }
package circuit

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// State is a breaker state, spelled as in every circuit binding.
type State string

// The states (docs/semantics.md "States").
const (
	StateClosed     State = "closed"
	StateOpen       State = "open"
	StateHalfOpen   State = "half_open"
	StateForcedOpen State = "forced_open"
	StateDisabled   State = "disabled"
)

func stateOf(code C.circuit_breaker_state) State {
	return State(C.GoString(C.circuit_state_name(C.uint32_t(code))))
}

// Breaker is a circuit breaker. Safe for concurrent use. Close it when done (a cleanup closes a
// forgotten one once it is unreachable, even if its listeners refer to it).
type Breaker struct {
	// h is the C handle, copied from in.h for the hot paths (0 for a zero Breaker{}: every call
	// then gets CIRCUIT_ERR_INVALID_HANDLE, i.e. ErrClosed; handles are never reused, so after
	// Close it is refused the same way).
	h         C.circuit_breaker
	in        *breaker
	name      string
	isIgnored func(error) bool
	// listeners is reachable (strongly) only from this Breaker; the C side reaches it through
	// the weak pointer in.listeners, so listeners that refer to the Breaker keep nothing alive.
	listeners *listenerSet[Transition]
	cleanup   runtime.Cleanup
	// rejections holds, per reason, the last *RejectedError handed out (rejection.go).
	rejections rejections
}

// breaker is what the C library's listener and the cleanup of a Breaker hold. It never refers to
// the Breaker or to any user value (listeners, IsIgnored), so that a Breaker stays collectable
// while the C library, the dispatch table or a pending cleanup still holds this.
type breaker struct {
	h C.circuit_breaker
	// mu serializes OnStateChange's registration of the C listener with close.
	mu     sync.Mutex
	closed atomic.Bool
	// slot is this breaker's key in the dispatch table (0: no C listener registered yet).
	slot      uintptr
	listeners weak.Pointer[listenerSet[Transition]]
	// member: h is a family member's handle (Family.Get), whose destroy keeps the member's
	// listeners, so close removes its C listener (listenerID) first.
	member     bool
	listenerID C.uint64_t
}

// closedBreaker stands in for the inner breaker of a zero Breaker{} (not made by New): every
// method then returns ErrClosed instead of panicking.
var closedBreaker = func() *breaker {
	in := &breaker{}
	in.closed.Store(true)
	return in
}()

// core is the inner breaker (closedBreaker for a zero Breaker{}).
func (b *Breaker) core() *breaker {
	if b.in == nil {
		return closedBreaker
	}
	return b.in
}

// close destroys the C breaker and releases its dispatch slot; idempotent. It is the cleanup of
// a Breaker, so it must not refer to one.
func (in *breaker) close() {
	in.mu.Lock()
	if in.closed.Load() {
		in.mu.Unlock()
		return
	}
	in.closed.Store(true)
	slot := in.slot
	in.slot = 0
	in.mu.Unlock()
	if in.member && slot != 0 {
		C.circuit_remove_listener(in.h, in.listenerID)
	}
	C.circuit_destroy(in.h)
	releaseSlot(slot)
}

// checkedConfig builds config as a library configuration and has the library check it: an
// invalid option is a *ConfigError naming it. The caller frees the result.
func checkedConfig(config *Config) (*C.circuit_config, error) {
	cfg := C.circuit_config_new()
	if cfg == nil {
		return nil, errors.New("circuit: out of memory")
	}
	if err := config.apply(cfg); err != nil {
		C.circuit_config_free(cfg)
		return nil, err
	}
	var message [512]C.char
	// The library names the refused option as a code; no message text is parsed.
	var code C.uint32_t
	if st := C.circuit_config_check(cfg, &code, &message[0], C.size_t(len(message)), nil); st == C.CIRCUIT_ERR_INVALID_CONFIG {
		C.circuit_config_free(cfg)
		return nil, &ConfigError{Option: optionName(code), Message: C.GoString(&message[0])}
	}
	return cfg, nil
}

// New creates a breaker. An invalid option returns a *ConfigError naming it; nothing is created.
func New(config Config) (*Breaker, error) {
	cfg, err := checkedConfig(&config)
	if err != nil {
		return nil, err
	}
	defer C.circuit_config_free(cfg)
	var message [512]C.char
	var h C.circuit_breaker
	if st := C.circuit_go_create(cfg, &h, &message[0], C.size_t(len(message))); st != C.CIRCUIT_OK {
		return nil, errorFor(st, strings.TrimPrefix(C.GoString(&message[0]), "circuit_create: "))
	}
	runtime.KeepAlive(config.Clock)
	runtime.KeepAlive(config.Region)
	if config.State != nil {
		if err := restore(h, config.State, config.StateAt); err != nil {
			C.circuit_destroy(h)
			return nil, err
		}
	}
	in := &breaker{h: h}
	b := &Breaker{h: h, in: in, name: config.Name, isIgnored: config.IsIgnored, listeners: &listenerSet[Transition]{}}
	in.listeners = weak.Make(b.listeners)
	// A cleanup, not a finalizer: a finalizer never runs for an object on a cycle (a listener or
	// IsIgnored closure that refers to its Breaker), a cleanup does.
	b.cleanup = runtime.AddCleanup(b, (*breaker).close, in)
	return b, nil
}

// optionName is the schema's spelling of an option code ("" for CIRCUIT_NO_OPTION).
func optionName(code C.uint32_t) string {
	var info C.circuit_option
	if C.circuit_option_info(code, &info) != C.CIRCUIT_OK {
		return ""
	}
	return C.GoString(info.name)
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Execute runs fn if the breaker admits the call and records its outcome: nil is a success, an
// error for which Config.IsIgnored returns true (default: context.Canceled) is ignored, any other
// error is a failure. It returns fn's error, or a *RejectedError without calling fn. If fn or
// IsIgnored panics (or fn calls runtime.Goexit), the call is recorded as a failure and the panic
// continues: the permit is recorded on every path.
func (b *Breaker) Execute(fn func() error) error {
	h := b.h
	r := C.circuit_go_allow(h)
	if r.status != C.CIRCUIT_OK {
		runtime.KeepAlive(b)
		return b.rejection(r.status, r.retry_after_ns)
	}
	// Failure until fn and the classifier have both returned; the deferred record runs on every
	// way out (return, panic in fn or IsIgnored, runtime.Goexit).
	outcome := outcomeFailure
	defer func() {
		C.circuit_go_record(h, r.permit, outcome)
		runtime.KeepAlive(b)
	}()
	err := fn()
	switch {
	case err == nil:
		outcome = outcomeSuccess
	case b.ignored(err):
		outcome = outcomeIgnored
	}
	return err
}

func (b *Breaker) ignored(err error) bool {
	if b.isIgnored != nil {
		return b.isIgnored(err)
	}
	return errors.Is(err, context.Canceled)
}

// State returns the current state (due time-driven transitions applied first), or "" after Close.
func (b *Breaker) State() State {
	r := C.circuit_go_state(b.h)
	runtime.KeepAlive(b)
	if r.status != C.CIRCUIT_OK {
		return ""
	}
	return stateOf(r.state)
}

// Metrics is a snapshot of a breaker's counters (docs/semantics.md "Observability").
type Metrics struct {
	State                State
	Generation           uint64
	ConsecutiveFailures  uint64
	WindowCalls          uint64
	WindowFailures       uint64
	WindowSlow           uint64
	FailureRate          float64
	SlowRate             float64
	Admitted             uint64
	Rejected             uint64 // the sum of the three below
	RejectedOpen         uint64
	RejectedHalfOpenFull uint64
	RejectedForcedOpen   uint64
	Successes            uint64
	Failures             uint64
	Ignored              uint64
	Slow                 uint64
	Stale                uint64
	Opened               uint64
	TimeInState          time.Duration
	// RetryAfter is the time until a probe may be admitted when open; nil otherwise.
	RetryAfter *time.Duration
	// Transitions are the lifetime transition counts, one per (from, to, reason) that happened
	// (nil in FamilyMetrics.Overflow). Read just after the other fields, not in the same instant.
	Transitions []TransitionCount
}

// Metrics returns a snapshot, or ErrClosed after Close.
func (b *Breaker) Metrics() (Metrics, error) {
	var m C.circuit_metrics_snapshot
	st := C.circuit_metrics(b.h, &m)
	runtime.KeepAlive(b)
	if st != C.CIRCUIT_OK {
		return Metrics{}, errorFor(st, "")
	}
	out := metricsOf(&m)
	out.Transitions = transitionsOf(b.h)
	runtime.KeepAlive(b)
	return out, nil
}

func metricsOf(m *C.circuit_metrics_snapshot) Metrics {
	out := Metrics{
		State: stateOf(m.state), Generation: uint64(m.generation), ConsecutiveFailures: uint64(m.consecutive_failures),
		WindowCalls: uint64(m.window_calls), WindowFailures: uint64(m.window_failures), WindowSlow: uint64(m.window_slow),
		FailureRate: float64(m.failure_rate), SlowRate: float64(m.slow_rate),
		Admitted: uint64(m.admitted), Rejected: uint64(m.rejected), RejectedOpen: uint64(m.rejected_open),
		RejectedHalfOpenFull: uint64(m.rejected_half_open_full), RejectedForcedOpen: uint64(m.rejected_forced_open),
		Successes: uint64(m.successes),
		Failures:  uint64(m.failures), Ignored: uint64(m.ignored), Slow: uint64(m.slow), Stale: uint64(m.stale),
		Opened: uint64(m.opened), TimeInState: nanosToDuration(uint64(m.time_in_state_ns)),
	}
	if uint64(m.retry_after_ns) != uint64(C.CIRCUIT_NO_TIME) {
		d := nanosToDuration(uint64(m.retry_after_ns))
		out.RetryAfter = &d
	}
	return out
}

func (b *Breaker) manual(f func(C.circuit_breaker) C.circuit_status) error {
	st := f(b.h)
	runtime.KeepAlive(b)
	return errorFor(st, "")
}

// Reset closes the breaker from any state (new generation, empty window, backoff reset).
func (b *Breaker) Reset() error {
	return b.manual(func(h C.circuit_breaker) C.circuit_status { return C.circuit_reset(h) })
}

// ForceOpen rejects every call until Reset or Disable.
func (b *Breaker) ForceOpen() error {
	return b.manual(func(h C.circuit_breaker) C.circuit_status { return C.circuit_force_open(h) })
}

// Disable admits every call and never trips, until Reset or ForceOpen.
func (b *Breaker) Disable() error {
	return b.manual(func(h C.circuit_breaker) C.circuit_status { return C.circuit_disable(h) })
}

// Close destroys the breaker. It is idempotent and safe to call concurrently with other methods,
// which then return ErrClosed (or complete normally if they started first).
func (b *Breaker) Close() error {
	b.cleanup.Stop()
	b.core().close()
	runtime.KeepAlive(b)
	return nil
}
