package circuit

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrOpen matches (with errors.Is) every rejection: the breaker is open, half-open with
	// every probe slot taken, or forced open. Use errors.As with *RejectedError for details.
	ErrOpen = errors.New("circuit: breaker is open")
	// ErrHalfOpenFull matches rejections with reason "half_open_full".
	ErrHalfOpenFull = errors.New("circuit: half-open and every probe slot is taken")
	// ErrForcedOpen matches rejections with reason "forced_open".
	ErrForcedOpen = errors.New("circuit: breaker is forced open")
	// ErrFleetOpen matches rejections by the fleet level of a breaker with a Fleet (the local
	// breaker admitted the call); such a rejection also matches ErrOpen, so callers that treat
	// ErrOpen as "serve the fallback" need no change.
	ErrFleetOpen = errors.New("circuit: fleet breaker is open")
	// ErrAlreadyRecorded is returned when a permit is recorded a second time; nothing changes.
	ErrAlreadyRecorded = errors.New("circuit: permit already recorded")
	// ErrForeignPermit is returned when a permit is recorded on a breaker that did not issue it.
	ErrForeignPermit = errors.New("circuit: permit issued by another breaker")
	// ErrClosed is returned by every method of a Breaker or ManualClock after Close, and by New
	// and HostRegion.Advance for a closed HostRegion.
	ErrClosed = errors.New("circuit: use of a closed breaker or clock")
	// ErrInvalidPermit is returned for the zero Permit.
	ErrInvalidPermit = errors.New("circuit: zero Permit")
)

// RejectedError is the error returned by Allow and Execute when the breaker refuses a call.
// errors.Is(err, ErrOpen) holds for every rejection; errors.Is(err, ErrHalfOpenFull) and
// errors.Is(err, ErrForcedOpen) single out those reasons.
//
// Treat it as read-only: to allocate nothing, a breaker hands the same *RejectedError to every
// rejection that says the same thing (same reason and RetryAfter). A value once returned never
// changes.
type RejectedError struct {
	// Name is the breaker's name ("" if unnamed).
	Name string
	// State is the breaker's state when it refused.
	State State
	// Reason is "open", "half_open_full" or "forced_open".
	Reason string
	// Fleet is true when the fleet level refused (errors.Is(err, ErrFleetOpen)); State is then
	// the fleet's state.
	Fleet bool
	// RetryAfter is the time until a probe may be admitted, when known (reason "open");
	// nil for "half_open_full" and "forced_open".
	RetryAfter *time.Duration

	retryAfter time.Duration // storage for RetryAfter (one allocation holds both)
	retryNanos uint64        // the library's raw retry-after (CIRCUIT_NO_TIME: none), the cache key
}

func (e *RejectedError) Error() string {
	msg := "circuit"
	if e.Name != "" {
		msg += fmt.Sprintf(" %q", e.Name)
	}
	if e.Fleet {
		msg += " (fleet)"
	}
	msg += " rejected the call (" + e.Reason + ")"
	if e.RetryAfter != nil {
		msg += "; retry after " + e.RetryAfter.String()
	}
	return msg
}

// Is reports whether target is ErrOpen (any rejection) or the sentinel of this reason.
func (e *RejectedError) Is(target error) bool {
	switch target {
	case ErrOpen:
		return true
	case ErrHalfOpenFull:
		return e.Reason == "half_open_full"
	case ErrForcedOpen:
		return e.Reason == "forced_open"
	case ErrFleetOpen:
		return e.Fleet
	}
	return false
}

// ConfigError is returned by New when an option is invalid; nothing is created.
type ConfigError struct {
	// Option is the option's name as in docs/semantics.md (snake_case), e.g. "failure_rate_threshold".
	Option string
	// Message is the library's full explanation.
	Message string
}

func (e *ConfigError) Error() string { return "circuit: " + e.Message }
