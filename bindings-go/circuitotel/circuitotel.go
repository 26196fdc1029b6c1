// Package circuitotel exports breakers and families to OpenTelemetry: observable instruments
// named circuit_breaker.* (docs/observability.md), one per family of the metric set every
// language exports, observed at collection time from the core's points
// (circuit.Breaker.MetricPoints), never from a re-mapping of Metrics.
//
//	reg, err := circuitotel.Register(otel.Meter("checkout"), circuitotel.Breaker(payments), circuitotel.Family(hosts))
//	defer reg.Unregister()
//
// Counters are Float64ObservableCounters, gauges Float64ObservableGauges, with the family's HELP
// as description and its unit. Attributes: "name" (the breaker's name; a family member's is the
// family's name), "key" for family members ("(overflow)" for the overflow breaker), and the
// family's own labels (outcome, reason, state, from/to/reason).
package circuitotel

import (
	"context"
	"errors"
	"fmt"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Source is a breaker or a family to observe.
type Source struct {
	breaker *circuit.Breaker
	family  *circuit.Family
}

// Breaker observes b. A closed breaker is skipped.
func Breaker(b *circuit.Breaker) Source { return Source{breaker: b} }

// Family observes every member of f, sorted by key, then its overflow breaker. A closed family
// is skipped.
func Family(f *circuit.Family) Source { return Source{family: f} }

// Register creates the instruments on meter and a callback observing sources at every
// collection. Unregister the returned registration to stop (the instruments stay on the meter).
func Register(meter metric.Meter, sources ...Source) (metric.Registration, error) {
	if meter == nil {
		return nil, errors.New("circuitotel: meter is nil")
	}
	for i, s := range sources {
		if s.breaker == nil && s.family == nil {
			return nil, fmt.Errorf("circuitotel: source %d is neither a breaker nor a family (use Breaker or Family)", i)
		}
	}
	families := circuit.MetricFamilies()
	instruments := make(map[string]metric.Float64Observable, len(families))
	observables := make([]metric.Observable, 0, len(families))
	for _, f := range families {
		var inst metric.Float64Observable
		var err error
		if f.Counter {
			inst, err = meter.Float64ObservableCounter(f.OtelName, metric.WithDescription(f.Help), metric.WithUnit(f.Unit))
		} else {
			inst, err = meter.Float64ObservableGauge(f.OtelName, metric.WithDescription(f.Help), metric.WithUnit(f.Unit))
		}
		if err != nil {
			return nil, fmt.Errorf("circuitotel: instrument %s: %w", f.OtelName, err)
		}
		instruments[f.Name] = inst
		observables = append(observables, inst)
	}
	sources = append([]Source(nil), sources...)
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var errs []error
		for _, s := range sources {
			var points []circuit.MetricPoint
			var name string
			var err error
			if s.breaker != nil {
				points, err = s.breaker.MetricPoints()
				name = s.breaker.Name()
			} else {
				points, err = s.family.MetricPoints()
				name = s.family.Name()
			}
			if errors.Is(err, circuit.ErrClosed) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, p := range points {
				attrs := make([]attribute.KeyValue, 0, len(p.LabelValues)+2)
				attrs = append(attrs, attribute.String("name", name))
				if p.Key != "" {
					attrs = append(attrs, attribute.String("key", p.Key))
				}
				for i, label := range p.Family.Labels {
					attrs = append(attrs, attribute.String(label, p.LabelValues[i]))
				}
				o.ObserveFloat64(instruments[p.Family.Name], p.Value, metric.WithAttributes(attrs...))
			}
		}
		return errors.Join(errs...)
	}, observables...)
}
