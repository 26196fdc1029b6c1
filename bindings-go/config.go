package circuit

/*
#include "circuit.h"
*/
import "C"

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Config holds the options of a breaker. A nil field takes the core's default (documented in
// docs/semantics.md); set one with Of, e.g. Config{FailureThreshold: circuit.Of(3)}. Pointers
// are used so that an explicit zero (which can be meaningful, e.g. FailureThreshold 0 turns the
// rule off) is distinguishable from "not set".
type Config struct {
	// Name identifies the breaker in rejections and messages. Default: none.
	Name string
	// FailureThreshold: consecutive failures that trip the breaker; 0 turns the rule off. Default: 5;
	// 0 (off) when a rate rule is set.
	FailureThreshold *int
	// FailureRateThreshold: trip when the window's failure rate is at least this, in (0, 1]. Default:
	// off.
	FailureRateThreshold *float64
	// SlowCallDuration: a call strictly longer than this is slow (> 0). Default: off.
	SlowCallDuration *time.Duration
	// SlowCallRateThreshold: trip when the window's slow-call rate is at least this, in (0, 1].
	// Default: off.
	SlowCallRateThreshold *float64
	// MinimumCalls: outcomes the window needs before a rate rule may trip. Default: 20, or
	// window_size if smaller.
	MinimumCalls *int
	// WindowSize: count-based window of the last N outcomes. Default: 100.
	WindowSize *int
	// WindowDuration: time-based window instead of a count window. Default: off (count window).
	WindowDuration *time.Duration
	// WindowBuckets: buckets of the time-based window. Default: 10.
	WindowBuckets *int
	// ResetTimeout: first open duration. Default: 30 s.
	ResetTimeout *time.Duration
	// BackoffMultiplier: open-duration growth per re-opening from half-open. Default: 1.
	BackoffMultiplier *float64
	// MaxResetTimeout: cap of the open duration. Default: the larger of reset_timeout and 5 min.
	MaxResetTimeout *time.Duration
	// Jitter: random shortening of each open duration, in [0, 1). Default: 0.
	Jitter *float64
	// JitterSeed: fixes the jitter sequence. Default: random per breaker.
	JitterSeed *uint64
	// HalfOpenMaxCalls: probes admitted per half-open period, 1 to 10,000. Default: 1.
	HalfOpenMaxCalls *int
	// SuccessThreshold: probe successes that close the breaker. Default: half_open_max_calls.
	SuccessThreshold *int
	// HalfOpenMaxWait: re-open when the first probe gets no verdict within this; 0 = off. Default:
	// the open duration that preceded half-open, at least 30 s, while a probe is out.
	HalfOpenMaxWait *time.Duration
	// Clock: run on this manual clock instead of the monotonic clock (tests, simulations).
	Clock *ManualClock
	// Region: New creates the breaker in this host region, shared by every process that creates
	// a breaker of the same Name there (see HostRegion). Name is then required, the options must
	// be those of the breaker's other users (else an error matching ErrRegion names each one
	// that differs), and the breaker runs on the region's clock, so Clock must be nil. NewFamily
	// with a Region puts every member (and the overflow breaker) in the region.
	Region *HostRegion
	// Fleet attaches a fleet-wide level (see Fleet, and circuitredis for the Redis host): a call
	// runs only if this breaker and the fleet both admit it; a fleet refusal is a *RejectedError
	// matching ErrOpen and ErrFleetOpen. NewFamily refuses it: give a family a FleetSet.
	Fleet *Fleet
	// FleetSet gives the fleet level from a set (see FleetSet): NewFamily gives each member the
	// set's fleet of the member's name ("<Name>/<key>"; Name is required), New gives the breaker
	// the fleet of its Name. Set Fleet or FleetSet, not both.
	FleetSet *FleetSet
	// IsIgnored decides which errors returned by an Execute function are neutral (neither
	// success nor failure). Default: context.Canceled is ignored, every other error is a failure.
	IsIgnored func(error) bool
	// State is a state document (Breaker.MarshalJSON, or any binding's export) restored by New:
	// a refused document makes New fail with a *StateError naming the field, creating nothing.
	// NewFamily refuses it (members start fresh).
	State []byte
	// StateAt is the wall-clock instant of the restore (zero: time.Now(), the usual choice; an
	// explicit instant is for tests). The time since the export is taken off the open time.
	StateAt time.Time
}

// Of returns a pointer to v, for setting Config fields: Config{ResetTimeout: Of(10 * time.Second)}.
func Of[T any](v T) *T { return &v }

