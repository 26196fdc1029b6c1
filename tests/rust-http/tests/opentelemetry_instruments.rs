//! `circuit::opentelemetry::instrument` observes the golden exposition's samples: read back through
//! opentelemetry_sdk's `ManualReader`, under the OpenTelemetry names, with the same attributes.

mod golden_scenario;

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use circuit::Outcome;
use golden_scenario::{Sample, Scenario, call, descriptors, golden_text, samples};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};

/// A `ManualReader` the test keeps a handle on after giving it to the provider.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// What one collection read: `(name, kind, description, unit)` per instrument and the samples.
struct Collected {
    instruments: Vec<(String, String, String, String)>,
    samples: Vec<Sample>,
}

fn collect(reader: &SharedReader) -> Collected {
    let mut rm = ResourceMetrics::default();
    reader.collect(&mut rm).expect("collects");
    let (mut instruments, mut out) = (Vec::new(), Vec::new());
    for metric in rm.scope_metrics().flat_map(|s| s.metrics()) {
        let name = metric.name().to_owned();
        let mut push = |attributes: BTreeMap<String, String>, value: f64| out.push((name.clone(), attributes, value));
        let attrs = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            kvs.map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned())).collect()
        };
        let kind = match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                assert!(sum.is_monotonic(), "{name} is a monotonic sum");
                assert_eq!(sum.temporality(), Temporality::Cumulative);
                sum.data_points().for_each(|p| push(attrs(&mut p.attributes()), p.value() as f64));
                "counter"
            }
            AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
                gauge.data_points().for_each(|p| push(attrs(&mut p.attributes()), p.value()));
                "gauge"
            }
            other => panic!("{name}: unexpected data {other:?}"),
        };
        instruments.push((name.clone(), kind.to_owned(), metric.description().to_owned(), metric.unit().to_owned()));
    }
    instruments.sort();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Collected { instruments, samples: out }
}

/// The OpenTelemetry name docs/observability.md gives a Prometheus name.
fn otel_name(prometheus: &str) -> String {
    let rest = prometheus.strip_prefix("circuit_breaker_").expect("circuit_breaker_ prefix");
    format!("circuit_breaker.{}", rest.strip_suffix("_total").unwrap_or(rest))
}

/// The golden samples and descriptors under their OpenTelemetry names, sorted like [`collect`].
fn golden() -> Collected {
    let text = golden_text();
    let mut instruments: Vec<_> = descriptors(&text, false)
        .into_iter()
        .map(|(name, kind, help)| {
            let unit = if name.ends_with("_seconds") { "s" } else { "1" };
            (otel_name(&name), kind, help, unit.to_owned())
        })
        .collect();
    instruments.sort();
    let mut samples: Vec<Sample> = samples(&text).into_iter().map(|(n, l, v)| (otel_name(&n), l, v)).collect();
    samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Collected { instruments, samples }
}

fn provider() -> (SdkMeterProvider, SharedReader) {
    let reader = SharedReader(Arc::new(ManualReader::builder().build()));
    (SdkMeterProvider::builder().with_reader(reader.clone()).build(), reader)
}

fn instrument(provider: &SdkMeterProvider, scenario: &Scenario) -> circuit::opentelemetry::Instruments {
    let meter = provider.meter("circuit-tests");
    circuit::opentelemetry::instrument(&meter, &[Arc::clone(&scenario.breaker)], &[Arc::clone(&scenario.family)])
}

#[test]
fn the_instruments_observe_the_golden_samples() {
    let scenario = golden_scenario::run();
    let (provider, reader) = provider();
    let _instruments = instrument(&provider, &scenario);
    let (got, want) = (collect(&reader), golden());
    assert_eq!(got.instruments, want.instruments);
    assert_eq!(got.samples, want.samples);
}

#[test]
fn each_collection_reads_fresh_snapshots() {
    let scenario = golden_scenario::run();
    let (provider, reader) = provider();
    let _instruments = instrument(&provider, &scenario);
    collect(&reader);
    call(&scenario.breaker, Outcome::Success);
    scenario.clock.advance(Duration::from_millis(500));
    let got = collect(&reader).samples;
    let find = |name: &str, labels: &[(&str, &str)]| {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        got.iter().find(|s| s.0 == name && s.1 == labels).map(|s| s.2)
    };
    assert_eq!(find("circuit_breaker.calls", &[("name", "payments"), ("outcome", "success")]), Some(4.0));
    assert_eq!(find("circuit_breaker.time_in_state_seconds", &[("name", "payments")]), Some(0.75));
    assert_eq!(find("circuit_breaker.time_in_state_seconds", &[("key", "(overflow)"), ("name", "api")]), Some(1.75));
}

#[test]
fn dropped_instruments_observe_nothing() {
    let scenario = golden_scenario::run();
    let (provider, reader) = provider();
    let instruments = instrument(&provider, &scenario);
    assert!(!collect(&reader).samples.is_empty());
    instruments.unregister();
    let after = collect(&reader);
    assert_eq!(after.samples, Vec::<Sample>::new());
}
