package circuitotel

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/circuit-rs/circuit/bindings-go/internal/scenario"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// sampleKey is instrument{k="v",...} with the attributes sorted.
func sampleKey(name string, labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// goldenSamples reads the golden Prometheus text as OpenTelemetry names: every sample, and each
// family's description and kind.
func goldenSamples(t *testing.T, path string) (map[string]float64, map[string]string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	otel := map[string]string{}
	for _, f := range circuit.MetricFamilies() {
		otel[f.Name] = f.OtelName
	}
	samples, meta := map[string]float64{}, map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			meta[otel[name]] += "help=" + help + ";"
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			meta[otel[name]] += "type=" + kind + ";"
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		body, value, _ := strings.Cut(rest, "} ")
		labels := map[string]string{}
		for _, pair := range strings.Split(body, ",") {
			k, v, _ := strings.Cut(pair, "=")
			labels[k], _ = strconv.Unquote(v)
		}
		if otel[name] == "" {
			t.Fatalf("golden family %s is not in the metric set", name)
		}
		samples[sampleKey(otel[name], labels)], _ = strconv.ParseFloat(value, 64)
	}
	return samples, meta
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) (map[string]float64, map[string]string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	samples, meta := map[string]float64{}, map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[float64]
			kind := ""
			switch data := m.Data.(type) {
			case metricdata.Sum[float64]:
				if data.IsMonotonic && data.Temporality == metricdata.CumulativeTemporality {
					kind = "counter"
				}
				points = data.DataPoints
			case metricdata.Gauge[float64]:
				kind = "gauge"
				points = data.DataPoints
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			meta[m.Name] = "help=" + m.Description + ";type=" + kind + ";"
			if m.Unit != "1" && m.Unit != "s" {
				t.Errorf("%s: unit %q", m.Name, m.Unit)
			}
			for _, p := range points {
				labels := map[string]string{}
				for _, kv := range p.Attributes.ToSlice() {
					labels[string(kv.Key)] = kv.Value.AsString()
				}
				samples[sampleKey(m.Name, labels)] = p.Value
			}
		}
	}
	return samples, meta
}

func TestInstrumentsMatchTheGoldenExposition(t *testing.T) {
	b, f, golden := scenario.Observability(t)
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := Register(provider.Meter("circuit-test"), Breaker(b), Family(f))
	if err != nil {
		t.Fatal(err)
	}
	got, gotMeta := collect(t, reader)
	want, wantMeta := goldenSamples(t, golden)
	if !reflect.DeepEqual(gotMeta, wantMeta) {
		t.Errorf("instruments differ:\ngot  %v\nwant %v", gotMeta, wantMeta)
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: got %v (present %v), want %v", k, g, ok, v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected sample %s", k)
			}
		}
	}
	if len(want) < 60 || len(gotMeta) != len(circuit.MetricFamilies()) {
		t.Fatalf("%d samples, %d instruments", len(want), len(gotMeta))
	}
	if _, ok := got[`circuit_breaker.calls{name="payments",outcome="success"}`]; !ok {
		t.Fatal("circuit_breaker.calls is named as documented")
	}

	// Unregistered, and with its sources closed, nothing more is observed.
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if after, _ := collect(t, reader); len(after) != 0 {
		t.Fatalf("observed after Unregister: %d samples", len(after))
	}
}

func TestClosedSourcesAreSkippedAndBadSourcesRefused(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	b, err := circuit.New(circuit.Config{Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Register(provider.Meter("x"), Source{}); err == nil || !strings.Contains(err.Error(), "source 0") {
		t.Fatalf("an empty source: %v", err)
	}
	if _, err := Register(nil, Breaker(b)); err == nil {
		t.Fatal("a nil meter is refused")
	}
	if _, err := Register(provider.Meter("y"), Breaker(b)); err != nil {
		t.Fatal(err)
	}
	if got, _ := collect(t, reader); got[`circuit_breaker.state{name="orders",state="closed"}`] != 1 {
		t.Fatalf("closed state not observed: %v", got)
	}
	_ = b.Close()
	if got, _ := collect(t, reader); len(got) != 0 {
		t.Fatalf("a closed breaker is still observed: %d samples", len(got))
	}
}
