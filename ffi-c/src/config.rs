//! `circuit_config`: an opaque, heap-allocated builder with one setter per option.
//!
//! Why a builder and not a struct: a struct's layout is part of the ABI, so adding an option would
//! break every compiled caller (or need a size field and versioned parsing). Setters are
//! functions: a new option is a new function, old binaries keep working, and every value is
//! validated in one place (`circuit_create`), with an error that names the option.

use std::ffi::{CStr, c_char};
use std::time::Duration;

use engine::{ConfigBuilder, ManualClock};

use crate::clock::CLOCKS;
use crate::status::{
    CIRCUIT_ERR_INVALID_ARGUMENT, CIRCUIT_ERR_INVALID_HANDLE, CIRCUIT_OK, circuit_status, fail, guard, non_null,
};

/// Options for `circuit_create`. Create with `circuit_config_new`, free with `circuit_config_free`.
/// Not thread-safe: use one config from one thread at a time. Reusable for many breakers.
pub struct circuit_config {
    pub(crate) builder: ConfigBuilder,
    pub(crate) clock: Option<ManualClock>,
}

/// A clock handle (see `circuit_clock_manual_new`). 0 is never a valid handle.
#[allow(non_camel_case_types)]
pub type circuit_clock = u64;

/// Allocates a config with every option at its default (docs/semantics.md lists them). Returns
/// NULL only if memory is exhausted. Free it with `circuit_config_free`.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_config_new() -> *mut circuit_config {
    std::panic::catch_unwind(|| Box::into_raw(Box::new(circuit_config { builder: ConfigBuilder::default(), clock: None })))
        .unwrap_or(std::ptr::null_mut())
}

/// Frees a config from `circuit_config_new`. NULL is accepted and ignored. Breakers already
/// created from it are not affected.
///
/// # Safety
/// `config` is NULL or a pointer returned by `circuit_config_new` and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_free(config: *mut circuit_config) {
    if !config.is_null() {
        // SAFETY: the caller passes a pointer from circuit_config_new, freed only here.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(unsafe { Box::from_raw(config) })));
    }
}

fn update(
    function: &'static str,
    config: *mut circuit_config,
    apply: impl FnOnce(&mut circuit_config) -> circuit_status,
) -> circuit_status {
    guard(function, || {
        if config.is_null() {
            return fail(crate::status::CIRCUIT_ERR_NULL_POINTER, format!("{function}: `config` is NULL"));
        }
        // SAFETY: non-null, and the caller guarantees it came from circuit_config_new and is not
        // used concurrently.
        apply(unsafe { &mut *config })
    })
}

macro_rules! setter {
    ($(#[$doc:meta])* $function:ident, $option:ident, $ty:ty, |$value:ident| $convert:expr) => {
        $(#[$doc])*
        ///
        /// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is validated by
        /// `circuit_create`, which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
        ///
        /// # Safety
        /// `config` is NULL or a live pointer from `circuit_config_new`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $function(config: *mut circuit_config, $value: $ty) -> circuit_status {
            update(stringify!($function), config, |c| {
                c.builder = std::mem::take(&mut c.builder).$option($convert);
                CIRCUIT_OK
            })
        }
    };
}

setter!(
    /// Consecutive failures that trip the breaker; 0 turns the rule off (default 5, or 0 when a
    /// rate rule is set).
    circuit_config_set_failure_threshold, failure_threshold, u32, |value| value);
setter!(
    /// Trip when the window's failure rate is at least this, in (0, 1].
    circuit_config_set_failure_rate_threshold, failure_rate_threshold, f64, |value| value);
setter!(
    /// A call strictly longer than this many nanoseconds is slow (must be > 0).
    circuit_config_set_slow_call_duration_ns, slow_call_duration, u64, |value| Duration::from_nanos(value));
setter!(
    /// Trip when the window's slow-call rate is at least this, in (0, 1]; needs a slow-call duration.
    circuit_config_set_slow_call_rate_threshold, slow_call_rate_threshold, f64, |value| value);
setter!(
    /// Counted outcomes the window needs before a rate rule may trip (default 20).
    circuit_config_set_minimum_calls, minimum_calls, u32, |value| value);
setter!(
    /// Count-based window: the last `value` outcomes (default 100).
    circuit_config_set_window_size, window_size, u32, |value| value);
setter!(
    /// Time-based window of this many nanoseconds (instead of a count window).
    circuit_config_set_window_duration_ns, window_duration, u64, |value| Duration::from_nanos(value));
setter!(
    /// Buckets of the time-based window (default 10); must divide the duration.
    circuit_config_set_window_buckets, window_buckets, u32, |value| value);
setter!(
    /// First open duration in nanoseconds (default 30 s).
    circuit_config_set_reset_timeout_ns, reset_timeout, u64, |value| Duration::from_nanos(value));
setter!(
    /// Growth factor of the open duration per re-opening from half-open (default 1, finite, >= 1).
    circuit_config_set_backoff_multiplier, backoff_multiplier, f64, |value| value);
setter!(
    /// Cap of the open duration in nanoseconds (default max(reset timeout, 5 min)).
    circuit_config_set_max_reset_timeout_ns, max_reset_timeout, u64, |value| Duration::from_nanos(value));
setter!(
    /// Random shortening of each open duration, in [0, 1) (default 0).
    circuit_config_set_jitter, jitter, f64, |value| value);
setter!(
    /// Seed of the jitter sequence, for reproducible runs (default: random per breaker).
    circuit_config_set_jitter_seed, jitter_seed, u64, |value| value);
setter!(
    /// Probes admitted per half-open generation (default 1).
    circuit_config_set_half_open_max_calls, half_open_max_calls, u32, |value| value);
setter!(
    /// Probe successes that close the breaker (default: half_open_max_calls).
    circuit_config_set_success_threshold, success_threshold, u32, |value| value);
setter!(
    /// Re-open when the first probe got no verdict within this many nanoseconds; 0 = off (default).
    circuit_config_set_half_open_max_wait_ns, half_open_max_wait, u64, |value| Duration::from_nanos(value));

/// Names the breaker (copied; reported in rejections and messages). `name` must be valid UTF-8.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_ARGUMENT` (not UTF-8).
///
/// # Safety
/// `config` is NULL or live; `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_name(config: *mut circuit_config, name: *const c_char) -> circuit_status {
    update("circuit_config_set_name", config, |c| {
        non_null!("circuit_config_set_name", name);
        // SAFETY: non-null and NUL-terminated per the contract.
        match unsafe { CStr::from_ptr(name) }.to_str() {
            Ok(text) => {
                c.builder = std::mem::take(&mut c.builder).name(text);
                CIRCUIT_OK
            }
            Err(_) => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_config_set_name: `name` is not valid UTF-8"),
        }
    })
}

/// Makes breakers created from this config run on the given manual clock instead of the system's
/// monotonic clock. The breaker keeps the clock alive even if the clock handle is destroyed.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `config` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_manual_clock(config: *mut circuit_config, clock: circuit_clock) -> circuit_status {
    update("circuit_config_set_manual_clock", config, |c| match CLOCKS.get(clock) {
        Some(manual) => {
            c.clock = Some((*manual).clone());
            CIRCUIT_OK
        }
        None => fail(CIRCUIT_ERR_INVALID_HANDLE, format!("circuit_config_set_manual_clock: {clock} is not a live clock handle")),
    })
}
