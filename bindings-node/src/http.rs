//! The core's HTTP outcome classifier (`engine::http`, core/src/http.rs), exported as it is:
//! `lib/http/classify.js` checks the arguments' types and ranges and names them; this module only
//! converts. An HTTP-date is measured from `now_ms`, wall-clock milliseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::http::{self, HttpError};
use napi_derive::napi;

use crate::clock::ms;
use crate::protocol::NANOS_PER_MS;

/// `now_ms` (a finite number >= 0, checked by `lib/http/classify.js`) as a wall-clock instant.
fn wall_clock(now_ms: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos((now_ms.max(0.0) * NANOS_PER_MS).round().min(u64::MAX as f64) as u64)
}

/// The outcome (`success`, `failure`, `ignored`) a response with this status stands for.
#[napi(catch_unwind)]
pub fn http_classify_status(status: u16) -> String {
    http::classify_status(status).as_str().to_owned()
}

/// The outcome of an exchange that ended without a response, or `null` for an unknown kind.
#[napi(catch_unwind)]
pub fn http_classify_error(kind: String) -> Option<String> {
    HttpError::parse(&kind).map(|kind| http::classify_error(kind).as_str().to_owned())
}

/// A response's verdict: the outcome and the retry time (ms) to record with a failure.
#[napi(object)]
pub struct HttpVerdict {
    pub outcome: String,
    pub retry_after: Option<f64>,
}

/// The verdict on a response with `status` and the `Retry-After` header `retry_after` (if any),
/// whose headers arrived at `now_ms`.
#[napi(catch_unwind)]
pub fn http_classify_response(status: u16, retry_after: Option<String>, now_ms: f64) -> HttpVerdict {
    let verdict = http::classify_response(status, retry_after.as_deref(), wall_clock(now_ms));
    HttpVerdict { outcome: verdict.outcome.as_str().to_owned(), retry_after: verdict.retry_after.map(ms) }
}

/// A `Retry-After` value as milliseconds from `now_ms`, or `null` when it is not one.
#[napi(catch_unwind)]
pub fn http_parse_retry_after(value: String, now_ms: f64) -> Option<f64> {
    http::parse_retry_after(&value, wall_clock(now_ms)).map(ms)
}
