//! Portable breaker state (docs/semantics.md, "State export and import"; `engine::export`): the
//! versioned JSON document of `breaker.exportState()` / `toJSON()` and the `state` option, at an
//! explicit wall-clock instant in milliseconds since the epoch (`lib/state.js` passes
//! `Date.now()` unless told otherwise). Import happens at construction (`create_breaker`), on a
//! breaker no one has used, so a refused document creates nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::{CircuitBreaker, StateError};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::protocol::NANOS_PER_MS;

/// Why a state document was refused: the field at fault (a dotted path such as `window.buckets`;
/// `null` for a problem with the whole document) and what is wrong.
#[napi(object)]
pub struct StateProblem {
    pub field: Option<String>,
    pub message: String,
}

impl From<StateError> for StateProblem {
    fn from(e: StateError) -> Self {
        Self { field: e.field_name().map(str::to_owned), message: e.message().to_owned() }
    }
}

/// A wall-clock instant from milliseconds since the epoch (`lib/state.js` has checked that it is
/// a finite number; an instant before the epoch is refused).
pub(crate) fn wall_clock(unix_ms: f64) -> Result<SystemTime> {
    if !(unix_ms.is_finite() && unix_ms >= 0.0) {
        return Err(Error::new(
            Status::InvalidArg,
            format!("circuit: a wall-clock instant must be a finite number of ms >= 0, got {unix_ms}"),
        ));
    }
    // Whole milliseconds and the rest apart: ms * 1e6 as one f64 is off by up to 0.25 ms for
    // today's instants. Saturating: far beyond any real instant, but never a panic.
    let whole = unix_ms.trunc();
    let rest = ((unix_ms - whole) * NANOS_PER_MS).round() as u64;
    let millis = whole.min(u64::MAX as f64) as u64;
    UNIX_EPOCH.checked_add(Duration::from_millis(millis) + Duration::from_nanos(rest)).ok_or_else(|| {
        Error::new(Status::InvalidArg, format!("circuit: the wall-clock instant {unix_ms} ms is out of range"))
    })
}

/// `breaker`'s state document, exported at `unix_ms`.
pub(crate) fn export(breaker: &CircuitBreaker, unix_ms: f64) -> Result<String> {
    Ok(breaker.export_state_at(wall_clock(unix_ms)?))
}

/// Imports `document` into `breaker` at `unix_ms`; `None` when taken, else the problem (the
/// breaker is then untouched).
pub(crate) fn import(breaker: &CircuitBreaker, document: &str, unix_ms: f64) -> Result<Option<StateProblem>> {
    Ok(breaker.import_state_at(document, wall_clock(unix_ms)?).err().map(StateProblem::from))
}
