package circuit

/*
#include "circuit.h"
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

// Outcome is what a call means for a breaker, spelled as in every circuit binding.
type Outcome string

// The outcomes (docs/semantics.md "Calls and outcomes").
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeIgnored Outcome = "ignored"
)

func outcomeOf(code C.circuit_outcome) Outcome {
	switch code {
	case C.CIRCUIT_OUTCOME_SUCCESS:
		return OutcomeSuccess
	case C.CIRCUIT_OUTCOME_IGNORED:
		return OutcomeIgnored
	default:
		return OutcomeFailure
	}
}

// HTTPError is how an HTTP exchange ended when it produced no response.
type HTTPError int

// The ways an exchange ends without a response (the library's circuit_http_error codes).
const (
	// HTTPErrorConnect: the connection could not be made or broke (refused, reset, DNS, TLS).
	HTTPErrorConnect HTTPError = iota
	// HTTPErrorTimeout: the integration's own request timeout fired.
	HTTPErrorTimeout
	// HTTPErrorCancelled: the caller cancelled the request (its context).
	HTTPErrorCancelled
	// HTTPErrorOther: any other error raised while the request was in flight.
	HTTPErrorOther
)

// ClassifyHTTPStatus returns the outcome a response with this status stands for: 5xx except
// 501, 408 and 429 are failures, every other status is a success (docs/semantics.md "HTTP
// outcomes"). A status outside 0-65535 is a failure.
func ClassifyHTTPStatus(status int) Outcome {
	if status < 0 || status > 0xFFFF {
		return OutcomeFailure
	}
	return outcomeOf(C.circuit_http_classify_status(C.uint16_t(status)))
}

// ClassifyHTTPError returns the outcome of an exchange that ended without a response: a
// cancellation is ignored, everything else is a failure. An unknown kind is a failure (as
// HTTPErrorOther).
func ClassifyHTTPError(kind HTTPError) Outcome {
	var out C.circuit_outcome
	if kind < 0 || C.circuit_http_classify_error(C.uint32_t(kind), &out) != C.CIRCUIT_OK {
		return OutcomeFailure
	}
	return outcomeOf(out)
}

// ClassifyHTTPResponse classifies a response from its status and its Retry-After header
// (hasRetryAfter false when the response has none); now is when the headers arrived (used only
// for an HTTP-date). It returns the outcome and, when ok, the retry time to record with the
// failure (Breaker.RecordFailureRetryAfter): ok is false for a success, without the header, or
// when its value does not parse.
func ClassifyHTTPResponse(status int, retryAfter string, hasRetryAfter bool, now time.Time) (outcome Outcome, retry time.Duration, ok bool) {
	if status < 0 || status > 0xFFFF {
		return OutcomeFailure, 0, false
	}
	var value *C.char
	var n C.size_t
	if hasRetryAfter {
		value, n = headerArgs(retryAfter)
	}
	var out C.circuit_outcome
	var ns C.uint64_t
	st := C.circuit_http_classify_response(C.uint16_t(status), value, n, C.int64_t(now.UnixNano()), &out, &ns)
	runtime.KeepAlive(retryAfter)
	if st != C.CIRCUIT_OK {
		// Only a non-UTF-8 header value is refused: classify the status alone.
		return ClassifyHTTPStatus(status), 0, false
	}
	retry, ok = retryOf(ns)
	return outcomeOf(out), retry, ok
}

// ParseRetryAfter parses a Retry-After value: delta-seconds ("120") or an HTTP-date in any of
// the three forms, measured from now (a date in the past gives 0). ok is false when the value is
// neither. Durations beyond time.Duration's range saturate.
func ParseRetryAfter(value string, now time.Time) (retry time.Duration, ok bool) {
	p, n := headerArgs(value)
	var ns C.uint64_t
	st := C.circuit_http_parse_retry_after(p, n, C.int64_t(now.UnixNano()), &ns)
	runtime.KeepAlive(value)
	if st != C.CIRCUIT_OK {
		return 0, false
	}
	return retryOf(ns)
}

// headerArgs passes a header value's bytes to C without copying (a non-nil pointer, also for "").
func headerArgs(value string) (*C.char, C.size_t) {
	if len(value) == 0 {
		return (*C.char)(unsafe.Pointer(&emptyHeader)), 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(value))), C.size_t(len(value))
}

var emptyHeader byte

func retryOf(ns C.uint64_t) (time.Duration, bool) {
	if uint64(ns) == noRetry {
		return 0, false
	}
	return nanosToDuration(uint64(ns)), true
}
