//! `ManualClock`: starts at 0, moves only when advanced; durations are float seconds rounded to
//! whole nanoseconds, so `advance(0.999)` then `advance(0.001)` equals `advance(1.0)`.

use pyo3::prelude::*;

use crate::errors::config_error;

#[pyclass(frozen, module = "circuit._circuit")]
pub(crate) struct ManualClock {
    pub(crate) inner: engine::ManualClock,
}

#[pymethods]
impl ManualClock {
    #[new]
    fn new() -> Self {
        Self { inner: engine::ManualClock::new() }
    }

    /// Moves the clock forward by `seconds` (>= 0); returns the new instant in seconds.
    fn advance(&self, py: Python<'_>, seconds: f64) -> PyResult<f64> {
        let by = engine::host::duration_from_f64("seconds", seconds, 1e9)
            .map_err(|e| config_error(py, e.option(), e.to_string()))?;
        Ok(self.inner.advance(by).as_secs_f64())
    }

    /// The current instant, in seconds since the clock was created.
    fn now(&self) -> f64 {
        self.inner.now().as_secs_f64()
    }

    /// The current instant in whole nanoseconds (exact).
    fn now_ns(&self) -> u64 {
        u64::try_from(self.inner.now().as_nanos()).unwrap_or(u64::MAX)
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now={:?})", self.inner.now())
    }
}
