//! The one metric set (docs/observability.md), as the core declares it (`engine::exposition`):
//! `families()` gives its families (name, kind, help, labels, unit, OpenTelemetry name), and
//! `NativeBreaker.points()` / `NativeFamily.points()` one snapshot's samples, built by the core's
//! `points` with the `name` (and, for a family's members, `key`) labels added here. The exporters
//! of `lib/observe/` (`circuit-core/prometheus`, `circuit-core/opentelemetry`) turn these into their
//! library's objects and never map a metrics field themselves.

use std::collections::BTreeMap;

use engine::exposition::{FAMILIES, points};
use engine::{Family, Metrics};
use napi_derive::napi;

/// The key label of a family's overflow breaker.
const OVERFLOW_KEY: &str = engine::OVERFLOW_KEY;

/// One metric family of the set.
#[napi(object)]
pub struct MetricFamily {
    /// The Prometheus name (counters end in `_total`).
    pub name: String,
    /// `gauge` or `counter`.
    pub kind: String,
    /// The HELP text.
    pub help: String,
    /// The family's own labels, beyond `name` (and `key` for a family's members).
    pub labels: Vec<String>,
    /// `1` for counts and ratios, `s` for seconds.
    pub unit: String,
    /// The OpenTelemetry instrument name (`circuit_breaker.calls` for `circuit_breaker_calls_total`).
    pub otel_name: String,
}

/// One sample: its family's name, every label (`name`, `key` for a member, the family's own) and
/// the value.
#[napi(object)]
pub struct MetricPoint {
    pub family: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The metric set, in the core's order (by name).
#[napi(catch_unwind)]
pub fn families() -> Vec<MetricFamily> {
    FAMILIES
        .iter()
        .map(|f| MetricFamily {
            name: f.name.to_owned(),
            kind: f.kind.as_str().to_owned(),
            help: f.help.to_owned(),
            labels: f.labels.iter().map(|l| (*l).to_owned()).collect(),
            unit: f.unit.to_owned(),
            otel_name: f.otel_name(),
        })
        .collect()
}

/// The samples of one snapshot, labelled `name` (empty when the breaker has none) and `key` if
/// given, appended to `out`.
pub(crate) fn push_points(out: &mut Vec<MetricPoint>, name: Option<&str>, key: Option<&str>, metrics: &Metrics) {
    for point in points(metrics) {
        let mut labels: BTreeMap<String, String> =
            point.labels.iter().map(|(label, value)| ((*label).to_owned(), (*value).to_owned())).collect();
        labels.insert("name".to_owned(), name.unwrap_or("").to_owned());
        if let Some(key) = key {
            labels.insert("key".to_owned(), key.to_owned());
        }
        out.push(MetricPoint { family: point.family.name.to_owned(), labels, value: point.value });
    }
}

/// The samples of a family: its members by key, then its overflow breaker (key `(overflow)`),
/// each labelled with the family's name.
pub(crate) fn family_points(family: &Family) -> Vec<MetricPoint> {
    let mut view = family.metrics();
    view.members.sort_by(|a, b| a.0.cmp(&b.0));
    let name = family.config().name();
    let mut out = Vec::with_capacity((view.members.len() + 1) * 32);
    for (key, metrics) in &view.members {
        push_points(&mut out, name, Some(key.as_ref()), metrics);
    }
    push_points(&mut out, name, Some(OVERFLOW_KEY), &view.overflow);
    out
}
