package circuit

/*
#include <stdlib.h>
#include <string.h>
#include "circuit.h"
*/
import "C"

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// FleetOptions are the options of a fleet breaker (docs/fleet.md). A zero field takes the
// default given in its comment. The fields are the core's fleet options (circuit_fleet_option_info),
// one per option in CamelCase: NewFleet sets each by its schema name, and a test holds the two
// lists equal.
type FleetOptions struct {
	SyncInterval          time.Duration // default 250 ms; also the store's response timeout
	OnStoreFailure        string        // "local" (default), "open" or "closed"
	Window                time.Duration // default 10 s
	Buckets               int           // default 10
	MinimumCalls          int           // default 20
	FailureRateThreshold  *float64      // default 0.5; a negative value turns it off
	SlowCallRateThreshold *float64      // default off
	ResetTimeout          time.Duration // default 30 s
	BackoffMultiplier     float64       // default 2
	MaxResetTimeout       time.Duration // default 300 s
	HalfOpenMaxCalls      int           // default 1
	SuccessThreshold      int           // default 1
	ProbeLease            time.Duration // default 10 s
	MaxStaleness          time.Duration // default 2 s
	KeyExpiry             time.Duration // default 24 h
	Clock                 *ManualClock  // tests: run the fleet on a manual clock
}

// Fleet is this instance's side of a fleet breaker (the C library's circuit_fleet). Attach it
// with Config.Fleet; a host (circuitredis) runs Poll -> the store -> Complete/Fail on one
// goroutine. Safe for concurrent use; Close is idempotent.
type Fleet struct {
	mu      sync.RWMutex
	h       C.circuit_fleet
	name    string
	onEvent func(FleetEvent)
	// inSet: the fleet is a FleetSet's (the set frees it; Close leaves it).
	inSet bool
}

// FleetEvent is something a fleet reports: Kind "transition" (From, To, Epoch),
// "store_degraded", "store_recovered" or "mismatch" (Stored).
type FleetEvent struct {
	Kind     string
	From, To State
	Epoch    uint64
	Stored   string
}

// FleetStatus is the fleet level's state.
type FleetStatus struct {
	State        State
	Epoch        uint64
	Degraded     bool
	Staleness    *time.Duration // nil before the first successful sync
	Syncs        uint64
	SyncFailures uint64
}

// SyncRequest is one sync to send: EVALSHA FleetScriptSHA1 1 Key Args... (EVAL FleetScript on
// NOSCRIPT). Answer it with Complete or Fail.
type SyncRequest struct {
	Key  string
	Args []string
	c    *C.circuit_fleet_request
}

// FleetScript is the fleet's Lua script; FleetScriptSHA1 its SHA-1 for EVALSHA.
var FleetScript, FleetScriptSHA1 = func() (string, string) {
	var p *C.char
	var n C.size_t
	C.circuit_fleet_script(&p, &n)
	return C.GoStringN(p, C.int(n)), C.GoString(C.circuit_fleet_script_sha1())
}()

