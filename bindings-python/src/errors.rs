//! The exception classes are defined in Python (real classes with attributes, in
//! `circuit/_errors.py`) and registered here once at import time, so native code raises them.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static OPEN_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIG_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static RECORDED_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PROTECT_AWAITABLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static SETTLE_CANCELLED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Called by `circuit/__init__.py` with the exception classes,
/// `protect_awaitable(breaker, token, awaitable)`, which returns an awaitable that awaits
/// `awaitable` and records its outcome for `token`, and `settle_cancelled(breaker, token, error)`,
/// which records the outcome of a call that a `CancelledError` left.
#[pyfunction]
pub(crate) fn register(
    py: Python<'_>,
    open_error: Py<PyType>,
    config_error: Py<PyType>,
    recorded_error: Py<PyType>,
    protect_awaitable: Py<PyAny>,
    settle_cancelled: Py<PyAny>,
) -> PyResult<()> {
    let _ = OPEN_ERROR.set(py, open_error);
    let _ = CONFIG_ERROR.set(py, config_error);
    let _ = RECORDED_ERROR.set(py, recorded_error);
    let _ = PROTECT_AWAITABLE.set(py, protect_awaitable);
    let _ = SETTLE_CANCELLED.set(py, settle_cancelled);
    Ok(())
}

/// Records the outcome of a call for `token` that `error` (a `CancelledError`) left.
pub(crate) fn settle_cancelled<'py>(
    py: Python<'py>,
    breaker: &Bound<'py, crate::breaker::Breaker>,
    token: &Py<PyAny>,
    error: &Bound<'py, pyo3::exceptions::PyBaseException>,
) -> PyResult<()> {
    match SETTLE_CANCELLED.get(py) {
        Some(hook) => hook.bind(py).call1((breaker, token, error)).map(drop),
        None => Err(PyRuntimeError::new_err("circuit._circuit used before circuit was imported")),
    }
}

/// The awaitable that finishes a protected call whose function returned `awaitable`.
pub(crate) fn protect_awaitable<'py>(
    py: Python<'py>,
    breaker: &Bound<'py, crate::breaker::Breaker>,
    token: Py<PyAny>,
    awaitable: &Bound<'py, PyAny>,
) -> PyResult<Py<PyAny>> {
    match PROTECT_AWAITABLE.get(py) {
        Some(hook) => Ok(hook.bind(py).call1((breaker, token, awaitable))?.unbind()),
        None => Err(PyRuntimeError::new_err("circuit._circuit used before circuit was imported")),
    }
}

fn raise<'py, A: pyo3::call::PyCallArgs<'py>>(py: Python<'py>, class: &PyOnceLock<Py<PyType>>, args: A) -> PyErr {
    match class.get(py) {
        Some(class) => match class.bind(py).call1(args) {
            Ok(instance) => PyErr::from_value(instance),
            Err(err) => err,
        },
        None => PyRuntimeError::new_err("circuit._circuit used before circuit was imported"),
    }
}

/// `CircuitOpenError(name, state, reason, retry_after)`.
pub(crate) fn open_error(py: Python<'_>, rejected: &engine::Rejected) -> PyErr {
    let retry_after = rejected.retry_after().map(|d| d.as_secs_f64());
    raise(
        py,
        &OPEN_ERROR,
        (rejected.name().map(str::to_owned), rejected.state().as_str(), rejected.reason().as_str(), retry_after),
    )
}

/// `CircuitConfigError(option, message)`: a `ValueError` naming the option.
pub(crate) fn config_error(py: Python<'_>, option: &str, message: String) -> PyErr {
    if CONFIG_ERROR.get(py).is_none() {
        return PyValueError::new_err(message);
    }
    raise(py, &CONFIG_ERROR, (option.to_owned(), message))
}

/// A `TypeError` naming the option.
pub(crate) fn type_error(option: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let type_name = got.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!("invalid option `{option}`: expected {expected}, got {type_name}"))
}

/// `PermitAlreadyRecordedError`: a `ValueError`.
pub(crate) fn recorded_error(py: Python<'_>, error: engine::PermitError) -> PyErr {
    if RECORDED_ERROR.get(py).is_none() {
        return PyValueError::new_err(error.to_string());
    }
    raise(py, &RECORDED_ERROR, (error.to_string(),))
}
