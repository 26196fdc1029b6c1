package circuit

import (
	"encoding/json"
	"fmt"
	"time"
)

// The conformance ops of 08_http.json (tests/conformance/README.md), through the public API.

var httpErrorKinds = map[string]HTTPError{
	"connect": HTTPErrorConnect, "timeout": HTTPErrorTimeout, "cancelled": HTTPErrorCancelled, "other": HTTPErrorOther,
}

// httpVerdict classifies an http_response / http_call step: status (or error), retry_after,
// now_unix_s.
func httpVerdict(s map[string]json.RawMessage) (Outcome, time.Duration, bool, error) {
	if raw, ok := s["error"]; ok {
		kind, known := httpErrorKinds[str(raw)]
		if !known {
			return "", 0, false, fmt.Errorf("unknown error kind %s", raw)
		}
		return ClassifyHTTPError(kind), 0, false, nil
	}
	var status int
	var now int64
	_ = json.Unmarshal(s["status"], &status)
	_ = json.Unmarshal(s["now_unix_s"], &now)
	header, has := s["retry_after"]
	outcome, retry, ok := ClassifyHTTPResponse(status, str(header), has, time.Unix(now, 0))
	return outcome, retry, ok, nil
}

// httpStep runs the step if it is an HTTP op (handled), against b.
func httpStep(s map[string]json.RawMessage, b *Breaker) (handled bool, err error) {
	switch str(s["op"]) {
	case "http_status":
		var status int
		_ = json.Unmarshal(s["status"], &status)
		if got := ClassifyHTTPStatus(status); string(got) != str(s["expect"]) {
			return true, fmt.Errorf("status %d classified %s", status, got)
		}
	case "http_error":
		kind, known := httpErrorKinds[str(s["error"])]
		if !known {
			return true, fmt.Errorf("unknown error kind %s", s["error"])
		}
		if got := ClassifyHTTPError(kind); string(got) != str(s["expect"]) {
			return true, fmt.Errorf("error %s classified %s", s["error"], got)
		}
	case "http_response":
		outcome, retry, ok, err := httpVerdict(s)
		if err != nil {
			return true, err
		}
		if string(outcome) != str(s["expect"]) {
			return true, fmt.Errorf("classified %s", outcome)
		}
		want := s["expect_retry_after_ms"]
		if string(want) == "null" || want == nil {
			if ok {
				return true, fmt.Errorf("retry after %v, expected none", retry)
			}
		} else if !ok || !near(float64(ms(want))/1e6, float64(retry)/1e6) {
			return true, fmt.Errorf("retry after %v (%v), expected %s ms", retry, ok, want)
		}
	case "http_call":
		p, err := b.Allow()
		if err != nil {
			return true, fmt.Errorf("call rejected: %v", err)
		}
		outcome, retry, ok, err := httpVerdict(s)
		if err != nil {
			_, _ = p.RecordIgnored()
			return true, err
		}
		var counted bool
		if outcome == OutcomeFailure && ok {
			counted, err = b.RecordFailureRetryAfter(p, retry)
		} else {
			counted, err = b.Record(p, outcome)
		}
		if err != nil || !counted {
			return true, fmt.Errorf("recorded as counted=%v err=%v", counted, err)
		}
	default:
		return false, nil
	}
	return true, nil
}
