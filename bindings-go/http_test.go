package circuit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestClassifyHTTPStatus(t *testing.T) {
	for status, want := range map[int]Outcome{
		200: OutcomeSuccess, 404: OutcomeSuccess, 408: OutcomeFailure, 429: OutcomeFailure,
		500: OutcomeFailure, 501: OutcomeSuccess, 503: OutcomeFailure, -1: OutcomeFailure, 70000: OutcomeFailure,
	} {
		if got := ClassifyHTTPStatus(status); got != want {
			t.Errorf("%d: %s, want %s", status, got, want)
		}
	}
}

func TestClassifyHTTPError(t *testing.T) {
	for kind, want := range map[HTTPError]Outcome{
		HTTPErrorConnect: OutcomeFailure, HTTPErrorTimeout: OutcomeFailure,
		HTTPErrorCancelled: OutcomeIgnored, HTTPErrorOther: OutcomeFailure, HTTPError(42): OutcomeFailure, HTTPError(-1): OutcomeFailure,
	} {
		if got := ClassifyHTTPError(kind); got != want {
			t.Errorf("%d: %s, want %s", kind, got, want)
		}
	}
}

func TestClassifyHTTPResponseAndParseRetryAfter(t *testing.T) {
	now := time.Unix(784111777, 0) // Sun, 06 Nov 1994 08:49:37 GMT
	cases := []struct {
		status    int
		header    string
		has       bool
		outcome   Outcome
		retry     time.Duration
		withRetry bool
	}{
		{503, "120", true, OutcomeFailure, 120 * time.Second, true},
		{429, "Sun, 06 Nov 1994 08:50:07 GMT", true, OutcomeFailure, 30 * time.Second, true},
		{503, "soon", true, OutcomeFailure, 0, false},
		{503, "", true, OutcomeFailure, 0, false},
		{503, "", false, OutcomeFailure, 0, false},
		{200, "120", true, OutcomeSuccess, 0, false},
		{503, "\xff", true, OutcomeFailure, 0, false}, // not UTF-8: the status alone
	}
	for _, c := range cases {
		outcome, retry, ok := ClassifyHTTPResponse(c.status, c.header, c.has, now)
		if outcome != c.outcome || retry != c.retry || ok != c.withRetry {
			t.Errorf("%d %q %v: %s %v %v", c.status, c.header, c.has, outcome, retry, ok)
		}
	}
	if d, ok := ParseRetryAfter(" 7 ", now); !ok || d != 7*time.Second {
		t.Errorf("delta-seconds: %v %v", d, ok)
	}
	if d, ok := ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now); !ok || d != 0 {
		t.Errorf("a date in the past: %v %v", d, ok)
	}
	if d, ok := ParseRetryAfter("99999999999999999999999", now); !ok || d != time.Duration(1<<63-1) {
		t.Errorf("saturates: %v %v", d, ok)
	}
	for _, bad := range []string{"", "-5", "1.5", "\xff"} {
		if d, ok := ParseRetryAfter(bad, now); ok {
			t.Errorf("%q parsed as %v", bad, d)
		}
	}
}

// A real server on loopback answers 503 with Retry-After: the verdict recorded on a breaker keeps
// it open for the server's time.
func TestHTTPVerdictFromARealServerOpensForItsRetryAfter(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "45")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer server.Close()
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(time.Second), MaxResetTimeout: Of(time.Hour), Clock: clock})
	p, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second} // a hang guard only
	resp, err := client.Get(server.URL)
	if err != nil {
		_, _ = p.RecordIgnored()
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	header, has := resp.Header["Retry-After"]
	outcome, retry, ok := ClassifyHTTPResponse(resp.StatusCode, firstOf(header), has, time.Now())
	if outcome != OutcomeFailure || !ok || retry != 45*time.Second {
		t.Fatalf("verdict %s %v %v", outcome, retry, ok)
	}
	if counted, err := b.RecordFailureRetryAfter(p, retry); !counted || err != nil {
		t.Fatalf("record: %v %v", counted, err)
	}
	_, err = b.Allow()
	var re *RejectedError
	if !errors.As(err, &re) || re.RetryAfter == nil || *re.RetryAfter != 45*time.Second {
		t.Fatalf("want open for the server's 45 s, got %v", err)
	}
}

func firstOf(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}
