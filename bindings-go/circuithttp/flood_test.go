package circuithttp

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// roundTripFunc is an in-memory RoundTripper: the flood measures the family, not sockets.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func answer(code int) *http.Response {
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
}

// The flood: a million random origins straight through Family.Allow (what RoundTrip calls), and
// a hundred thousand through the transport itself (a million there takes about 20 s under -race
// on two cores).
const (
	floodKeys     = 1_000_000
	floodRequests = 100_000
)

func TestKeyFloodThroughTheTransportStaysWithinTheBound(t *testing.T) {
	keyFlood(t, floodRequests, func(tr *Transport, f *circuit.Family, origin string) error {
		req, err := http.NewRequest(http.MethodGet, origin+"/", nil)
		if err != nil {
			return err
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
}

func TestKeyFloodThroughFamilyAllowStaysWithinTheBound(t *testing.T) {
	keyFlood(t, floodKeys, func(_ *Transport, f *circuit.Family, origin string) error {
		permit, err := f.Allow(origin)
		if err != nil {
			return err
		}
		_, err = permit.RecordSuccess()
		return err
	})
}

// keyFlood opens one origin, floods the family with n random origins on a manual clock, and
// checks the bound and that the open origin was never evicted.
func keyFlood(t *testing.T, n int, flood func(tr *Transport, f *circuit.Family, origin string) error) {
	const maxKeys = 64
	const sick = "http://sick.test:80"
	f, clock := newFamily(t, circuit.Config{FailureThreshold: circuit.Of(1), ResetTimeout: circuit.Of(time.Hour)},
		circuit.FamilyOptions{MaxKeys: maxKeys, IdleTTL: time.Minute})
	inner := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if Origin(req) == sick {
			return answer(503), nil
		}
		return answer(200), nil
	})
	tr := New(inner, f)
	send := func(origin string) error {
		req, err := http.NewRequest(http.MethodGet, origin+"/", nil)
		if err != nil {
			return err
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := send(sick); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if err := flood(tr, f, fmt.Sprintf("http://h%016x.test:80", rng.Uint64())); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i%1000 == 0 {
			clock.Advance(time.Second) // the idle TTL passes many times over during the flood
			if members := f.Len(); members > maxKeys {
				t.Fatalf("after %d requests the family holds %d members (max_keys %d)", i, members, maxKeys)
			}
		}
	}
	if m := f.Metrics(); m.Members > maxKeys || m.Evicted < uint64(n-maxKeys) || m.Overflowed != 0 {
		t.Fatalf("family metrics %+v", m)
	}
	// The open origin was never evicted: still a member, still open, still rejecting.
	if !f.Contains(sick) {
		t.Fatal("the open origin's breaker was evicted")
	}
	if err := send(sick); !errors.Is(err, circuit.ErrOpen) {
		t.Fatalf("the open origin must still be rejected, got %v", err)
	}
	if got := metricsOf(t, f, sick); got.State != circuit.StateOpen || got.Opened != 1 {
		t.Fatalf("the open origin: %+v", got)
	}
}
