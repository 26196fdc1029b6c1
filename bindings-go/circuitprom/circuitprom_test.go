package circuitprom

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/circuit-rs/circuit/bindings-go/internal/scenario"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families is an exposition reduced to what the vectors compare: HELP and TYPE per family, and
// every sample as name{sorted labels} -> value.
type families struct {
	Meta    map[string]string
	Samples map[string]float64
}

func parse(t *testing.T, r io.Reader) families {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("expfmt: %v", err)
	}
	out := families{map[string]string{}, map[string]float64{}}
	for name, mf := range mfs {
		out.Meta[name] = fmt.Sprintf("HELP %q TYPE %s", mf.GetHelp(), strings.ToLower(mf.GetType().String()))
		for _, m := range mf.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			if _, dup := out.Samples[key]; dup {
				t.Fatalf("sample %s twice", key)
			}
			out.Samples[key] = value(mf.GetType(), m)
		}
	}
	return out
}

func value(kind dto.MetricType, m *dto.Metric) float64 {
	if kind == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	server := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer server.Close()
	if !strings.HasPrefix(server.URL, "http://127.0.0.1:") {
		t.Fatalf("the server is not on 127.0.0.1: %s", server.URL)
	}
	req, _ := http.NewRequest(http.MethodGet, server.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	return string(body)
}

func TestScrapeMatchesTheGoldenExposition(t *testing.T) {
	b, f, goldenPath := scenario.Observability(t)
	reg := prometheus.NewRegistry()
	c := NewCollector(b)
	c.AddFamily(f)
	c.AddBreaker(b) // twice: exported once
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, reg)
	golden, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	got, want := parse(t, strings.NewReader(body)), parse(t, golden)
	if !reflect.DeepEqual(got.Meta, want.Meta) {
		t.Errorf("HELP/TYPE differ:\ngot  %v\nwant %v", got.Meta, want.Meta)
	}
	if !reflect.DeepEqual(got.Samples, want.Samples) {
		for k, v := range want.Samples {
			if g, ok := got.Samples[k]; !ok || g != v {
				t.Errorf("%s: got %v (present %v), want %v", k, g, ok, v)
			}
		}
		for k := range got.Samples {
			if _, ok := want.Samples[k]; !ok {
				t.Errorf("unexpected sample %s", k)
			}
		}
	}
	if len(want.Samples) < 60 {
		t.Fatalf("only %d samples in the golden file", len(want.Samples))
	}
}

func TestScrapeFollowsTheBreakersAndDropsClosedOnes(t *testing.T) {
	clock, err := circuit.NewManualClock()
	if err != nil {
		t.Fatal(err)
	}
	defer clock.Close()
	b, err := circuit.New(circuit.Config{Name: "orders", FailureThreshold: circuit.Of(1), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(b))
	before := parse(t, strings.NewReader(scrape(t, reg)))
	if before.Samples[`circuit_breaker_state{name="orders",state="closed"}`] != 1 {
		t.Fatalf("closed: %v", before.Samples)
	}
	p, _ := b.Allow()
	_, _ = p.RecordFailure()
	if _, err := b.Allow(); !errors.Is(err, circuit.ErrOpen) {
		t.Fatalf("expected a rejection, got %v", err)
	}
	after := parse(t, strings.NewReader(scrape(t, reg)))
	for key, want := range map[string]float64{
		`circuit_breaker_state{name="orders",state="open"}`:                                                   1,
		`circuit_breaker_rejected_calls_total{name="orders",reason="open"}`:                                   1,
		`circuit_breaker_transitions_total{from="closed",name="orders",reason="failure_threshold",to="open"}`: 1,
	} {
		if after.Samples[key] != want {
			t.Errorf("%s = %v, want %v", key, after.Samples[key], want)
		}
	}
	_ = b.Close()
	if closed := parse(t, strings.NewReader(scrape(t, reg))); len(closed.Samples) != 0 {
		t.Fatalf("a closed breaker is still exported: %v", closed.Samples)
	}
}

func TestDuplicateNamesFailTheScrapeLoudly(t *testing.T) {
	a, _ := circuit.New(circuit.Config{Name: "same"})
	b, _ := circuit.New(circuit.Config{Name: "same"})
	defer a.Close()
	defer b.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(a, b))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "same") {
		t.Fatalf("expected a duplicate-sample error, got %v", err)
	}
}
