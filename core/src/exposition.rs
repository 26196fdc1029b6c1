//! The one metric set every language exports (docs/observability.md), declared once: each
//! binding's Prometheus and OpenTelemetry exporter turns [`points`] into its library's objects,
//! and [`render`] writes the canonical Prometheus text exposition (format 0.0.4) the C ABI hands
//! out and the golden tests compare against.
//!
//! Every sample carries a `name` label (the breaker's name, empty if it has none); members of a
//! family carry the family's name and their `key` (the overflow breaker's key is `(overflow)`).
//! Exporters read snapshots at scrape time: a call pays nothing for being exported.
//!
//! ```
//! use circuit::{exposition, CircuitBreaker, Config};
//!
//! let breaker = CircuitBreaker::new(Config::builder().name("payments").build()?);
//! let text = exposition::render(&[exposition::Source::breaker(breaker.name(), &breaker.metrics())]);
//! assert!(text.contains("circuit_breaker_state{name=\"payments\",state=\"closed\"} 1\n"));
//! assert!(text.contains("# TYPE circuit_breaker_calls_total counter\n"));
//! # Ok::<(), circuit::ConfigError>(())
//! ```

use std::fmt::Write as _;

use crate::metrics::Metrics;
use crate::state::{Outcome, RejectReason, State};

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonic total (its name ends in `_total`).
    Counter,
}

impl Kind {
    /// `gauge` or `counter`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The Prometheus name (counters end in `_total`); OpenTelemetry instruments are named
    /// `circuit_breaker.` + the rest, without `_total` (see [`Family::otel_name`]).
    pub name: &'static str,
    /// Gauge or counter.
    pub kind: Kind,
    /// The HELP text.
    pub help: &'static str,
    /// The labels of this family beyond `name` (and `key` for family members).
    pub labels: &'static [&'static str],
    /// The unit, for OpenTelemetry (`1` for counts and ratios, `s` for seconds).
    pub unit: &'static str,
}

impl Family {
    /// The OpenTelemetry instrument name: `circuit_breaker_calls_total` is `circuit_breaker.calls`.
    pub fn otel_name(&self) -> String {
        let rest = self.name.trim_start_matches("circuit_breaker_");
        format!("circuit_breaker.{}", rest.trim_end_matches("_total"))
    }
}

const fn family(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [&'static str],
    unit: &'static str,
) -> Family {
    Family { name, kind, help, labels, unit }
}

/// The metric set, sorted by name (the order of the exposition).
pub const FAMILIES: &[Family] = &[
    family("circuit_breaker_calls_total", Kind::Counter, "Outcomes recorded, by outcome.", &["outcome"], "1"),
    family("circuit_breaker_failure_rate", Kind::Gauge, "Failure rate over the window (0 to 1).", &[], "1"),
    family("circuit_breaker_rejected_calls_total", Kind::Counter, "Calls rejected, by reason.", &["reason"], "1"),
    family("circuit_breaker_slow_call_rate", Kind::Gauge, "Slow-call rate over the window (0 to 1).", &[], "1"),
    family(
        "circuit_breaker_slow_calls_total",
        Kind::Counter,
        "Slow calls recorded (successes and failures).",
        &[],
        "1",
    ),
    family(
        "circuit_breaker_stale_outcomes_total",
        Kind::Counter,
        "Outcomes recorded with a permit of an earlier generation (not counted).",
        &[],
        "1",
    ),
    family(
        "circuit_breaker_state",
        Kind::Gauge,
        "1 for the breaker's current state, 0 for the others.",
        &["state"],
        "1",
    ),
    family("circuit_breaker_time_in_state_seconds", Kind::Gauge, "Time since the current state was entered.", &[], "s"),
    family(
        "circuit_breaker_transitions_total",
        Kind::Counter,
        "State transitions, by from, to and reason.",
        &["from", "reason", "to"],
        "1",
    ),
];

/// Index of a family in [`FAMILIES`].
const CALLS: usize = 0;
const FAILURE_RATE: usize = 1;
const REJECTED: usize = 2;
const SLOW_RATE: usize = 3;
const SLOW: usize = 4;
const STALE: usize = 5;
const STATE: usize = 6;
const TIME_IN_STATE: usize = 7;
const TRANSITIONS: usize = 8;

/// One sample of one family for one breaker: the family, its own labels (in the family's label
/// order) and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Which of [`FAMILIES`].
    pub family: &'static Family,
    /// The family's labels with their values, in [`Family::labels`] order.
    pub labels: Vec<(&'static str, &'static str)>,
    /// The value.
    pub value: f64,
}