func lastMessage() string {
	var buf [512]C.char
	C.circuit_last_error_message(&buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}

// NewFleet makes the fleet breaker name (store key circuit:{name}). An invalid option is a
// *ConfigError naming it.
func NewFleet(name string, o FleetOptions) (*Fleet, error) {
	cfg, err := fleetConfig(o)
	if err != nil {
		return nil, err
	}
	defer C.circuit_fleet_config_free(cfg)
	cname, free := cString(name)
	defer free()
	var h C.circuit_fleet
	runtime.LockOSThread() // the message is thread-local in the library
	defer runtime.UnlockOSThread()
	if err := fleetCreated(C.circuit_fleet_new(cname, cfg, &h)); err != nil {
		return nil, err
	}
	return &Fleet{h: h, name: name}, nil
}

// fleetConfig is the C fleet config of o (free it with circuit_fleet_config_free).
func fleetConfig(o FleetOptions) (*C.circuit_fleet_config, error) {
	cfg := C.circuit_fleet_config_new()
	if cfg == nil {
		return nil, fmt.Errorf("circuit: out of memory")
	}
	if err := o.apply(cfg); err != nil {
		C.circuit_fleet_config_free(cfg)
		return nil, err
	}
	if o.Clock != nil {
		h, err := o.Clock.handle()
		if err != nil {
			C.circuit_fleet_config_free(cfg)
			return nil, err
		}
		C.circuit_fleet_config_set_manual_clock(cfg, h)
	}
	return cfg, nil
}

// fleetCreated is the error of circuit_fleet_new or circuit_fleet_set_new: a *ConfigError naming
// the option for an invalid one (read on the calling thread, which the caller locks).
func fleetCreated(st C.circuit_status) error {
	switch st {
	case C.CIRCUIT_OK:
		return nil
	case C.CIRCUIT_ERR_INVALID_CONFIG:
		msg := lastMessage()
		opt := ""
		if i := indexOf(msg, "`"); i >= 0 {
			if j := indexOf(msg[i+1:], "`"); j >= 0 {
				opt = msg[i+1 : i+1+j]
			}
		}
		return &ConfigError{Option: opt, Message: msg}
	default:
		return errorFor(st, lastMessage())
	}
}

// fleetOption is one option of the core's fleet schema.
type fleetOption struct {
	name, kind, defaultValue string // kind: "text", "count", "number", "duration" or "seed"
}

// fleetSchema lists the core's fleet options, in the schema's order.
var fleetSchema = func() []fleetOption {
	n := C.circuit_fleet_option_count()
	out := make([]fleetOption, 0, n)
	for i := C.uint32_t(0); i < n; i++ {
		var info C.circuit_option
		if C.circuit_fleet_option_info(i, &info) == C.CIRCUIT_OK {
			kind := map[C.circuit_option_kind]string{C.CIRCUIT_OPTION_TEXT: "text", C.CIRCUIT_OPTION_COUNT: "count", C.CIRCUIT_OPTION_NUMBER: "number", C.CIRCUIT_OPTION_DURATION: "duration", C.CIRCUIT_OPTION_SEED: "seed"}[info.kind]
			out = append(out, fleetOption{name: C.GoString(info.name), kind: kind, defaultValue: C.GoString(info.default_value)})
		}
	}
	return out
}()

// camelCase spells a schema name as a Go field: "half_open_max_calls" -> "HalfOpenMaxCalls".
func camelCase(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// apply sets every non-zero option on cfg by its schema name, looping over the core's schema
// (so an option is declared once, in the core). It refuses what C cannot express (negative
// durations and counts) with a *ConfigError naming the option.
func (o *FleetOptions) apply(cfg *C.circuit_fleet_config) error {
	v := reflect.ValueOf(o).Elem()
	for _, opt := range fleetSchema {
		field := v.FieldByName(camelCase(opt.name))
		if !field.IsValid() {
			return fmt.Errorf("circuit: FleetOptions has no field for the core's fleet option %q", opt.name)
		}
		name, free := cString(opt.name)
		st, err := setFleetOption(cfg, name, opt, field)
		free()
		if err != nil {
			return err
		}
		if st != C.CIRCUIT_OK {
			return &ConfigError{Option: opt.name, Message: lastMessage()}
		}
	}
	return nil
}

func setFleetOption(cfg *C.circuit_fleet_config, name *C.char, opt fleetOption, field reflect.Value) (C.circuit_status, error) {
	invalid := func(format string, args ...any) error {
		return &ConfigError{Option: opt.name, Message: fmt.Sprintf("invalid option `%s`: "+format, append([]any{opt.name}, args...)...)}
	}
	switch x := field.Interface().(type) {
	case time.Duration:
		if x < 0 {
			return 0, invalid("must not be negative, got %s", x)
		}
		if x > 0 {
			return C.circuit_fleet_config_set_duration_ns(cfg, name, C.uint64_t(x)), nil
		}
	case int:
		if x < 0 || x > math.MaxUint32 {
			return 0, invalid("out of range, got %d", x)
		}
		if x > 0 {
			return C.circuit_fleet_config_set_count(cfg, name, C.uint32_t(x)), nil
		}
	case float64:
		if x != 0 {
			return C.circuit_fleet_config_set_number(cfg, name, C.double(x)), nil
		}
	case *float64: // a rate: nil keeps the default, a negative value turns the rule off
		if x != nil && *x < 0 {
			none, free := cString("none")
			defer free()
			return C.circuit_fleet_config_set_text(cfg, name, none), nil
		}
		if x != nil {
			return C.circuit_fleet_config_set_number(cfg, name, C.double(*x)), nil
		}
	case string:
		if x != "" {
			text, free := cString(x)
			defer free()
			return C.circuit_fleet_config_set_text(cfg, name, text), nil
		}
	default:
		return 0, fmt.Errorf("circuit: FleetOptions.%s has a type the fleet schema does not know", field.Type())
	}
	return C.CIRCUIT_OK, nil
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Name is the fleet breaker's name.
func (f *Fleet) Name() string { return f.name }

func (f *Fleet) handle() (C.circuit_fleet, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.h == 0 {
		return 0, ErrClosed
	}
	return f.h, nil
}

// Close frees the fleet (idempotent). Breakers attached to it keep their fleet level, which
// goes stale (the degraded mode decides): close their breakers first. A FleetSet's fleet is
// freed by its set: Close does nothing to it.
func (f *Fleet) Close() error {
	if f.inSet {
		return nil // the FleetSet's: FleetSet.Close frees it
	}
	f.mu.Lock()
	h := f.h
	f.h = 0
	f.mu.Unlock()
	if h != 0 {
		C.circuit_fleet_free(h)
	}
	return nil
}

// OnEvent sets the event hook, called on the goroutine that runs Poll/Complete/Fail.
func (f *Fleet) OnEvent(fn func(FleetEvent)) {
	f.mu.Lock()
	f.onEvent = fn
	f.mu.Unlock()
}

var fleetEventKinds = [...]string{"transition", "store_degraded", "store_recovered", "mismatch"}

// drain hands the queued events to the hook.
func (f *Fleet) drain(h C.circuit_fleet) {
	f.mu.RLock()
	fn := f.onEvent
	f.mu.RUnlock()
	for {
		var e C.circuit_fleet_event
		var has C.bool
		if C.circuit_fleet_next_event(h, &e, &has) != C.CIRCUIT_OK || !bool(has) {
			return
		}
		if fn == nil {
			continue
		}
		ev := FleetEvent{Kind: "unknown"}
		if int(e.kind) < len(fleetEventKinds) {
			ev.Kind = fleetEventKinds[e.kind]
		}
		if e.kind == C.CIRCUIT_FLEET_EVENT_TRANSITION {
			ev.From, ev.To, ev.Epoch = stateOf(e.from), stateOf(e.to), uint64(e.epoch)
		}
		if e.kind == C.CIRCUIT_FLEET_EVENT_MISMATCH {
			ev.Stored = C.GoString(&e.stored[0])
		}
		fn(ev)
	}
}

// Poll returns the sync to send now, if one is due (cheap: call it every few milliseconds).
func (f *Fleet) Poll() (*SyncRequest, bool) {
	h, err := f.handle()
	if err != nil {
		return nil, false
	}
	var req *C.circuit_fleet_request
	st := C.circuit_fleet_poll(h, &req)
	f.drain(h)
	if st != C.CIRCUIT_OK || req == nil {
		return nil, false
	}
	var key C.circuit_fleet_bytes
	C.circuit_fleet_request_key(req, &key)
	var args *C.circuit_fleet_bytes
	var n C.size_t
	C.circuit_fleet_request_args(req, &args, &n)
	r := &SyncRequest{Key: C.GoStringN((*C.char)(unsafe.Pointer(key.ptr)), C.int(key.len)), c: req}
	for _, a := range unsafe.Slice(args, int(n)) {
		r.Args = append(r.Args, C.GoStringN((*C.char)(unsafe.Pointer(a.ptr)), C.int(a.len)))
	}
	return r, true
}

// Tick delivers what changed without a sync (the store went stale: "store_degraded", once) to
// the event hook; Poll does this itself when it has nothing to send.
func (f *Fleet) Tick() error {
	h, err := f.handle()
	if err != nil {
		return err
	}
	if st := C.circuit_fleet_tick(h); st != C.CIRCUIT_OK {
		return errorFor(st, lastMessage())
	}
	f.drain(h)
	return nil
}

// Complete applies the script's reply (items int64/int, string or []byte) to req and frees it.
// A reply that cannot be read counts as a failed sync.
func (f *Fleet) Complete(req *SyncRequest, reply []any) error {
	if req == nil || req.c == nil {
		return fmt.Errorf("circuit: Complete: request already answered")
	}
	defer func() { C.circuit_fleet_request_free(req.c); req.c = nil }()
	h, err := f.handle()
	if err != nil {
		return err
	}
	n := len(reply)
	size := C.size_t(n) * C.size_t(unsafe.Sizeof(C.circuit_fleet_reply{}))
	items := (*C.circuit_fleet_reply)(C.calloc(1, size+1))
	defer C.free(unsafe.Pointer(items))
	slice := unsafe.Slice(items, n)
	var buffers []unsafe.Pointer
	defer func() {
		for _, b := range buffers {
			C.free(b)
		}
	}()
	bytesItem := func(i int, b []byte) {
		slice[i].kind = C.CIRCUIT_FLEET_REPLY_BYTES
		if len(b) > 0 {
			p := C.CBytes(b)
			buffers = append(buffers, p)
			slice[i].bytes = (*C.uint8_t)(p)
			slice[i].len = C.size_t(len(b))
		}
	}
	for i, item := range reply {
		switch v := item.(type) {
		case int64:
			slice[i].kind, slice[i].integer = C.CIRCUIT_FLEET_REPLY_INT, C.int64_t(v)
		case int:
			slice[i].kind, slice[i].integer = C.CIRCUIT_FLEET_REPLY_INT, C.int64_t(v)
		case string:
			bytesItem(i, []byte(v))
		case []byte:
			bytesItem(i, v)
		default:
			slice[i].kind = 99 // unknown kind: a failed sync
		}
	}
	st := C.circuit_fleet_complete(h, req.c, items, C.size_t(n))
	f.drain(h)
	return errorFor(st, "")
}

// Fail reports that req's round trip failed (msg: the store error) and frees it.
func (f *Fleet) Fail(req *SyncRequest, msg string) error {
	if req == nil || req.c == nil {
		return fmt.Errorf("circuit: Fail: request already answered")
	}
	defer func() { C.circuit_fleet_request_free(req.c); req.c = nil }()
	h, err := f.handle()
	if err != nil {
		return err
	}
	cmsg, free := cString(msg)
	defer free()
	st := C.circuit_fleet_fail(h, req.c, cmsg)
	f.drain(h)
	return errorFor(st, "")
}

// Status is the fleet level's state.
func (f *Fleet) Status() (FleetStatus, error) {
	h, err := f.handle()
	if err != nil {
		return FleetStatus{}, err
	}
	var s C.circuit_fleet_status_snapshot
	if st := C.circuit_fleet_status(h, &s); st != C.CIRCUIT_OK {
		return FleetStatus{}, errorFor(st, "")
	}
	out := FleetStatus{State: stateOf(s.state), Epoch: uint64(s.epoch), Degraded: bool(s.degraded), Syncs: uint64(s.syncs), SyncFailures: uint64(s.sync_failures)}
	if uint64(s.staleness_ns) != noRetry {
		d := nanosToDuration(uint64(s.staleness_ns))
		out.Staleness = &d
	}
	return out, nil
}

// SyncInterval is the fleet's sync interval (the host's response timeout, at least 50 ms).
func (f *Fleet) SyncInterval() time.Duration {
	h, err := f.handle()
	if err != nil {
		return 250 * time.Millisecond
	}
	var ns C.uint64_t
	C.circuit_fleet_sync_interval_ns(h, &ns)
	return time.Duration(ns)
}

// fleetRejection is the error of a fleet refusal (nil for another status).
func fleetRejection(name string, st C.circuit_status, retry C.uint64_t) error {
	var e *RejectedError
	switch st {
	case C.CIRCUIT_REJECTED_FLEET_OPEN:
		e = &RejectedError{Name: name, State: StateOpen, Reason: "open", Fleet: true, retryNanos: uint64(retry)}
	case C.CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL:
		e = &RejectedError{Name: name, State: StateHalfOpen, Reason: "half_open_full", Fleet: true, retryNanos: uint64(retry)}
	default:
		return nil
	}
	if uint64(retry) != noRetry {
		e.retryAfter = nanosToDuration(uint64(retry))
		e.RetryAfter = &e.retryAfter
	}
	return e
}
