//! The metric set as OpenTelemetry observable instruments (feature `opentelemetry`):
//! [`instrument`] registers one instrument per metric family on your meter, named by
//! [`Family::otel_name`](crate::exposition::Family::otel_name) (`circuit_breaker.calls`,
//! `circuit_breaker.state`, ...): counters as `u64` observable counters, gauges as `f64` observable
//! gauges, with the Prometheus labels as attributes (`name`, `key` for family members). Their
//! callbacks read fresh snapshots whenever your SDK's reader collects; nothing runs in between.
//!
//! The OpenTelemetry API cannot remove a callback from a meter, so the returned [`Instruments`]
//! owns what the callbacks read: once it is dropped they observe nothing.
//!
//! ```
//! use circuit::{CircuitBreaker, Config};
//! use opentelemetry::metrics::MeterProvider as _;
//! use std::sync::Arc;
//!
//! # let provider = opentelemetry::metrics::noop::NoopMeterProvider::new();
//! let meter = provider.meter("payments-service");
//! let breaker = Arc::new(CircuitBreaker::new(Config::builder().name("payments").build()?));
//! let instruments = circuit::opentelemetry::instrument(&meter, &[breaker], &[]);
//! // ... keep `instruments` for as long as the breakers should be exported.
//! drop(instruments);
//! # Ok::<(), circuit::ConfigError>(())
//! ```

use std::sync::{Arc, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};

use crate::exposition::{FAMILIES, Family as MetricFamily, Kind};
use crate::scrape::Targets;
use crate::{CircuitBreaker, Family};

/// The instruments [`instrument`] registered, and what their callbacks read: drop it (or call
/// [`Instruments::unregister`]) and they observe nothing from then on.
#[derive(Debug)]
#[must_use = "the instruments observe nothing once this is dropped"]
pub struct Instruments {
    _targets: Arc<Targets>,
    _counters: Vec<ObservableCounter<u64>>,
    _gauges: Vec<ObservableGauge<f64>>,
}

impl Instruments {
    /// Stops the callbacks from observing (the same as dropping it).
    pub fn unregister(self) {}
}

/// Registers the metric set of `breakers` and of every member of `families` (with each family's
/// overflow breaker) on `meter`: one observable instrument per family of
/// [`exposition::FAMILIES`](crate::exposition::FAMILIES).
pub fn instrument(meter: &Meter, breakers: &[Arc<CircuitBreaker>], families: &[Arc<Family>]) -> Instruments {
    let mut targets = Targets::default();
    breakers.iter().for_each(|b| targets.add_breaker(Arc::clone(b)));
    families.iter().for_each(|f| targets.add_family(Arc::clone(f)));
    let targets = Arc::new(targets);
    let (mut counters, mut gauges) = (Vec::new(), Vec::new());
    for family in FAMILIES {
        let weak = Arc::downgrade(&targets);
        match family.kind {
            Kind::Counter => counters.push(
                meter
                    .u64_observable_counter(family.otel_name())
                    .with_description(family.help)
                    .with_unit(family.unit)
                    // Counter points are counts (`u64 as f64`).
                    .with_callback(move |observer| observe(&weak, family, |v, a| observer.observe(v as u64, a)))
                    .build(),
            ),
            Kind::Gauge => gauges.push(
                meter
                    .f64_observable_gauge(family.otel_name())
                    .with_description(family.help)
                    .with_unit(family.unit)
                    .with_callback(move |observer| observe(&weak, family, |v, a| observer.observe(v, a)))
                    .build(),
            ),
        }
    }
    Instruments { _targets: targets, _counters: counters, _gauges: gauges }
}

/// One callback's work: every point of `family`, if the [`Instruments`] still exist.
fn observe(targets: &Weak<Targets>, family: &MetricFamily, mut record: impl FnMut(f64, &[KeyValue])) {
    let Some(targets) = targets.upgrade() else { return };
    for source in targets.scrape() {
        for point in source.points.iter().filter(|p| p.family == family) {
            let attributes: Vec<KeyValue> =
                source.labels(point).into_iter().map(|(k, v)| KeyValue::new(k, v.to_owned())).collect();
            record(point.value, &attributes);
        }
    }
}
