//! The scenario of `tests/conformance/10_observability.json`, replayed through the public API on a
//! manual clock, and the samples of its golden exposition (`tests/conformance/golden/observability.prom`)
//! for the exporter tests to compare with.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use circuit::{CircuitBreaker, Config, Family, ManualClock, Outcome, Recorded, RejectReason};

/// One sample: metric name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// The vector's breaker and family, in the state the golden file shows.
pub struct Scenario {
    pub clock: ManualClock,
    pub breaker: Arc<CircuitBreaker>,
    pub family: Arc<Family>,
}

fn config(name: &str) -> Config {
    Config::builder()
        .name(name)
        .failure_threshold(2)
        .reset_timeout(Duration::from_secs(1))
        .build()
        .expect("the vector's config")
}

/// One admitted call with `outcome`, counted.
pub fn call(breaker: &CircuitBreaker, outcome: Outcome) {
    let permit = breaker.allow().expect("the call is admitted");
    assert_eq!(breaker.record(permit, outcome), Ok(Recorded::Counted));
}

fn rejected(breaker: &Arc<CircuitBreaker>, reason: RejectReason) {
    let rejection = breaker.allow_owned().expect_err("the call is rejected");
    assert_eq!(rejection.reason(), reason);
}

/// Runs the vector's steps, one for one.
pub fn run() -> Scenario {
    let clock = ManualClock::new();
    let family = Family::builder(config("api"))
        .clock(clock.clone())
        .max_keys(4)
        .idle_ttl(Duration::from_secs(600))
        .build()
        .expect("the vector's family");
    let breaker = Arc::new(CircuitBreaker::with_clock(config("payments"), clock.clone()));

    call(&breaker, Outcome::Success);
    let early = breaker.allow_owned().expect("the early permit");
    call(&breaker, Outcome::Failure);
    call(&breaker, Outcome::Failure);
    rejected(&breaker, RejectReason::Open);
    rejected(&breaker, RejectReason::Open);
    clock.advance(Duration::from_secs(1));
    let probe = breaker.allow_owned().expect("the probe");
    assert!(probe.raw().is_probe());
    rejected(&breaker, RejectReason::HalfOpenFull);
    assert_eq!(probe.record_success(), Ok(Recorded::Counted));
    breaker.force_open();
    rejected(&breaker, RejectReason::ForcedOpen);
    breaker.reset();
    assert_eq!(early.record_failure(), Ok(Recorded::Stale));
    call(&breaker, Outcome::Success);
    call(&breaker, Outcome::Ignored);
    clock.advance(Duration::from_millis(250));
    call(&family.get("b"), Outcome::Failure);
    call(&family.get("a"), Outcome::Success);
    call(&family.get("a"), Outcome::Success);
    Scenario { clock, breaker, family: Arc::new(family) }
}

/// The golden exposition's text.
pub fn golden_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/golden/observability.prom");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The samples of a Prometheus or OpenMetrics text, in order (parsed by `prometheus-parse`).
pub fn samples(text: &str) -> Vec<Sample> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parsable text");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("unexpected sample {other:?}"),
            };
            let labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            (s.metric, labels, value)
        })
        .collect()
}

/// `(name, type, help)` of each `# TYPE` line with its `# HELP`, in order. With `openmetrics`, a
/// counter's name gets back the `_total` OpenMetrics leaves out of the family name.
pub fn descriptors(text: &str, openmetrics: bool) -> Vec<(String, String, String)> {
    let mut help = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP name text");
            help.insert(name.to_owned(), text.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            let help = help.get(name).cloned().unwrap_or_else(|| panic!("no HELP before TYPE {name}"));
            let full = if openmetrics && kind == "counter" { format!("{name}_total") } else { name.to_owned() };
            out.push((full, kind.to_owned(), help));
        }
    }
    out
}
