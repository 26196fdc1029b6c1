//! The metric set as a [prometheus-client](https://docs.rs/prometheus-client) collector (feature
//! `prometheus-client`): register a [`Collector`] holding your breakers and families, and every
//! scrape reads fresh snapshots (docs/observability.md).
//!
//! Every sample comes from [`exposition::points`](crate::exposition::points), labelled `name`
//! (and `key` for family members, `(overflow)` for a family's overflow breaker). prometheus-client
//! writes OpenMetrics text: a counter's `# TYPE`/`# HELP` name has no `_total` (its samples keep
//! it), `circuit_breaker_time_in_state_seconds` gets a `# UNIT` line, values are written as floats
//! (`1.0`) and the text ends with `# EOF`. The samples are those of
//! [`exposition::render`](crate::exposition::render).
//!
//! ```
//! use circuit::{CircuitBreaker, Config, Family};
//! use prometheus_client::registry::Registry;
//! use std::sync::Arc;
//!
//! let breaker = Arc::new(CircuitBreaker::new(Config::builder().name("payments").build()?));
//! let family = Arc::new(Family::new(Config::builder().name("api").build()?));
//! let mut collector = circuit::prometheus::Collector::new();
//! collector.add_breaker(Arc::clone(&breaker));
//! collector.add_family(Arc::clone(&family));
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(collector));
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry)?;
//! assert!(text.contains("# TYPE circuit_breaker_calls counter\n"));
//! assert!(text.contains("circuit_breaker_state{name=\"payments\",state=\"closed\"} 1.0\n"));
//! assert!(text.contains("circuit_breaker_state{key=\"(overflow)\",name=\"api\",state=\"closed\"} 1.0\n"));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::exposition::{FAMILIES, Family as MetricFamily, Kind};
use crate::scrape::Targets;
use crate::{CircuitBreaker, Family};

/// A prometheus-client [`Collector`](prometheus_client::collector::Collector) of the metric set
/// for the breakers and families added to it; register it with
/// [`Registry::register_collector`](prometheus_client::registry::Registry::register_collector).
#[derive(Debug, Default, Clone)]
pub struct Collector {
    targets: Targets,
}

impl Collector {
    /// A collector with nothing to collect yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Exports `breaker`, labelled with its name.
    pub fn add_breaker(&mut self, breaker: Arc<CircuitBreaker>) -> &mut Self {
        self.targets.add_breaker(breaker);
        self
    }

    /// Exports every member of `family` (read at each scrape) and its overflow breaker, labelled
    /// with the family's name and the member's key.
    pub fn add_family(&mut self, family: Arc<Family>) -> &mut Self {
        self.targets.add_family(family);
        self
    }
}

/// The name prometheus-client is given (it appends the unit and, for counters, `_total`) and the
/// unit, so that the samples carry exactly the family's name.
fn descriptor(family: &MetricFamily) -> (&'static str, Option<Unit>) {
    let name = match family.kind {
        Kind::Counter => family.name.strip_suffix("_total").unwrap_or(family.name),
        Kind::Gauge => family.name,
    };
    match name.strip_suffix("_seconds") {
        Some(stem) if family.unit == "s" => (stem, Some(Unit::Seconds)),
        _ => (name, None),
    }
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let scraped = self.targets.scrape();
        for family in FAMILIES {
            let (name, unit) = descriptor(family);
            let metric_type = match family.kind {
                Kind::Counter => ConstCounter::new(0u64).metric_type(),
                Kind::Gauge => ConstGauge::new(0.0f64).metric_type(),
            };
            let mut metric = encoder.encode_descriptor(name, family.help, unit.as_ref(), metric_type)?;
            for source in &scraped {
                for point in source.points.iter().filter(|p| p.family == family) {
                    let labels = source.labels(point);
                    let sample = metric.encode_family(&labels)?;
                    match family.kind {
                        // Counter points are counts (`u64 as f64`), so they are written as integers.
                        Kind::Counter => ConstCounter::new(point.value as u64).encode(sample)?,
                        Kind::Gauge => ConstGauge::new(point.value).encode(sample)?,
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_give_back_the_family_names() {
        for family in FAMILIES {
            let (name, unit) = descriptor(family);
            let mut full = name.to_owned();
            if let Some(unit) = unit {
                full = format!("{full}_{}", unit.as_str());
            }
            if family.kind == Kind::Counter {
                full.push_str("_total");
            }
            assert_eq!(full, family.name);
        }
        let (name, unit) = descriptor(&FAMILIES[7]);
        assert_eq!((name, unit.as_ref().map(Unit::as_str)), ("circuit_breaker_time_in_state", Some("seconds")));
    }
}
