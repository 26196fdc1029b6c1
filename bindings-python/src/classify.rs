//! Which outcome an exception is: an `Exception` is a failure unless `ignore` matches it (then
//! ignored); a `BaseException` that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`,
//! `asyncio.CancelledError`, `GeneratorExit`) is ignored. The exception always propagates.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use crate::errors::type_error;

/// The `ignore` option: exception classes, or a predicate.
pub(crate) enum Ignore {
    Nothing,
    Types(Py<PyAny>),
    Predicate(Py<PyAny>),
}

impl Ignore {
    pub(crate) fn parse(value: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(value) = value else { return Ok(Self::Nothing) };
        if value.is_none() {
            return Ok(Self::Nothing);
        }
        let is_exception_class = |v: &Bound<'_, PyAny>| {
            v.cast::<PyType>().is_ok_and(|t| t.is_subclass_of::<pyo3::exceptions::PyBaseException>().unwrap_or(false))
        };
        if is_exception_class(value) {
            return Ok(Self::Types(value.clone().unbind()));
        }
        if let Ok(tuple) = value.cast::<PyTuple>() {
            if tuple.iter().all(|item| is_exception_class(&item)) {
                return Ok(Self::Types(value.clone().unbind()));
            }
            return Err(type_error("ignore", "exception classes or a predicate", value));
        }
        if let Ok(sequence) = value.cast::<pyo3::types::PyList>() {
            let items: Vec<Bound<'_, PyAny>> = sequence.iter().collect();
            if items.iter().all(is_exception_class) {
                return Ok(Self::Types(PyTuple::new(value.py(), items)?.into_any().unbind()));
            }
        }
        if value.is_callable() {
            return Ok(Self::Predicate(value.clone().unbind()));
        }
        Err(type_error("ignore", "an exception class, a tuple of them, or a predicate", value))
    }

    /// Another handle to the same option (a family's members share it).
    pub(crate) fn clone_ref(&self, py: Python<'_>) -> Self {
        match self {
            Self::Nothing => Self::Nothing,
            Self::Types(types) => Self::Types(types.clone_ref(py)),
            Self::Predicate(predicate) => Self::Predicate(predicate.clone_ref(py)),
        }
    }

    /// The outcome of a finished call: success without an exception (None), else as `outcome_of`.
    pub(crate) fn outcome_of_exception(&self, py: Python<'_>, exception: Option<&Bound<'_, PyAny>>) -> engine::Outcome {
        match exception {
            Some(e) if !e.is_none() => self.outcome_of(py, &PyErr::from_value(e.clone())),
            _ => engine::Outcome::Success,
        }
    }

    pub(crate) fn outcome_of(&self, py: Python<'_>, error: &PyErr) -> engine::Outcome {
        if !error.is_instance_of::<PyException>(py) {
            return engine::Outcome::Ignored;
        }
        let ignored = match self {
            Self::Nothing => false,
            Self::Types(types) => error.is_instance(py, types.bind(py)),
            Self::Predicate(predicate) => match predicate.call1(py, (error.value(py),)) {
                Ok(answer) => answer.is_truthy(py).unwrap_or(false),
                Err(problem) => {
                    // A broken predicate must not hide the call's own exception.
                    problem.write_unraisable(py, Some(predicate.bind(py)));
                    false
                }
            },
        };
        if ignored { engine::Outcome::Ignored } else { engine::Outcome::Failure }
    }
}
