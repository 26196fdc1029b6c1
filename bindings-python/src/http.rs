//! The core's HTTP outcome classifier (`circuit::http`, docs/semantics.md, "HTTP outcomes") as
//! module functions, re-exported by `circuit.http`: outcomes are the engine's spellings
//! ("success", "failure", "ignored"), durations float seconds, wall-clock instants float unix
//! seconds (default: the system time at the call).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::http::{self, HttpError};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

/// The outcome a response with this status stands for: 5xx except 501, 408 and 429 are
/// failures, every other status a success.
#[pyfunction]
pub(crate) fn classify_status(status: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    Ok(http::classify_status(status_of(status)?).as_str())
}

/// The outcome of an exchange that ended without a response: `kind` is "connect", "timeout",
/// "cancelled" (the caller's own cancellation: ignored) or "other".
#[pyfunction]
pub(crate) fn classify_error(kind: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let text = kind
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("classify_error: `kind` must be a str, got {}", type_name(kind))))?;
    let text = text.to_cow()?;
    let kind = HttpError::parse(&text).ok_or_else(|| {
        let known: Vec<&str> = HttpError::ALL.iter().map(|k| k.as_str()).collect();
        PyValueError::new_err(format!("classify_error: unknown `kind` {text:?}; expected one of {known:?}"))
    })?;
    Ok(http::classify_error(kind).as_str())
}

/// The verdict on a response: `(outcome, retry_after)`, `retry_after` the seconds to record with
/// a failure (from the `Retry-After` header value), None for a success or without a usable header.
#[pyfunction]
#[pyo3(signature = (status, retry_after = None, now = None))]
pub(crate) fn classify_response(
    status: &Bound<'_, PyAny>,
    retry_after: Option<&Bound<'_, PyAny>>,
    now: Option<&Bound<'_, PyAny>>,
) -> PyResult<(&'static str, Option<f64>)> {
    let status = status_of(status)?;
    let header = header_of("classify_response", retry_after)?;
    let verdict = http::classify_response(status, header.as_deref(), instant_of("classify_response", now)?);
    Ok((verdict.outcome.as_str(), verdict.retry_after.map(|d| d.as_secs_f64())))
}

/// Parses a `Retry-After` value (delta-seconds or an HTTP-date, measured from `now`): seconds, or
/// None when the value is in none of the accepted forms.
#[pyfunction]
#[pyo3(signature = (value, now = None))]
pub(crate) fn parse_retry_after(value: &Bound<'_, PyAny>, now: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("parse_retry_after: `value` must be a str, got {}", type_name(value)))
    })?;
    let now = instant_of("parse_retry_after", now)?;
    Ok(http::parse_retry_after(&text.to_cow()?, now).map(|d| d.as_secs_f64()))
}

pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(classify_status, m)?)?;
    m.add_function(wrap_pyfunction!(classify_error, m)?)?;
    m.add_function(wrap_pyfunction!(classify_response, m)?)?;
    m.add_function(wrap_pyfunction!(parse_retry_after, m)?)?;
    Ok(())
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// `status`: an int from 100 to 999 (a three-digit HTTP status code).
fn status_of(value: &Bound<'_, PyAny>) -> PyResult<u16> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("`status` must be an int, got {}", type_name(value))));
    }
    match value.extract::<i64>() {
        Ok(code @ 100..=999) => Ok(code as u16),
        _ => Err(PyValueError::new_err(format!("`status` must be an HTTP status code from 100 to 999, got {value}"))),
    }
}

/// The `Retry-After` header value: a str, or None for absent.
fn header_of(function: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => match v.cast::<PyString>() {
            Ok(text) => Ok(Some(text.to_cow()?.into_owned())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "{function}: `retry_after` must be a str (the header value) or None, got {}",
                type_name(v)
            ))),
        },
    }
}

/// `now`: float (or int) unix seconds, not negative; None for the system time.
fn instant_of(function: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<SystemTime> {
    wall_instant(function, "now", value)
}

/// A wall-clock instant argument named `argument`: float (or int) unix seconds, not negative;
/// None for the system time. Also the state export/import instants (`state.rs`).
pub(crate) fn wall_instant(function: &str, argument: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<SystemTime> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(SystemTime::now()) };
    if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
        return Err(PyTypeError::new_err(format!(
            "{function}: `{argument}` must be unix seconds (a float or an int) or None, got {}",
            type_name(value)
        )));
    }
    let seconds: f64 = value.extract()?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(since_epoch) => UNIX_EPOCH
            .checked_add(since_epoch)
            .ok_or_else(|| PyValueError::new_err(format!("{function}: `{argument}` is out of range: {seconds}"))),
        Err(_) => Err(PyValueError::new_err(format!(
            "{function}: `{argument}` must be finite, non-negative unix seconds, got {seconds}"
        ))),
    }
}
