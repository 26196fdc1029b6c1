//! `ManualClock` (`lib/clock.js`): a clock that moves only when told to, shared by the breakers
//! created with it.

use std::time::Duration;

use engine::{ManualClock, duration_from_f64};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::protocol::NANOS_PER_MS;

/// A duration in milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / NANOS_PER_MS
}

/// A manual clock (`ManualClock` in `lib/clock.js`); every breaker created with it shares its time
/// line.
#[napi]
pub struct NativeClock {
    pub(crate) clock: ManualClock,
}

#[napi]
impl NativeClock {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        Self { clock: ManualClock::new() }
    }

    /// Moves the clock forward by `by` milliseconds; returns the new instant in milliseconds.
    /// A negative, NaN or infinite value throws and leaves the clock alone.
    #[napi(catch_unwind)]
    pub fn advance(&self, by: f64) -> Result<f64> {
        let by = duration_from_f64("ms", by, NANOS_PER_MS)
            .map_err(|e| Error::new(Status::InvalidArg, e.reason().to_owned()))?;
        Ok(ms(self.clock.advance(by)))
    }

    /// The current instant in milliseconds.
    #[napi(catch_unwind)]
    pub fn now(&self) -> f64 {
        ms(self.clock.now())
    }
}

impl Default for NativeClock {
    fn default() -> Self {
        Self::new()
    }
}
