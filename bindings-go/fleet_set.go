package circuit

/*
#include <stdlib.h>
#include "circuit.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// FleetSet is the fleet breakers of one service made on demand by name from one FleetOptions
// (the C library's circuit_fleet_set): set Config.FleetSet, and NewFamily gives each member the
// set's fleet of the member's name ("<family>/<key>", the family needs a Name), New gives the
// breaker the fleet of its Name. A host (circuitredis.RedisFleet.AttachSet) syncs every fleet
// of Fleets(). A fleet no breaker holds that stayed idle (closed, nothing to send, no probe) for
// the set's idle TTL is forgotten; a later call of that name makes it again, and it rejoins the
// store's state at its first sync. Safe for concurrent use; Close is idempotent.
type FleetSet struct {
	mu      sync.Mutex
	h       C.circuit_fleet_set
	fleets  map[C.circuit_fleet]*Fleet
	onEvent func(name string, e FleetEvent)
}

// NewFleetSet makes a fleet set with the options o (the name aside) whose idle fleets are
// forgotten after idleTTL (0: 10 minutes). An invalid option is a *ConfigError naming it.
func NewFleetSet(o FleetOptions, idleTTL time.Duration) (*FleetSet, error) {
	if idleTTL < 0 {
		return nil, &ConfigError{Option: "idle_ttl", Message: "idle_ttl: must not be negative (0: the default)"}
	}
	cfg, err := fleetConfig(o)
	if err != nil {
		return nil, err
	}
	defer C.circuit_fleet_config_free(cfg)
	var h C.circuit_fleet_set
	runtime.LockOSThread() // the message is thread-local in the library
	defer runtime.UnlockOSThread()
	if err := fleetCreated(C.circuit_fleet_set_new(cfg, C.uint64_t(idleTTL), &h)); err != nil {
		return nil, err
	}
	return &FleetSet{h: h, fleets: map[C.circuit_fleet]*Fleet{}}, nil
}

func (s *FleetSet) handle() (C.circuit_fleet_set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == 0 {
		return 0, ErrClosed
	}
	return s.h, nil
}

// OnEvent sets the event hook of every fleet of the set (name: the fleet breaker's), called on
// the goroutine that syncs them.
func (s *FleetSet) OnEvent(fn func(name string, e FleetEvent)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onEvent = fn
	for _, f := range s.fleets {
		f.OnEvent(eventHook(fn, f.name))
	}
}

func eventHook(fn func(string, FleetEvent), name string) func(FleetEvent) {
	if fn == nil {
		return nil
	}
	return func(e FleetEvent) { fn(name, e) }
}

// Fleets is the set's fleets now, for the host's sync loop (each is polled like any Fleet). It
// first forgets the idle ones. Nil after Close.
func (s *FleetSet) Fleets() []*Fleet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == 0 {
		return nil
	}
	handles := make([]C.circuit_fleet, 16)
	for {
		var n C.size_t
		if C.circuit_fleet_set_fleets(s.h, &handles[0], C.size_t(len(handles)), &n) != C.CIRCUIT_OK {
			return nil
		}
		if int(n) <= len(handles) {
			handles = handles[:n]
			break
		}
		handles = make([]C.circuit_fleet, int(n)*2)
	}
	live := make(map[C.circuit_fleet]*Fleet, len(handles))
	out := make([]*Fleet, 0, len(handles))
	for _, h := range handles {
		f := s.fleets[h]
		if f == nil {
			f = &Fleet{h: h, name: fleetName(h), inSet: true}
			f.onEvent = eventHook(s.onEvent, f.name)
		}
		live[h] = f
		out = append(out, f)
	}
	// A forgotten fleet's handle is no longer valid: its wrapper stops using it.
	for h, f := range s.fleets {
		if live[h] == nil {
			f.mu.Lock()
			f.h = 0
			f.mu.Unlock()
		}
	}
	s.fleets = live
	return out
}

// fleetName is the name of the fleet h.
func fleetName(h C.circuit_fleet) string {
	buf := make([]byte, 128)
	for {
		var n C.size_t
		if C.circuit_fleet_name(h, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n) != C.CIRCUIT_OK {
			return ""
		}
		if int(n) <= len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, int(n))
	}
}

// Close frees the set and its fleets (idempotent). Breakers and families made with it keep
// their fleet levels, which go stale (the degraded mode decides): close them first.
func (s *FleetSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == 0 {
		return nil
	}
	C.circuit_fleet_set_free(s.h)
	s.h = 0
	for _, f := range s.fleets {
		f.mu.Lock()
		f.h = 0
		f.mu.Unlock()
	}
	s.fleets = nil
	return nil
}
