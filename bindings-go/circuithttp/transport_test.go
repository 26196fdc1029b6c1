package circuithttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// hangGuard bounds what must end on its own (never asserted on).
const hangGuard = 30 * time.Second

func newFamily(t *testing.T, cfg circuit.Config, opts circuit.FamilyOptions) (*circuit.Family, *circuit.ManualClock) {
	t.Helper()
	clock, err := circuit.NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clock.Close() })
	cfg.Clock = clock
	f, err := circuit.NewFamily(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, clock
}

// metricsOf is the snapshot of key's breaker (without keeping it pinned).
func metricsOf(t *testing.T, f *circuit.Family, key string) circuit.Metrics {
	t.Helper()
	b, err := f.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// server is a real HTTP server on a loopback port answering with status (and headers), counting
// the requests that reach it.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func startServer(t *testing.T, handler http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func client(tr *Transport) *http.Client { return &http.Client{Transport: tr} }

// get makes one request, reads and closes the body; err is the client's error.
func get(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	return getCtx(ctx, c, url)
}

func getCtx(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func TestOneBreakerPerOrigin(t *testing.T) {
	sick, healthy := startServer(t, status(503)), startServer(t, status(200))
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(2)}, circuit.FamilyOptions{})
	c := client(New(nil, f))
	for range 2 {
		if code, err := get(t, c, sick.URL); code != 503 || err != nil {
			t.Fatalf("got %d, %v", code, err)
		}
	}
	_, err := get(t, c, sick.URL+"/other/path")
	var rejected *circuit.RejectedError
	if !errors.Is(err, circuit.ErrOpen) || !errors.As(err, &rejected) || sick.hits.Load() != 2 {
		t.Fatalf("the sick origin must be rejected without a request: %v (hits %d)", err, sick.hits.Load())
	}
	if !strings.Contains(err.Error(), sick.URL) {
		t.Fatalf("the rejection must name the origin: %v", err)
	}
	for range 5 {
		if code, err := get(t, c, healthy.URL); code != 200 || err != nil {
			t.Fatalf("the healthy origin must not be rejected: %d, %v", code, err)
		}
	}
	if m := metricsOf(t, f, sick.URL); m.State != circuit.StateOpen {
		t.Fatalf("sick: %+v", m)
	}
	if m := metricsOf(t, f, healthy.URL); m.State != circuit.StateClosed || m.Successes != 5 {
		t.Fatalf("healthy: %+v", m)
	}
}

func TestStatusesCounted(t *testing.T) {
	for _, tc := range []struct {
		code    int
		failure bool
	}{{500, true}, {502, true}, {503, true}, {504, true}, {599, true}, {408, true}, {429, true},
		{501, false}, {200, false}, {204, false}, {301, false}, {400, false}, {401, false}, {403, false}, {404, false}, {409, false}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			s := startServer(t, status(tc.code))
			f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(100)}, circuit.FamilyOptions{})
			// A 3xx is returned as is, not followed.
			if code, err := get(t, &http.Client{Transport: New(nil, f), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, s.URL); code != tc.code || err != nil {
				t.Fatalf("got %d, %v", code, err)
			}
			m := metricsOf(t, f, s.URL)
			if tc.failure && m.Failures != 1 || !tc.failure && m.Successes != 1 {
				t.Fatalf("status %d: %+v", tc.code, m)
			}
		})
	}
}

func TestConnectionRefusedIsAFailure(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	_ = lis.Close() // nothing listens there now
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	c := client(New(http.DefaultTransport, f))
	_, err = get(t, c, url)
	if err == nil || errors.Is(err, circuit.ErrOpen) {
		t.Fatalf("want the connection error, got %v", err)
	}
	if kind := ErrorKind(httptest.NewRequest("GET", url, nil), errors.Unwrap(err)); kind != circuit.HTTPErrorConnect {
		t.Fatalf("a refused connection must be HTTPErrorConnect, got %v (%v)", kind, err)
	}
	if _, err := get(t, c, url); !errors.Is(err, circuit.ErrOpen) {
		t.Fatalf("want a rejection, got %v", err)
	}
}

func TestHangingHostTimesOutAsAFailure(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	c := client(New(nil, f, WithTimeout(50*time.Millisecond)))
	_, err := get(t, c, s.URL)
	var netErr net.Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("want the transport's timeout, got %v", err)
	}
	if m := metricsOf(t, f, s.URL); m.Failures != 1 || m.State != circuit.StateOpen {
		t.Fatalf("a hanging host must count as failing: %+v", m)
	}
}

func TestCallersCancellationAndDeadlineAreIgnored(t *testing.T) {
	arrived := make(chan struct{}, 1)
	s := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	c := client(New(nil, f, WithTimeout(hangGuard)))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	if _, err := getCtx(ctx, c, s.URL); !errors.Is(err, context.Canceled) {
		t.Fatalf("want the caller's cancellation, got %v", err)
	}
	// A deadline the caller set outside the call is the caller's too.
	deadline, cancelDeadline := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelDeadline()
	if _, err := getCtx(deadline, c, s.URL); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	<-arrived
	if m := metricsOf(t, f, s.URL); m.Ignored != 2 || m.Failures != 0 || m.State != circuit.StateClosed {
		t.Fatalf("the caller's own cancellation must be ignored: %+v", m)
	}
}

