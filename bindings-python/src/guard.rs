//! `Guarded`: what `@breaker` returns for a sync function. A native callable (so a protected
//! call costs about as much as a bare call plus the engine's few nanoseconds) with a `__dict__`
//! (so `functools.update_wrapper` can copy the function's metadata and `__wrapped__`) and a
//! descriptor `__get__` (so it works on methods).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::breaker::Breaker;

#[pyclass(frozen, dict, module = "circuit._circuit")]
pub(crate) struct Guarded {
    breaker: Py<Breaker>,
    func: Py<PyAny>,
}

impl Guarded {
    pub(crate) fn new(breaker: Py<Breaker>, func: Py<PyAny>) -> Self {
        Self { breaker, func }
    }
}

static METHOD_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pymethods]
impl Guarded {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        Breaker::protect(self.breaker.bind(py), self.func.bind(py), args, kwargs)
    }

    fn __get__(
        slf: Py<Self>,
        py: Python<'_>,
        instance: Option<Py<PyAny>>,
        _owner: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match instance {
            None => Ok(slf.into_any()),
            Some(instance) if instance.is_none(py) => Ok(slf.into_any()),
            Some(instance) => {
                let method_type = METHOD_TYPE.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
                    Ok(py.import("types")?.getattr("MethodType")?.unbind())
                })?;
                Ok(method_type.bind(py).call1((slf, instance))?.unbind())
            }
        }
    }

    /// The breaker protecting this function.
    #[getter]
    fn breaker(&self, py: Python<'_>) -> Py<Breaker> {
        self.breaker.clone_ref(py)
    }
}
