//! `circuit._circuit.Metrics`, built by walking the engine's schema (`engine::METRICS`): the
//! snapshot holds one value per schema field, in schema order, and each field is a read-only
//! attribute of the class, named and documented by the schema and installed at import. Durations
//! are seconds. The one place that knows the snapshot struct is [`reader`], checked against the
//! schema at compile time.

use std::time::Duration;

use engine::{METRICS, MetricKind};
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;

/// One field of a snapshot, by its schema kind.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    State(engine::State),
    Count(u64),
    Rate(f64),
    Duration(Duration),
    OptionalDuration(Option<Duration>),
}

impl Field {
    fn to_object(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Field::State(state) => state.as_str().into_pyobject(py)?.into_any().unbind(),
            Field::Count(count) => count.into_pyobject(py)?.into_any().unbind(),
            Field::Rate(rate) => rate.into_pyobject(py)?.into_any().unbind(),
            Field::Duration(d) => d.as_secs_f64().into_pyobject(py)?.into_any().unbind(),
            Field::OptionalDuration(d) => d.map(|d| d.as_secs_f64()).into_pyobject(py)?.into_any().unbind(),
        })
    }

    fn repr(self) -> String {
        match self {
            Field::State(state) => format!("'{}'", state.as_str()),
            Field::Count(count) => count.to_string(),
            Field::Rate(rate) => rate.to_string(),
            Field::Duration(d) => d.as_secs_f64().to_string(),
            Field::OptionalDuration(d) => d.map_or("None".to_owned(), |d| d.as_secs_f64().to_string()),
        }
    }
}

/// Reads one field of the engine's snapshot.
type Read = fn(&engine::Metrics) -> Field;

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// How to read the snapshot field the schema calls `name` as a value of kind `kind`. Evaluated at
/// compile time: a schema field this binding cannot read, or of another kind, fails the build.
const fn reader(name: &str, kind: MetricKind) -> Read {
    macro_rules! by_name {
        ($($field:ident: $kind:ident),+ $(,)?) => {
            $(if same(name, stringify!($field)) {
                if kind as u8 != MetricKind::$kind as u8 {
                    panic!("a field of engine::METRICS changed kind: update bindings-python/src/metrics.rs");
                }
                return |m| Field::$kind(m.$field);
            })+
        };
    }
    by_name!(
        state: State,
        generation: Count,
        consecutive_failures: Count,
        window_calls: Count,
        window_failures: Count,
        window_slow: Count,
        failure_rate: Rate,
        slow_rate: Rate,
        admitted: Count,
        rejected: Count,
        successes: Count,
        failures: Count,
        ignored: Count,
        slow: Count,
        stale: Count,
        opened: Count,
        time_in_state: Duration,
        retry_after: OptionalDuration,
    );
    panic!("engine::METRICS has a field bindings-python/src/metrics.rs does not read")
}

/// One reader per schema field, in schema order.
static READERS: [Read; METRICS.len()] = {
    let mut readers: [Read; METRICS.len()] = [|m| Field::State(m.state); METRICS.len()];
    let mut i = 0;
    while i < METRICS.len() {
        readers[i] = reader(METRICS[i].name, METRICS[i].kind);
        i += 1;
    }
    readers
};

/// The spelling of a metrics field's kind in `circuit._circuit.METRICS`.
pub(crate) fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::State => "state",
        MetricKind::Count => "count",
        MetricKind::Rate => "rate",
        MetricKind::Duration => "duration",
        MetricKind::OptionalDuration => "optional_duration",
    }
}

/// A metrics snapshot; durations in seconds.
#[pyclass(frozen, module = "circuit._circuit")]
pub(crate) struct Metrics {
    fields: [Field; METRICS.len()],
}

impl Metrics {
    pub(crate) fn of(m: &engine::Metrics) -> Self {
        Self { fields: std::array::from_fn(|i| READERS[i](m)) }
    }

    fn text(&self) -> String {
        let fields: Vec<String> =
            METRICS.iter().zip(self.fields).map(|(info, field)| format!("{}={}", info.name, field.repr())).collect();
        format!("Metrics({})", fields.join(", "))
    }
}

#[pymethods]
impl Metrics {
    fn __repr__(&self) -> String {
        self.text()
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
            Some(instance) => instance.cast::<Metrics>()?.get().fields[slf.get().index].to_object(slf.py()),
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
