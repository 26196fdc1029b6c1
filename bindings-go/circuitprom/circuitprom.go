// Package circuitprom exports breakers and families to Prometheus: a prometheus.Collector that
// writes, at scrape time, the metric set every language exports (docs/observability.md), built
// from the core's points (circuit.Breaker.MetricPoints), never from a re-mapping of Metrics.
//
//	c := circuitprom.NewCollector(payments)
//	c.AddFamily(hosts)
//	prometheus.MustRegister(c)
//
// Every sample carries a "name" label (the breaker's name; a family member's is the family's
// name) and family members a "key" label (the overflow breaker's is "(overflow)"). Names must
// be unique within a registry: two breakers with the same name make a scrape fail with a
// duplicate-sample error.
package circuitprom

import (
	"errors"
	"slices"
	"sync"

	"github.com/circuit-rs/circuit/bindings-go"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector of breakers and families. Safe for concurrent use; a
// breaker or family is read only during a scrape (calls pay nothing for being exported).
//
// It is an unchecked collector (Describe sends no descriptor): members carry a "key" label
// that breakers of their own do not, so one metric name has two label sets, which a registry's
// descriptor check cannot express. A closed breaker or family is dropped at the next scrape.
type Collector struct {
	mu       sync.Mutex
	breakers []*circuit.Breaker
	families []*circuit.Family
	descs    map[descKey]*prometheus.Desc
}

type descKey struct {
	family string
	member bool
}

// NewCollector returns a collector of breakers (more with AddBreaker and AddFamily).
func NewCollector(breakers ...*circuit.Breaker) *Collector {
	c := &Collector{descs: map[descKey]*prometheus.Desc{}}
	for _, b := range breakers {
		c.AddBreaker(b)
	}
	return c
}

// AddBreaker exports b (labelled name=b.Name()). Adding it twice exports it once.
func (c *Collector) AddBreaker(b *circuit.Breaker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b != nil && !slices.Contains(c.breakers, b) {
		c.breakers = append(c.breakers, b)
	}
}

// AddFamily exports every member of f (labelled name=f.Name() and key), sorted by key, then its
// overflow breaker (key "(overflow)"). Adding it twice exports it once.
func (c *Collector) AddFamily(f *circuit.Family) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f != nil && !slices.Contains(c.families, f) {
		c.families = append(c.families, f)
	}
}

// Describe sends nothing: see Collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends one constant metric per point of every breaker and family.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breakers = slices.DeleteFunc(c.breakers, func(b *circuit.Breaker) bool {
		points, err := b.MetricPoints()
		return c.send(ch, b.Name(), points, err)
	})
	c.families = slices.DeleteFunc(c.families, func(f *circuit.Family) bool {
		points, err := f.MetricPoints()
		return c.send(ch, f.Name(), points, err)
	})
}

// send turns points into metrics; it returns true when their source is closed (to drop it).
func (c *Collector) send(ch chan<- prometheus.Metric, name string, points []circuit.MetricPoint, err error) bool {
	if errors.Is(err, circuit.ErrClosed) {
		return true
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("circuit_breaker_error", "A breaker could not be read.", nil, nil), err)
		return false
	}
	for _, p := range points {
		member := p.Key != ""
		desc := c.desc(p.Family, member)
		values := append(slices.Clone(p.LabelValues), name)
		if member {
			values = append(values, p.Key)
		}
		kind := prometheus.GaugeValue
		if p.Family.Counter {
			kind = prometheus.CounterValue
		}
		m, err := prometheus.NewConstMetric(desc, kind, p.Value, values...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
	return false
}

// desc is the descriptor of a family for breakers of their own or for family members.
func (c *Collector) desc(f *circuit.MetricFamily, member bool) *prometheus.Desc {
	k := descKey{f.Name, member}
	if d, ok := c.descs[k]; ok {
		return d
	}
	labels := append(slices.Clone(f.Labels), "name")
	if member {
		labels = append(labels, "key")
	}
	d := prometheus.NewDesc(f.Name, f.Help, labels, nil)
	c.descs[k] = d
	return d
}
