//! `Permit`: an admitted call. Recorded once; garbage-collected unrecorded it counts as ignored
//! (which returns a half-open probe slot). Also a context manager: `with breaker.allow():`.

use pyo3::prelude::*;

use crate::breaker::Breaker;

#[pyclass(frozen, module = "circuit._circuit")]
pub(crate) struct Permit {
    pub(crate) inner: crate::fleet::Hold,
    breaker: Py<Breaker>,
}

impl Permit {
    pub(crate) fn new(inner: crate::fleet::Hold, breaker: Py<Breaker>) -> Self {
        Self { inner, breaker }
    }
}

#[pymethods]
impl Permit {
    /// The breaker generation the permit was admitted in.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.raw().generation()
    }

    /// Whether the permit is a half-open probe.
    #[getter]
    fn is_probe(&self) -> bool {
        self.inner.raw().is_probe()
    }

    /// Whether the call is the fleet's probe (it holds a lease granted by the store; a breaker
    /// with a `fleet` only).
    #[getter]
    fn is_fleet_probe(&self) -> bool {
        self.inner.is_fleet_probe()
    }

    /// Whether an outcome was already recorded.
    #[getter]
    fn recorded(&self) -> bool {
        self.inner.is_spent()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Records the outcome from the exception (if any) and lets it propagate.
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if !self.inner.is_spent() {
            let outcome = self.breaker.get().ignore.outcome_of_exception(py, Some(exc));
            let _ = self.inner.record(outcome);
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let raw = self.inner.raw();
        format!(
            "Permit(generation={}, probe={}, recorded={})",
            raw.generation(),
            if raw.is_probe() { "True" } else { "False" },
            if self.inner.is_spent() { "True" } else { "False" }
        )
    }
}
