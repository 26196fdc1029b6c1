//! `circuit._circuit.Metrics`, built by walking the engine's schema (`engine::METRICS`): the
//! snapshot holds the engine's values in schema order (`engine::Metrics::values`), and each field
//! is a read-only attribute of the class, named and documented by the schema and installed at
//! import. Durations are seconds. The transition counts (not scalar, so not in the schema) have
//! their own getter, `transitions`.

use engine::{METRICS, MetricValue};
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;

fn to_object(field: MetricValue, py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(match field {
        MetricValue::State(state) => state.as_str().into_pyobject(py)?.into_any().unbind(),
        MetricValue::Count(count) => count.into_pyobject(py)?.into_any().unbind(),
        MetricValue::Rate(rate) => rate.into_pyobject(py)?.into_any().unbind(),
        MetricValue::Duration(d) => d.as_secs_f64().into_pyobject(py)?.into_any().unbind(),
        MetricValue::OptionalDuration(d) => d.map(|d| d.as_secs_f64()).into_pyobject(py)?.into_any().unbind(),
    })
}

fn repr(field: MetricValue) -> String {
    match field {
        MetricValue::State(state) => format!("'{}'", state.as_str()),
        MetricValue::Count(count) => count.to_string(),
        MetricValue::Rate(rate) => rate.to_string(),
        MetricValue::Duration(d) => d.as_secs_f64().to_string(),
        MetricValue::OptionalDuration(d) => d.map_or("None".to_owned(), |d| d.as_secs_f64().to_string()),
    }
}

/// A metrics snapshot; durations in seconds.
#[pyclass(frozen, module = "circuit._circuit")]
pub(crate) struct Metrics {
    fields: [MetricValue; METRICS.len()],
    transitions: engine::TransitionCounts,
}

impl Metrics {
    pub(crate) fn of(m: &engine::Metrics) -> Self {
        Self { fields: m.values(), transitions: m.transitions }
    }

    fn text(&self) -> String {
        let fields: Vec<String> =
            METRICS.iter().zip(self.fields).map(|(info, field)| format!("{}={}", info.name, repr(field))).collect();
        format!("Metrics({})", fields.join(", "))
    }
}

#[pymethods]
impl Metrics {
    fn __repr__(&self) -> String {
        self.text()
    }

    /// Lifetime transition counts as `(from_state, to_state, reason, count)` tuples, one per
    /// (from, to, reason) that happened (count above zero), in the engine's code order (by from
    /// state, then reason).
    #[getter]
    fn transitions(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
        self.transitions.iter().map(|(from, to, reason, n)| (from.as_str(), to.as_str(), reason.as_str(), n)).collect()
    }
}

// The attribute of `Metrics` for one schema field: a read-only data descriptor (a property, to
// `inspect` and stubtest) read straight from the snapshot's slot, as fast as a native getter. (A
// plain comment: a class docstring would hide the per-field `__doc__` below.)
#[pyclass(frozen, module = "circuit._circuit", name = "_MetricField")]
struct MetricField {
    index: usize,
}

#[pymethods]
impl MetricField {
    fn __get__(
        slf: &Bound<'_, Self>,
        instance: Option<&Bound<'_, PyAny>>,
        _owner: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match instance.filter(|i| !i.is_none()) {
            Some(instance) => to_object(instance.cast::<Metrics>()?.get().fields[slf.get().index], slf.py()),
            None => Ok(slf.clone().into_any().unbind()),
        }
    }

    fn __set__(&self, _instance: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyAttributeError::new_err(format!(
            "attribute '{}' of 'circuit._circuit.Metrics' objects is not writable",
            METRICS[self.index].name
        )))
    }

    fn __delete__(&self, _instance: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyAttributeError::new_err(format!(
            "attribute '{}' of 'circuit._circuit.Metrics' objects is not writable",
            METRICS[self.index].name
        )))
    }

    /// The schema's one-line documentation of the field.
    #[getter]
    fn __doc__(&self) -> &'static str {
        METRICS[self.index].doc
    }

    fn __repr__(&self) -> String {
        format!("<attribute '{}' of 'circuit._circuit.Metrics' objects>", METRICS[self.index].name)
    }
}

/// Gives the class one attribute per schema field (called once, at import).
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let class = py.get_type::<Metrics>();
    for (index, info) in METRICS.iter().enumerate() {
        class.setattr(info.name, MetricField { index })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_lists_every_schema_field_in_order() {
        let snapshot = Metrics::of(&engine::CircuitBreaker::new(engine::Config::default()).metrics());
        let text = snapshot.text();
        let names: Vec<&str> = text
            .trim_start_matches("Metrics(")
            .trim_end_matches(')')
            .split(", ")
            .map(|part| part.split('=').next().unwrap_or(""))
            .collect();
        assert_eq!(names, METRICS.iter().map(|m| m.name).collect::<Vec<_>>());
        assert!(text.starts_with("Metrics(state='closed', generation=0, "), "{text}");
        assert!(text.ends_with(", retry_after=None)"), "{text}");
    }
}
