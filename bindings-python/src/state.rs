//! Portable breaker state (docs/observability.md, "State export and import"): the engine's JSON
//! document, written by `Breaker.export_state` and read at construction (`Breaker(...,
//! state=document)`). Only the engine reads documents, so Python accepts exactly what every other
//! binding accepts. A refused document raises `circuit.StateError` (a `ValueError` defined in
//! `circuit/_errors.py`, carrying `.field` and `.message`), and the breaker being built is dropped:
//! nothing is created.

use std::time::SystemTime;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyType};

static STATE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `circuit.StateError(field, message)`.
fn state_error(py: Python<'_>, field: Option<&str>, message: &str) -> PyErr {
    let class = STATE_ERROR.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        Ok(py.import("circuit._errors")?.getattr("StateError")?.cast_into::<PyType>()?.unbind())
    });
    match class {
        Ok(class) => match class.bind(py).call1((field, message)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(err) => err,
        },
        Err(err) => PyRuntimeError::new_err(format!("circuit.StateError is unavailable: {err}")),
    }
}

/// The document as text: a `str`, or `bytes` holding UTF-8. Text that is not valid Unicode (a
/// lone surrogate, bytes that are not UTF-8) is a refused document; another type a `TypeError`.
fn document_text(py: Python<'_>, function: &str, document: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = document.cast::<PyString>() {
        return text
            .to_str()
            .map(str::to_owned)
            .map_err(|_| state_error(py, None, "the document is not valid Unicode text (a lone surrogate)"));
    }
    if let Ok(bytes) = document.cast::<PyBytes>() {
        return String::from_utf8(bytes.as_bytes().to_vec())
            .map_err(|e| state_error(py, None, &format!("the document is not UTF-8: {e}")));
    }
    let type_name = document.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    Err(PyTypeError::new_err(format!("{function}: the state document must be a str or bytes, got {type_name}")))
}

/// Imports `document` into `breaker` at the wall-clock instant `now`; raises `StateError` naming
/// the field at fault (the engine refuses a breaker that has been used).
pub(crate) fn import(
    py: Python<'_>,
    function: &str,
    breaker: &engine::CircuitBreaker,
    document: &Bound<'_, PyAny>,
    now: SystemTime,
) -> PyResult<()> {
    let text = document_text(py, function, document)?;
    // Parsing a large document takes a while: without the GIL.
    py.detach(|| breaker.import_state_at(&text, now)).map_err(|e| state_error(py, e.field_name(), &e.to_string()))
}

/// The breaker's document, exported at the wall-clock instant `now`.
pub(crate) fn export(py: Python<'_>, breaker: &engine::CircuitBreaker, now: SystemTime) -> String {
    py.detach(|| breaker.export_state_at(now))
}
