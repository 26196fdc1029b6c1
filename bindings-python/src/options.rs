//! Turns the keyword options of `CircuitBreaker(...)` into an engine `Config`, refusing wrong
//! types with a `TypeError` and bad values with `CircuitConfigError` (a `ValueError`), both naming
//! the option. Durations are float seconds rounded to whole nanoseconds.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::errors::{config_error, type_error};

pub(crate) struct Options<'a, 'py> {
    pub(crate) py: Python<'py>,
    pub(crate) builder: engine::ConfigBuilder,
    _marker: std::marker::PhantomData<&'a ()>,
}

fn is_number(value: &Bound<'_, PyAny>) -> bool {
    !value.is_instance_of::<PyBool>() && (value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
}

impl<'a, 'py> Options<'a, 'py> {
    pub(crate) fn new(py: Python<'py>) -> Self {
        Self { py, builder: engine::ConfigBuilder::default(), _marker: std::marker::PhantomData }
    }

    fn take(&mut self) -> engine::ConfigBuilder {
        std::mem::take(&mut self.builder)
    }

    pub(crate) fn count(
        &mut self,
        option: &'static str,
        value: Option<&Bound<'py, PyAny>>,
        set: fn(engine::ConfigBuilder, u32) -> engine::ConfigBuilder,
    ) -> PyResult<()> {
        let Some(value) = value else { return Ok(()) };
        if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
            return Err(type_error(option, "an int", value));
        }
        let raw: i64 = value
            .extract()
            .map_err(|_| config_error(self.py, option, format!("invalid option `{option}`: out of range")))?;
        let count = engine::count_from_i64(option, raw).map_err(|e| config_error(self.py, option, e.to_string()))?;
        let builder = self.take();
        self.builder = set(builder, count);
        Ok(())
    }

    pub(crate) fn seconds(
        &mut self,
        option: &'static str,
        value: Option<&Bound<'py, PyAny>>,
        set: fn(engine::ConfigBuilder, Duration) -> engine::ConfigBuilder,
    ) -> PyResult<()> {
        let Some(value) = value else { return Ok(()) };
        let duration = duration(self.py, option, value)?;
        let builder = self.take();
        self.builder = set(builder, duration);
        Ok(())
    }

    pub(crate) fn ratio(
        &mut self,
        option: &'static str,
        value: Option<&Bound<'py, PyAny>>,
        set: fn(engine::ConfigBuilder, f64) -> engine::ConfigBuilder,
    ) -> PyResult<()> {
        let Some(value) = value else { return Ok(()) };
        if !is_number(value) {
            return Err(type_error(option, "a number", value));
        }
        let number: f64 = value.extract()?;
        let builder = self.take();
        self.builder = set(builder, number);
        Ok(())
    }
}

/// A non-negative duration in float seconds, as whole nanoseconds.
pub(crate) fn duration(py: Python<'_>, option: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if !is_number(value) {
        return Err(type_error(option, "a number of seconds", value));
    }
    let seconds: f64 = value.extract()?;
    engine::duration_from_f64(option, seconds, 1e9).map_err(|e| config_error(py, option, e.to_string()))
}