// apply fills a C config; it validates what C cannot express (negative values) itself.
func (c *Config) apply(cfg *C.circuit_config) error {
	count := func(option string, v *int, set func(C.uint32_t)) error {
		if v == nil {
			return nil
		}
		if *v < 0 || *v > math.MaxUint32 {
			return &ConfigError{Option: option, Message: fmt.Sprintf("invalid option `%s`: must be a whole number between 0 and %d, got %d", option, uint32(math.MaxUint32), *v)}
		}
		set(C.uint32_t(*v))
		return nil
	}
	duration := func(option string, v *time.Duration, set func(C.uint64_t)) error {
		if v == nil {
			return nil
		}
		if *v < 0 {
			return &ConfigError{Option: option, Message: fmt.Sprintf("invalid option `%s`: must not be negative, got %s", option, *v)}
		}
		set(C.uint64_t(*v))
		return nil
	}
	ratio := func(v *float64, set func(C.double)) {
		if v != nil {
			set(C.double(*v))
		}
	}
	var err error
	first := func(e error) {
		if err == nil {
			err = e
		}
	}
	first(count("failure_threshold", c.FailureThreshold, func(v C.uint32_t) { C.circuit_config_set_failure_threshold(cfg, v) }))
	ratio(c.FailureRateThreshold, func(v C.double) { C.circuit_config_set_failure_rate_threshold(cfg, v) })
	first(duration("slow_call_duration", c.SlowCallDuration, func(v C.uint64_t) { C.circuit_config_set_slow_call_duration_ns(cfg, v) }))
	ratio(c.SlowCallRateThreshold, func(v C.double) { C.circuit_config_set_slow_call_rate_threshold(cfg, v) })
	first(count("minimum_calls", c.MinimumCalls, func(v C.uint32_t) { C.circuit_config_set_minimum_calls(cfg, v) }))
	first(count("window_size", c.WindowSize, func(v C.uint32_t) { C.circuit_config_set_window_size(cfg, v) }))
	first(duration("window_duration", c.WindowDuration, func(v C.uint64_t) { C.circuit_config_set_window_duration_ns(cfg, v) }))
	first(count("window_buckets", c.WindowBuckets, func(v C.uint32_t) { C.circuit_config_set_window_buckets(cfg, v) }))
	first(duration("reset_timeout", c.ResetTimeout, func(v C.uint64_t) { C.circuit_config_set_reset_timeout_ns(cfg, v) }))
	ratio(c.BackoffMultiplier, func(v C.double) { C.circuit_config_set_backoff_multiplier(cfg, v) })
	first(duration("max_reset_timeout", c.MaxResetTimeout, func(v C.uint64_t) { C.circuit_config_set_max_reset_timeout_ns(cfg, v) }))
	ratio(c.Jitter, func(v C.double) { C.circuit_config_set_jitter(cfg, v) })
	if c.JitterSeed != nil {
		C.circuit_config_set_jitter_seed(cfg, C.uint64_t(*c.JitterSeed))
	}
	first(count("half_open_max_calls", c.HalfOpenMaxCalls, func(v C.uint32_t) { C.circuit_config_set_half_open_max_calls(cfg, v) }))
	first(count("success_threshold", c.SuccessThreshold, func(v C.uint32_t) { C.circuit_config_set_success_threshold(cfg, v) }))
	first(duration("half_open_max_wait", c.HalfOpenMaxWait, func(v C.uint64_t) { C.circuit_config_set_half_open_max_wait_ns(cfg, v) }))
	if err != nil {
		return err
	}
	if strings.ContainsRune(c.Name, 0) {
		return &ConfigError{Option: "name", Message: "invalid option `name`: contains a NUL byte"}
	}
	if c.Name != "" {
		name, free := cString(c.Name)
		defer free()
		if st := C.circuit_config_set_name(cfg, name); st != C.CIRCUIT_OK {
			return &ConfigError{Option: "name", Message: "invalid option `name`: must be valid UTF-8 without NUL bytes"}
		}
	}
	if c.Region != nil {
		if c.Clock != nil {
			return &ConfigError{Option: "clock", Message: "invalid option `clock`: a breaker in a region runs on the region's clock; leave Clock nil"}
		}
		h, err := c.Region.handle()
		if err != nil {
			return err
		}
		if st := C.circuit_config_set_region(cfg, h); st != C.CIRCUIT_OK {
			return ErrClosed
		}
	}
	if c.FleetSet != nil && c.Name == "" {
		return &ConfigError{Option: "name", Message: "invalid option `name`: a breaker or family with a FleetSet needs a Name (its fleet breakers are named after it)"}
	}
	if c.Fleet != nil && c.FleetSet != nil {
		return &ConfigError{Option: "fleet", Message: "invalid option `fleet`: set Fleet or FleetSet, not both"}
	}
	if c.FleetSet != nil {
		h, err := c.FleetSet.handle()
		if err != nil {
			return err
		}
		if st := C.circuit_config_set_fleet_set(cfg, h); st != C.CIRCUIT_OK {
			return ErrClosed
		}
	}
	if c.Fleet != nil {
		h, err := c.Fleet.handle()
		if err != nil {
			return err
		}
		if st := C.circuit_config_set_fleet(cfg, h); st != C.CIRCUIT_OK {
			return ErrClosed
		}
	}
	if c.Clock != nil {
		h, err := c.Clock.handle()
		if err != nil {
			return err
		}
		if st := C.circuit_config_set_manual_clock(cfg, h); st != C.CIRCUIT_OK {
			return ErrClosed
		}
	}
	return nil
}
