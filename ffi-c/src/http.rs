//! The HTTP outcome classifier (docs/semantics.md, "HTTP outcomes"): `circuit_http_classify_*`
//! and `circuit_http_parse_retry_after`. Thin translations of the core's `circuit::http`; no
//! classification logic lives here.

use std::ffi::c_char;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::Outcome;
use engine::http::{self, HttpError};

use crate::status::*;
use crate::types::*;

/// An outcome to record (what `circuit_record_success`, `_failure` and `_ignored` stand for).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum circuit_outcome {
    /// Record with `circuit_record_success`.
    CIRCUIT_OUTCOME_SUCCESS = 0,
    /// Record with `circuit_record_failure` (or `circuit_record_failure_retry_after`).
    CIRCUIT_OUTCOME_FAILURE = 1,
    /// Record with `circuit_record_ignored`.
    CIRCUIT_OUTCOME_IGNORED = 2,
}

impl From<Outcome> for circuit_outcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::CIRCUIT_OUTCOME_SUCCESS,
            Outcome::Failure => Self::CIRCUIT_OUTCOME_FAILURE,
            Outcome::Ignored => Self::CIRCUIT_OUTCOME_IGNORED,
        }
    }
}

/// How an HTTP exchange ended when it produced no response: one of the `CIRCUIT_HTTP_ERROR_*`
/// codes (the `kind` of `circuit_http_classify_error`; an integer, so that an unknown code is
/// refused instead of being undefined behaviour).
pub type circuit_http_error = u32;
/// The connection could not be made or broke (refused, reset, DNS, TLS handshake).
pub const CIRCUIT_HTTP_ERROR_CONNECT: circuit_http_error = 0;
/// The integration's own request timeout fired: the dependency did not answer in time.
pub const CIRCUIT_HTTP_ERROR_TIMEOUT: circuit_http_error = 1;
/// The caller cancelled the request.
pub const CIRCUIT_HTTP_ERROR_CANCELLED: circuit_http_error = 2;
/// Any other error raised while the request was in flight.
pub const CIRCUIT_HTTP_ERROR_OTHER: circuit_http_error = 3;

/// The outcome a response with this HTTP status stands for: 5xx except 501, 408 and 429 are
/// failures, every other status is a success. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_http_classify_status(status: u16) -> circuit_outcome {
    http::classify_status(status).into()
}

/// Writes to `*out_outcome` the outcome of an exchange that ended without a response; `kind` is a
/// `CIRCUIT_HTTP_ERROR_*` code: cancelled is ignored, connect, timeout and other are failures.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_ARGUMENT` (`kind` is not a `circuit_http_error`) or
/// `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_outcome` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_http_classify_error(
    kind: circuit_http_error,
    out_outcome: *mut circuit_outcome,
) -> circuit_status {
    guard("circuit_http_classify_error", || {
        non_null!("circuit_http_classify_error", out_outcome);
        let Some(kind) = u8::try_from(kind).ok().and_then(HttpError::from_code) else {
            return fail(
                CIRCUIT_ERR_INVALID_ARGUMENT,
                format!("circuit_http_classify_error: `kind` {kind} is not a CIRCUIT_HTTP_ERROR_* code (0-3)"),
            );
        };
        // SAFETY: non-null and writable per the contract.
        unsafe { out_outcome.write(http::classify_error(kind).into()) };
        CIRCUIT_OK
    })
}