/// Every sample of the metric set for one snapshot, family by family in [`FAMILIES`] order; the
/// `name` and `key` labels are the caller's to add. Transition counters appear once non-zero.
pub fn points(m: &Metrics) -> Vec<Point> {
    let mut out = Vec::with_capacity(24);
    let mut push = |family: usize, labels: Vec<(&'static str, &'static str)>, value: f64| {
        out.push(Point { family: &FAMILIES[family], labels, value });
    };
    for (outcome, n) in [(Outcome::Failure, m.failures), (Outcome::Ignored, m.ignored), (Outcome::Success, m.successes)]
    {
        push(CALLS, vec![("outcome", outcome.as_str())], n as f64);
    }
    push(FAILURE_RATE, vec![], m.failure_rate);
    for (reason, n) in [
        (RejectReason::ForcedOpen, m.rejected_forced_open),
        (RejectReason::HalfOpenFull, m.rejected_half_open_full),
        (RejectReason::Open, m.rejected_open),
    ] {
        push(REJECTED, vec![("reason", reason.as_str())], n as f64);
    }
    push(SLOW_RATE, vec![], m.slow_rate);
    push(SLOW, vec![], m.slow as f64);
    push(STALE, vec![], m.stale as f64);
    let mut states: Vec<State> = State::ALL.to_vec();
    states.sort_by_key(|s| s.as_str());
    for state in states {
        push(STATE, vec![("state", state.as_str())], if state == m.state { 1.0 } else { 0.0 });
    }
    push(TIME_IN_STATE, vec![], m.time_in_state.as_secs_f64());
    let mut transitions: Vec<_> = m.transitions.iter().collect();
    transitions.sort_by_key(|(from, to, reason, _)| (from.as_str(), reason.as_str(), to.as_str()));
    for (from, to, reason, n) in transitions {
        push(TRANSITIONS, vec![("from", from.as_str()), ("reason", reason.as_str()), ("to", to.as_str())], n as f64);
    }
    out
}

/// A breaker to render: its name, its key if it is a family member, and its snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The `name` label (a family member's is the family's name).
    pub name: Option<&'a str>,
    /// The `key` label of a family member.
    pub key: Option<&'a str>,
    /// The snapshot.
    pub metrics: &'a Metrics,
}

impl<'a> Source<'a> {
    /// A breaker of its own.
    pub fn breaker(name: Option<&'a str>, metrics: &'a Metrics) -> Self {
        Self { name, key: None, metrics }
    }

    /// A member of a family (`key` = `"(overflow)"` for the family's overflow breaker).
    pub fn member(family: Option<&'a str>, key: &'a str, metrics: &'a Metrics) -> Self {
        Self { name: family, key: Some(key), metrics }
    }
}

/// The canonical Prometheus text exposition (format 0.0.4) of `sources`: families in name order
/// with their HELP and TYPE lines, within a family the sources in the order given, label names in
/// alphabetical order. Label values are escaped; values are written as Rust writes an `f64`
/// (`NaN`, `+Inf` and `-Inf` as Prometheus spells them).
pub fn render(sources: &[Source<'_>]) -> String {
    let per_source: Vec<Vec<Point>> = sources.iter().map(|s| points(s.metrics)).collect();
    let mut text = String::new();
    for (index, family) in FAMILIES.iter().enumerate() {
        let _ = writeln!(text, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind.as_str());
        for (source, points) in sources.iter().zip(&per_source) {
            for point in points.iter().filter(|p| p.family.name == FAMILIES[index].name) {
                let mut labels: Vec<(&str, &str)> = point.labels.clone();
                labels.push(("name", source.name.unwrap_or("")));
                if let Some(key) = source.key {
                    labels.push(("key", key));
                }
                labels.sort_by_key(|(label, _)| *label);
                let rendered: Vec<String> =
                    labels.iter().map(|(label, value)| format!("{label}=\"{}\"", escape_label(value))).collect();
                let _ = writeln!(text, "{}{{{}}} {}", family.name, rendered.join(","), number(point.value));
            }
        }
    }
    text
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_and_counters_end_in_total() {
        let names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for f in FAMILIES {
            assert_eq!(f.kind == Kind::Counter, f.name.ends_with("_total"), "{}", f.name);
            let mut labels = f.labels.to_vec();
            labels.sort_unstable();
            assert_eq!(labels, f.labels, "{} labels sorted", f.name);
        }
        assert_eq!(FAMILIES[TRANSITIONS].otel_name(), "circuit_breaker.transitions");
        assert_eq!(FAMILIES[STATE].otel_name(), "circuit_breaker.state");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