func TestRetryAfterKeepsTheOriginOpen(t *testing.T) {
	var retryAfter atomic.Value
	retryAfter.Store("120")
	s := startServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", retryAfter.Load().(string))
		w.WriteHeader(503)
	})
	f, clock := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1), ResetTimeout: circuit.Of(time.Second)}, circuit.FamilyOptions{})
	c := client(New(nil, f))
	if code, _ := get(t, c, s.URL); code != 503 {
		t.Fatalf("got %d", code)
	}
	clock.Advance(time.Minute) // past reset_timeout, not past the server's 120 s
	_, err := get(t, c, s.URL)
	var rejected *circuit.RejectedError
	if !errors.As(err, &rejected) || rejected.RetryAfter == nil || *rejected.RetryAfter != time.Minute {
		t.Fatalf("want a rejection with 60 s left of the server's 120 s, got %v", err)
	}
	clock.Advance(time.Minute)
	retryAfter.Store("0")
	if code, err := get(t, c, s.URL); code != 503 || err != nil {
		t.Fatalf("the probe after Retry-After must go through: %d, %v", code, err)
	}
	if s.hits.Load() != 2 {
		t.Fatalf("hits %d", s.hits.Load())
	}
}

func TestRetryAfterOnASuccessChangesNothing(t *testing.T) {
	s := startServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(200)
	})
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	c := client(New(nil, f))
	for range 3 {
		if code, err := get(t, c, s.URL); code != 200 || err != nil {
			t.Fatalf("got %d, %v", code, err)
		}
	}
	if m := metricsOf(t, f, s.URL); m.Successes != 3 || m.State != circuit.StateClosed {
		t.Fatalf("metrics %+v", m)
	}
}

func TestBodyStreamsAndTheOutcomeIsRecordedAtTheHeaders(t *testing.T) {
	firstRead := make(chan struct{})
	s := startServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "first chunk\n")
		w.(http.Flusher).Flush()
		select { // the rest only once the client has read the first chunk
		case <-firstRead:
			_, _ = io.WriteString(w, "rest\n")
		case <-time.After(hangGuard): // a transport that waits for the whole body gets this
			_, _ = io.WriteString(w, "the client never read the first chunk\n")
		}
	})
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	c := client(New(nil, f, WithTimeout(hangGuard)))
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// RoundTrip returned while the server still holds the body back: the outcome is in already.
	if m := metricsOf(t, f, s.URL); m.Successes != 1 {
		t.Fatalf("the outcome must be recorded when the headers arrive: %+v", m)
	}
	buf := make([]byte, len("first chunk\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first chunk\n" {
		t.Fatalf("first chunk %q, %v", buf, err)
	}
	close(firstRead)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "rest\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestFallbackAnswersRejectedRequests(t *testing.T) {
	s := startServer(t, status(500))
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	var seen error
	fallback := func(req *http.Request, rejection error) (*http.Response, error) {
		seen = rejection
		return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(strings.NewReader("cached")), Header: http.Header{}, Request: req}, nil
	}
	c := client(New(nil, f, WithFallback(fallback)))
	_, _ = get(t, c, s.URL)
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "cached" || !errors.Is(seen, circuit.ErrOpen) || s.hits.Load() != 1 {
		t.Fatalf("body %q, rejection %v, hits %d", body, seen, s.hits.Load())
	}
}

func TestCustomClassifier(t *testing.T) {
	s := startServer(t, status(404))
	f, _ := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1)}, circuit.FamilyOptions{})
	notFoundFails := WithClassifier(func(req *http.Request, resp *http.Response, err error) Verdict {
		if resp != nil && resp.StatusCode == 404 {
			return Verdict{Outcome: circuit.OutcomeFailure}
		}
		return Classify(req, resp, err)
	})
	c := client(New(nil, f, notFoundFails))
	_, _ = get(t, c, s.URL)
	if _, err := get(t, c, s.URL); !errors.Is(err, circuit.ErrOpen) {
		t.Fatalf("want a rejection, got %v", err)
	}
}

func TestNilFamilyFailsLoudly(t *testing.T) {
	s := startServer(t, status(200))
	if _, err := get(t, client(New(nil, nil)), s.URL); err == nil || !strings.Contains(err.Error(), "no circuit.Family") || s.hits.Load() != 0 {
		t.Fatalf("got %v", err)
	}
}

func TestOrigin(t *testing.T) {
	for url, want := range map[string]string{
		"http://Example.com/a?b":      "http://example.com:80",
		"https://example.com/":        "https://example.com:443",
		"HTTPS://example.com:8443/x":  "https://example.com:8443",
		"http://[::1]:8080/":          "http://[::1]:8080",
		"http://user:pw@host.test/ok": "http://host.test:80",
	} {
		if got := Origin(httptest.NewRequest("GET", url, nil)); got != want {
			t.Errorf("Origin(%s) = %s, want %s", url, got, want)
		}
	}
}

type idleCloser struct {
	roundTripFunc
	closed int
}

func (c *idleCloser) CloseIdleConnections() { c.closed++ }

func TestCloseIdleConnectionsReachesTheBase(t *testing.T) {
	f, _ := newFamily(t, circuit.Config{}, circuit.FamilyOptions{})
	base := &idleCloser{}
	client(New(base, f)).CloseIdleConnections()
	if base.closed != 1 {
		t.Fatal("http.Client.CloseIdleConnections must reach the base transport")
	}
}