/// Classifies a response from its status and its `Retry-After` header value (`retry_after_len`
/// bytes, not NUL-terminated; NULL with length 0 when the response has no such header).
/// `now_unix_ns` is the wall-clock instant the headers arrived, in nanoseconds since the Unix
/// epoch (used only for an HTTP-date). Writes the outcome to `*out_outcome` and, if
/// `out_retry_after_ns` is not NULL, the retry time to record with a failure
/// (`circuit_record_failure_retry_after`) to `*out_retry_after_ns`, or `CIRCUIT_NO_TIME` when there
/// is none (a success, no header, or a value that does not parse).
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` (`out_outcome`, or `retry_after` with a nonzero
/// length) or `CIRCUIT_ERR_INVALID_ARGUMENT` (`retry_after` is not UTF-8).
///
/// # Safety
/// `retry_after` points to `retry_after_len` readable bytes (or is NULL); the out-pointers are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_http_classify_response(
    status: u16,
    retry_after: *const c_char,
    retry_after_len: usize,
    now_unix_ns: i64,
    out_outcome: *mut circuit_outcome,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    const FUNCTION: &str = "circuit_http_classify_response";
    guard(FUNCTION, || {
        non_null!("circuit_http_classify_response", out_outcome);
        let header = if retry_after.is_null() && retry_after_len == 0 {
            None
        } else {
            // SAFETY: per the contract.
            match unsafe { header_str(FUNCTION, "retry_after", retry_after, retry_after_len) } {
                Ok(value) => Some(value),
                Err(status) => return status,
            }
        };
        let verdict = http::classify_response(status, header, system_time(now_unix_ns));
        // SAFETY: non-null and writable per the contract.
        unsafe { out_outcome.write(verdict.outcome.into()) };
        if !out_retry_after_ns.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_retry_after_ns.write(verdict.retry_after.map_or(CIRCUIT_NO_TIME, retry_nanos)) };
        }
        CIRCUIT_OK
    })
}

/// Parses a `Retry-After` value (`value_len` bytes, not NUL-terminated): delta-seconds or an
/// HTTP-date (any of the three forms), measured from `now_unix_ns` (nanoseconds since the Unix
/// epoch; a date in the past gives 0). Writes the duration in nanoseconds to `*out_retry_after_ns`,
/// or `CIRCUIT_NO_TIME` when the value is not one of these forms. A duration too large for a
/// `uint64_t` of nanoseconds saturates to `CIRCUIT_NO_TIME - 1`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` (`out_retry_after_ns`, or `value` with a nonzero
/// length) or `CIRCUIT_ERR_INVALID_ARGUMENT` (`value` is not UTF-8).
///
/// # Safety
/// `value` points to `value_len` readable bytes (NULL allowed when `value_len` is 0);
/// `out_retry_after_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_http_parse_retry_after(
    value: *const c_char,
    value_len: usize,
    now_unix_ns: i64,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    const FUNCTION: &str = "circuit_http_parse_retry_after";
    guard(FUNCTION, || {
        non_null!("circuit_http_parse_retry_after", out_retry_after_ns);
        // SAFETY: per the contract.
        let value = match unsafe { header_str(FUNCTION, "value", value, value_len) } {
            Ok(value) => value,
            Err(status) => return status,
        };
        let parsed = http::parse_retry_after(value, system_time(now_unix_ns));
        // SAFETY: non-null and writable per the contract.
        unsafe { out_retry_after_ns.write(parsed.map_or(CIRCUIT_NO_TIME, retry_nanos)) };
        CIRCUIT_OK
    })
}

/// A retry time in nanoseconds, saturating below `CIRCUIT_NO_TIME` (which means "none").
fn retry_nanos(d: Duration) -> u64 {
    nanos(d).min(CIRCUIT_NO_TIME - 1)
}

/// The wall-clock instant `ns` nanoseconds from the Unix epoch (negative: before it).
fn system_time(ns: i64) -> SystemTime {
    let offset = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 { UNIX_EPOCH + offset } else { UNIX_EPOCH.checked_sub(offset).unwrap_or(UNIX_EPOCH) }
}

/// A header value as a `&str`, or the status to return.
///
/// # Safety
/// `value` points to `len` readable bytes (it may be NULL only when `len` is 0).
unsafe fn header_str<'a>(
    function: &str,
    argument: &str,
    value: *const c_char,
    len: usize,
) -> Result<&'a str, circuit_status> {
    let bytes: &[u8] = if len == 0 {
        &[]
    } else if value.is_null() {
        return Err(fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `{argument}` is NULL with length {len}")));
    } else {
        // SAFETY: value has len readable bytes per the contract.
        unsafe { std::slice::from_raw_parts(value.cast::<u8>(), len) }
    };
    std::str::from_utf8(bytes)
        .map_err(|_| fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: `{argument}` is not UTF-8")))
}
