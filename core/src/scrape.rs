//! What the library exporters ([`crate::prometheus`], [`crate::opentelemetry`]) read at scrape
//! time: the breakers and families they were given, each turned into samples by
//! [`exposition::points`] and labelled with `name` (and `key`) as the exposition module says.

use std::sync::Arc;

use crate::exposition::{self, Point};
use crate::{CircuitBreaker, Family};

/// The `key` label of a family's overflow breaker.
pub(crate) use crate::family::OVERFLOW_KEY;

/// The breakers and families an exporter reads, in the order they were added.
#[derive(Debug, Default, Clone)]
pub(crate) struct Targets {
    breakers: Vec<Arc<CircuitBreaker>>,
    families: Vec<Arc<Family>>,
}

/// One breaker's samples with its `name` and `key` label values.
pub(crate) struct Scraped {
    name: String,
    key: Option<String>,
    pub(crate) points: Vec<Point>,
}

impl Targets {
    pub(crate) fn add_breaker(&mut self, breaker: Arc<CircuitBreaker>) {
        self.breakers.push(breaker);
    }

    pub(crate) fn add_family(&mut self, family: Arc<Family>) {
        self.families.push(family);
    }

    /// A snapshot of every target, in the canonical exposition order: the breakers as added, then
    /// each family's members sorted by key followed by its overflow breaker.
    pub(crate) fn scrape(&self) -> Vec<Scraped> {
        let mut out = Vec::new();
        for breaker in &self.breakers {
            out.push(Scraped::new(breaker.name(), None, &breaker.metrics()));
        }
        for family in &self.families {
            let name = family.config().name();
            let mut metrics = family.metrics();
            metrics.members.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, member) in &metrics.members {
                out.push(Scraped::new(name, Some(key), member));
            }
            out.push(Scraped::new(name, Some(OVERFLOW_KEY), &metrics.overflow));
        }
        out
    }
}

impl Scraped {
    fn new(name: Option<&str>, key: Option<&str>, metrics: &crate::Metrics) -> Self {
        Self { name: name.unwrap_or("").to_owned(), key: key.map(str::to_owned), points: exposition::points(metrics) }
    }

    /// All labels of `point` (its own, `name`, and `key` for a family member), sorted by label name.
    pub(crate) fn labels<'a>(&'a self, point: &'a Point) -> Vec<(&'static str, &'a str)> {
        let mut labels = point.labels.clone();
        labels.push(("name", &self.name));
        if let Some(key) = &self.key {
            labels.push(("key", key));
        }
        labels.sort_by_key(|(label, _)| *label);
        labels
    }
}
