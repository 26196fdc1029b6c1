//! Plumbing for the foreign-language bindings (the C ABI, Python, Node), in one place. Rust
//! programs do not need any of it.
//!
//! * [`ThreadSlot`] with [`crate::CircuitBreaker::allow_raw_on`] and
//!   [`crate::CircuitBreaker::record_raw_on`]: the calling thread's counter stripe, looked up once
//!   by a binding that keeps per-thread state anyway.
//! * [`RawPermit`]: a permit as plain data for a foreign struct ([`RawPermit::to_parts`],
//!   [`RawPermit::from_parts`], the sentinels [`RawPermit::NO_TIME`] and [`RawPermit::NO_TICKET`]).
//! * [`count_from_i64`] and [`duration_from_f64`]: a binding's numbers converted into option
//!   values, bad ones refused with an error naming the option.
//! * The schema ([`crate::schema`]) says which options and metrics fields exist.

use std::time::Duration;

use crate::error::ConfigError;

pub use crate::counters::ThreadSlot;
pub use crate::permit::RawPermit;

/// Converts a binding's floating-point duration into a [`Duration`], refusing negative, NaN and
/// infinite values with an error naming `option`. `unit_nanos` is the size of one unit in
/// nanoseconds (1e9 for seconds, 1e6 for milliseconds); the result is rounded to whole
/// nanoseconds, so 0.999 s + 0.001 s equals 1 s exactly.
pub fn duration_from_f64(option: &'static str, value: f64, unit_nanos: f64) -> Result<Duration, ConfigError> {
    if !value.is_finite() {
        return Err(ConfigError::new(option, format!("must be a finite duration, got {value}")));
    }
    if value < 0.0 {
        return Err(ConfigError::new(option, format!("must not be negative, got {value}")));
    }
    let nanos = (value * unit_nanos).round();
    if nanos >= u64::MAX as f64 {
        return Err(ConfigError::new(option, format!("is too large ({value})")));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Converts a binding's integer into a count, refusing negative and oversized values with an
/// error naming `option`.
pub fn count_from_i64(option: &'static str, value: i64) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| {
        ConfigError::new(option, format!("must be a whole number between 0 and {}, got {value}", u32::MAX))
    })
}
