//! Turns the keyword options of `CircuitBreaker(...)` into an engine `ConfigBuilder` by walking
//! the engine's schema (`engine::OPTIONS`): each given option is converted by its kind and handed
//! to `ConfigBuilder::set`, so no option is named here. A wrong type raises a `TypeError`, a bad
//! value `CircuitConfigError` (a `ValueError`), both naming the option. Durations are float
//! seconds rounded to whole nanoseconds. `None` means "not given" (the engine's default).

use std::time::Duration;

use engine::{OptionInfo, OptionKind, OptionValue};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::errors::{config_error, type_error};

/// The engine options of `Breaker.__new__`: `name` (positional or keyword) and `**options`.
/// An unknown keyword is refused as Python refuses one, before any value is looked at; the
/// others are converted and set in schema order (so of two bad values, the same one is reported
/// whatever the order of the keywords).
pub(crate) fn builder(
    py: Python<'_>,
    name: Option<&Bound<'_, PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<engine::ConfigBuilder> {
    builder_of(py, "Breaker.__new__", name, options)
}

/// `builder` for the constructor `function` (named in the error for an unknown keyword).
pub(crate) fn builder_of(
    py: Python<'_>,
    function: &str,
    name: Option<&Bound<'_, PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<engine::ConfigBuilder> {
    let mut given: [Option<Bound<'_, PyAny>>; engine::OPTIONS.len()] = std::array::from_fn(|_| None);
    for (key, value) in options.into_iter().flatten() {
        let index = key
            .cast::<PyString>()
            .ok()
            .and_then(|k| k.to_cow().ok())
            .and_then(|k| engine::OPTIONS.iter().position(|o| o.name == k && o.name != "name"));
        match index {
            Some(index) => given[index] = Some(value),
            None => {
                return Err(PyTypeError::new_err(format!("{function}() got an unexpected keyword argument '{key}'")));
            }
        }
    }
    if let Some(index) = engine::OPTIONS.iter().position(|o| o.name == "name") {
        given[index] = name.cloned();
    }
    let mut builder = engine::ConfigBuilder::default();
    for (info, value) in engine::OPTIONS.iter().zip(given) {
        let Some(value) = value.filter(|v| !v.is_none()) else { continue };
        let value = convert(py, info, &value)?;
        builder = builder.set(info.name, value).map_err(|e| config_error(py, e.option(), e.to_string()))?;
    }
    Ok(builder)
}

/// The engine value of `value` for the option `info`, by its kind.
pub(crate) fn convert(py: Python<'_>, info: &'static OptionInfo, value: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    let option = info.name;
    Ok(match info.kind {
        OptionKind::Text => OptionValue::Text(value.extract().map_err(|_| type_error(option, "a str", value))?),
        OptionKind::Count => {
            if !is_int(value) {
                return Err(type_error(option, "an int", value));
            }
            let raw: i64 = value
                .extract()
                .map_err(|_| config_error(py, option, format!("invalid option `{option}`: out of range")))?;
            OptionValue::Count(
                engine::host::count_from_i64(option, raw).map_err(|e| config_error(py, option, e.to_string()))?,
            )
        }
        OptionKind::Number => {
            if !is_number(value) {
                return Err(type_error(option, "a number", value));
            }
            OptionValue::Number(value.extract()?)
        }
        OptionKind::Duration => OptionValue::Duration(duration(py, option, value)?),
        OptionKind::Seed => {
            if !is_int(value) {
                return Err(type_error(option, "an int", value));
            }
            OptionValue::Seed(value.extract().map_err(|_| {
                config_error(py, option, format!("invalid option `{option}`: must be between 0 and 2**64-1"))
            })?)
        }
    })
}

fn is_int(value: &Bound<'_, PyAny>) -> bool {
    !value.is_instance_of::<PyBool>() && value.is_instance_of::<PyInt>()
}

fn is_number(value: &Bound<'_, PyAny>) -> bool {
    !value.is_instance_of::<PyBool>() && (value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
}

/// A non-negative duration in float seconds, as whole nanoseconds.
pub(crate) fn duration(py: Python<'_>, option: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if !is_number(value) {
        return Err(type_error(option, "a number of seconds", value));
    }
    let seconds: f64 = value.extract()?;
    engine::host::duration_from_f64(option, seconds, 1e9).map_err(|e| config_error(py, option, e.to_string()))
}
