//! The one metric set (docs/observability.md), exported natively from the engine
//! (`engine::exposition`): `METRIC_FAMILIES` describes it and `_metric_points(*sources)` gives the
//! samples of breakers and families, built by `engine::exposition::points` with the `name` and
//! `key` labels added here. The Prometheus collector (`circuit/prometheus.py`) and the
//! OpenTelemetry instruments (`circuit/opentelemetry.py`) turn these into their library's objects
//! and map no metrics field themselves.

use engine::exposition::{FAMILIES, Point, points};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::breaker::Breaker;
use crate::family::Family;

/// The `key` label of a family's overflow breaker.
const OVERFLOW_KEY: &str = engine::OVERFLOW_KEY;

/// One breaker's snapshot with its `name` label and, for a family member, its `key`.
struct Labelled {
    name: String,
    key: Option<String>,
    points: Vec<Point>,
}

/// The snapshots of one source: a breaker, or a family's members sorted by key then its overflow
/// breaker.
fn snapshots(source: &Bound<'_, PyAny>, out: &mut Vec<Labelled>) -> PyResult<()> {
    let py = source.py();
    if let Ok(breaker) = source.cast::<Breaker>() {
        let inner = &breaker.get().inner;
        let metrics = py.detach(|| inner.metrics());
        out.push(Labelled { name: inner.name().unwrap_or("").to_owned(), key: None, points: points(&metrics) });
        return Ok(());
    }
    if let Ok(family) = source.cast::<Family>() {
        let inner = &family.get().inner;
        let mut metrics = py.detach(|| inner.metrics());
        metrics.members.sort_by(|a, b| a.0.cmp(&b.0));
        let name = inner.config().name().unwrap_or("").to_owned();
        for (key, m) in &metrics.members {
            out.push(Labelled { name: name.clone(), key: Some(key.to_string()), points: points(m) });
        }
        out.push(Labelled { name, key: Some(OVERFLOW_KEY.to_owned()), points: points(&metrics.overflow) });
        return Ok(());
    }
    let type_name = source.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    Err(PyTypeError::new_err(format!("expected a circuit.CircuitBreaker or a circuit.Family, got {type_name}")))
}

/// Every sample of `sources` (breakers and families) as `(family, kind, help, labels, value)`
/// tuples, `labels` a dict with the family's labels plus `name` (and `key` for family members),
/// sorted by label name. Ordered as the exposition: family by family in `METRIC_FAMILIES`
/// order, within a family source by source (a family's members by key, then its overflow
/// breaker with key "(overflow)").
#[pyfunction]
#[pyo3(signature = (*sources))]
pub(crate) fn _metric_points<'py>(sources: &Bound<'py, PyTuple>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
    let py = sources.py();
    let mut labelled = Vec::new();
    for source in sources.iter() {
        snapshots(&source, &mut labelled)?;
    }
    let mut out = Vec::new();
    for family in FAMILIES {
        for source in &labelled {
            for point in source.points.iter().filter(|p| p.family.name == family.name) {
                let mut labels: Vec<(&str, &str)> = point.labels.clone();
                labels.push(("name", &source.name));
                if let Some(key) = &source.key {
                    labels.push(("key", key));
                }
                labels.sort_by_key(|(label, _)| *label);
                let dict = PyDict::new(py);
                for (label, value) in labels {
                    dict.set_item(label, value)?;
                }
                out.push(PyTuple::new(
                    py,
                    [
                        family.name.into_pyobject(py)?.into_any(),
                        family.kind.as_str().into_pyobject(py)?.into_any(),
                        family.help.into_pyobject(py)?.into_any(),
                        dict.into_any(),
                        point.value.into_pyobject(py)?.into_any(),
                    ],
                )?);
            }
        }
    }
    Ok(out)
}

/// `METRIC_FAMILIES`: the metric set as `(name, kind, help, labels, unit, otel_name)` tuples,
/// sorted by name; `labels` are the family's own (beyond `name` and `key`).
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let families: Vec<Bound<'_, PyTuple>> = FAMILIES
        .iter()
        .map(|f| {
            (f.name, f.kind.as_str(), f.help, PyTuple::new(py, f.labels)?, f.unit, f.otel_name()).into_pyobject(py)
        })
        .collect::<PyResult<_>>()?;
    m.add("METRIC_FAMILIES", PyTuple::new(py, families)?)?;
    m.add_function(wrap_pyfunction!(_metric_points, m)?)?;
    Ok(())
}
