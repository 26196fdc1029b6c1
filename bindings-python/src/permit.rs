//! `Permit`: an admitted call. Recorded once; garbage-collected unrecorded it counts as ignored
//! (which returns a half-open probe slot). Also a context manager: `with breaker.allow():`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

use crate::breaker::Breaker;

/// A raw permit with its breaker and a spent flag: the engine's `OwnedPermit`, plus a failure
/// with the dependency's retry time (`record_failure_retry_after`), which `OwnedPermit` lacks.
/// Dropped unrecorded, it records an ignored outcome (which returns a half-open probe slot).
#[derive(Debug)]
pub(crate) struct OwnedPermit {
    breaker: Arc<engine::CircuitBreaker>,
    raw: engine::RawPermit,
    spent: AtomicBool,
}

impl OwnedPermit {
    pub(crate) fn from_raw(breaker: Arc<engine::CircuitBreaker>, raw: engine::RawPermit) -> Self {
        Self { breaker, raw, spent: AtomicBool::new(false) }
    }

    pub(crate) fn raw(&self) -> engine::RawPermit {
        self.raw
    }

    pub(crate) fn breaker(&self) -> &Arc<engine::CircuitBreaker> {
        &self.breaker
    }

    pub(crate) fn is_spent(&self) -> bool {
        self.spent.load(Ordering::Acquire)
    }

    /// Marks the permit spent; `AlreadyRecorded` if it was.
    fn spend(&self) -> Result<engine::RawPermit, engine::PermitError> {
        if self.spent.swap(true, Ordering::AcqRel) {
            return Err(engine::PermitError::AlreadyRecorded);
        }
        Ok(self.raw)
    }

    /// Records the outcome; a second call returns `AlreadyRecorded`.
    pub(crate) fn record(&self, outcome: engine::Outcome) -> Result<engine::Recorded, engine::PermitError> {
        let raw = self.spend()?;
        self.breaker.record_raw(raw, outcome)
    }

    /// Records a failure with the dependency's retry time (see the engine's
    /// `record_failure_retry_after`).
    pub(crate) fn record_failure_retry_after(
        &self,
        retry_after: Duration,
    ) -> Result<engine::Recorded, engine::PermitError> {
        let raw = self.spend()?;
        self.breaker.record_raw_retry_after(raw, retry_after)
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if !self.spent.swap(true, Ordering::AcqRel) {
            let _ = self.breaker.record_raw(self.raw, engine::Outcome::Ignored);
        }
    }
}

#[pyclass(frozen, module = "circuit._circuit")]
pub(crate) struct Permit {
    pub(crate) inner: OwnedPermit,
    breaker: Py<Breaker>,
}

impl Permit {
    pub(crate) fn new(inner: OwnedPermit, breaker: Py<Breaker>) -> Self {
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
