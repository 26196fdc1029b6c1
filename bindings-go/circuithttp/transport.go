// Package circuithttp protects every call an http.Client makes: an http.RoundTripper with one
// circuit breaker per origin (scheme://host:port), taken from a circuit.Family.
//
//	family, err := circuit.NewFamily(circuit.Config{FailureThreshold: circuit.Of(5)}, circuit.FamilyOptions{MaxKeys: 1000})
//	if err != nil { ... }
//	defer family.Close()
//	client := &http.Client{Transport: circuithttp.New(http.DefaultTransport, family, circuithttp.WithTimeout(5*time.Second))}
//
// Exchanges are classified by the core's one HTTP classifier (docs/semantics.md "HTTP
// outcomes"): 5xx except 501, 408 and 429 are failures, other responses successes; connection
// errors and the transport's own timeout are failures; the caller's own cancellation or deadline
// is ignored. The outcome is recorded when the response headers arrive (RoundTrip returns); the
// body is streamed to the caller, never buffered. A failing response's Retry-After is recorded
// with the failure. A rejected request fails, without reaching the network, with an error that
// wraps the breaker's rejection (errors.Is(err, circuit.ErrOpen)), unless a fallback answers.
// Guide: docs/integrations/go-http.md.
package circuithttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// Transport is an http.RoundTripper that runs each request through its origin's breaker. Make
// one with New; it is safe for concurrent use.
type Transport struct {
	base     http.RoundTripper
	family   *circuit.Family
	timeout  time.Duration
	fallback func(*http.Request, error) (*http.Response, error)
	classify Classifier
	key      func(*http.Request) string
}

// Option configures a Transport.
type Option func(*Transport)

// New returns a Transport that sends requests through base (nil: http.DefaultTransport) behind
// family's breakers, one per origin. The family (its Config and FamilyOptions) is the caller's:
// close it when the client is no longer used.
func New(base http.RoundTripper, family *circuit.Family, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{base: base, family: family, classify: Classify, key: Origin}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

// WithTimeout bounds each request, inside the protected call: a host that does not answer in
// time counts as a failure (a deadline on the caller's context is the caller's, and ignored). As
// with http.Client.Timeout, the limit covers reading the body too; it ends when the body is
// closed. The request then fails with an error matching ErrTimeout (and net.Error's Timeout).
func WithTimeout(d time.Duration) Option {
	return func(t *Transport) { t.timeout = d }
}

// WithFallback answers rejected requests: fallback gets the request (and owns its body) and the
// rejection error (errors.Is(rejection, circuit.ErrOpen)); what it returns is the round trip's
// result.
func WithFallback(fallback func(req *http.Request, rejection error) (*http.Response, error)) Option {
	return func(t *Transport) { t.fallback = fallback }
}

// WithClassifier replaces Classify, the decision of what an exchange means to its breaker.
func WithClassifier(classify Classifier) Option {
	return func(t *Transport) {
		if classify != nil {
			t.classify = classify
		}
	}
}

// WithKey chooses each request's breaker (default: Origin).
func WithKey(key func(*http.Request) string) Option {
	return func(t *Transport) {
		if key != nil {
			t.key = key
		}
	}
}

// Origin is the default key: the request's scheme://host:port, lower-cased, with the scheme's
// default port when the URL has none.
func Origin(req *http.Request) string {
	scheme := strings.ToLower(req.URL.Scheme)
	port := req.URL.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(req.URL.Hostname()), port)
}

// errNoFamily is returned by a Transport made with a nil family.
var errNoFamily = errors.New("circuithttp: the Transport has no circuit.Family (nil): make it with circuithttp.New(base, family)")

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.family == nil {
		closeBody(req)
		return nil, errNoFamily
	}
	key := t.key(req)
	permit, err := t.family.Allow(key)
	if err != nil {
		rejection := fmt.Errorf("circuithttp: %s: %w", key, err)
		if t.fallback != nil {
			return t.fallback(req, rejection)
		}
		closeBody(req)
		return nil, rejection
	}
	// A failure until the exchange has been classified: a panic in base or in the classifier is
	// recorded as a failure and continues.
	verdict := Verdict{Outcome: circuit.OutcomeFailure}
	defer func() { record(permit, verdict) }()
	resp, err := t.send(req)
	verdict = t.classify(req, resp, err)
	return resp, err
}

// send makes the exchange, under the transport's own timeout if it has one.
func (t *Transport) send(req *http.Request) (*http.Response, error) {
	if t.timeout <= 0 {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && req.Context().Err() == nil {
			err = &timeoutError{after: t.timeout, err: err}
		}
		cancel()
		return nil, err
	}
	resp.Body = bodyWithCancel(resp.Body, cancel)
	return resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// CloseIdleConnections closes the base transport's idle connections, if it has any (so that
// http.Client.CloseIdleConnections reaches it).
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
