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
    /// The host region `circuit_create` makes the breaker in (`circuit_config_set_region`).
    pub(crate) region: Option<std::sync::Arc<crate::region::RegionEntry>>,
    /// The fleet the breakers created from it admit and record through (`circuit_config_set_fleet`).
    pub(crate) fleet: Option<std::sync::Arc<crate::fleet::FleetEntry>>,
    /// The fleet set members and breakers draw their fleet from (`circuit_config_set_fleet_set`).
    pub(crate) fleet_set: Option<std::sync::Arc<crate::fleet_set::FleetSetEntry>>,
}

/// A clock handle (see `circuit_clock_manual_new`). 0 is never a valid handle.
#[allow(non_camel_case_types)]
pub type circuit_clock = u64;

/// Allocates a config with every option at its default (docs/semantics.md lists them). Returns
/// NULL only if memory is exhausted. Free it with `circuit_config_free`.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_config_new() -> *mut circuit_config {
    std::panic::catch_unwind(|| {
        Box::into_raw(Box::new(circuit_config {
            builder: ConfigBuilder::default(),
            clock: None,
            region: None,
            fleet: None,
            fleet_set: None,
        }))
    })
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

/// Consecutive failures that trip the breaker; 0 turns the rule off (default 5, or 0 when a
/// rate rule is set).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_failure_threshold(
    config: *mut circuit_config,
    value: u32,
) -> circuit_status {
    update("circuit_config_set_failure_threshold", config, |c| {
        c.builder = std::mem::take(&mut c.builder).failure_threshold(value);
        CIRCUIT_OK
    })
}

/// Trip when the window's failure rate is at least this, in (0, 1].
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_failure_rate_threshold(
    config: *mut circuit_config,
    value: f64,
) -> circuit_status {
    update("circuit_config_set_failure_rate_threshold", config, |c| {
        c.builder = std::mem::take(&mut c.builder).failure_rate_threshold(value);
        CIRCUIT_OK
    })
}

/// A call strictly longer than this many nanoseconds is slow (must be > 0).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_slow_call_duration_ns(
    config: *mut circuit_config,
    value: u64,
) -> circuit_status {
    update("circuit_config_set_slow_call_duration_ns", config, |c| {
        c.builder = std::mem::take(&mut c.builder).slow_call_duration(Duration::from_nanos(value));
        CIRCUIT_OK
    })
}

/// Trip when the window's slow-call rate is at least this, in (0, 1]; needs a slow-call duration.
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_slow_call_rate_threshold(
    config: *mut circuit_config,
    value: f64,
) -> circuit_status {
    update("circuit_config_set_slow_call_rate_threshold", config, |c| {
        c.builder = std::mem::take(&mut c.builder).slow_call_rate_threshold(value);
        CIRCUIT_OK
    })
}

/// Counted outcomes the window needs before a rate rule may trip (default 20).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_minimum_calls(config: *mut circuit_config, value: u32) -> circuit_status {
    update("circuit_config_set_minimum_calls", config, |c| {
        c.builder = std::mem::take(&mut c.builder).minimum_calls(value);
        CIRCUIT_OK
    })
}

/// Count-based window: the last `value` outcomes (default 100).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_window_size(config: *mut circuit_config, value: u32) -> circuit_status {
    update("circuit_config_set_window_size", config, |c| {
        c.builder = std::mem::take(&mut c.builder).window_size(value);
        CIRCUIT_OK
    })
}

/// Time-based window of this many nanoseconds (instead of a count window).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_window_duration_ns(
    config: *mut circuit_config,
    value: u64,
) -> circuit_status {
    update("circuit_config_set_window_duration_ns", config, |c| {
        c.builder = std::mem::take(&mut c.builder).window_duration(Duration::from_nanos(value));
        CIRCUIT_OK
    })
}

/// Buckets of the time-based window (default 10); must divide the duration.
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_window_buckets(config: *mut circuit_config, value: u32) -> circuit_status {
    update("circuit_config_set_window_buckets", config, |c| {
        c.builder = std::mem::take(&mut c.builder).window_buckets(value);
        CIRCUIT_OK
    })
}

/// First open duration in nanoseconds (default 30 s).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_reset_timeout_ns(
    config: *mut circuit_config,
    value: u64,
) -> circuit_status {
    update("circuit_config_set_reset_timeout_ns", config, |c| {
        c.builder = std::mem::take(&mut c.builder).reset_timeout(Duration::from_nanos(value));
        CIRCUIT_OK
    })
}

/// Growth factor of the open duration per re-opening from half-open (default 1, finite, >= 1).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_backoff_multiplier(
    config: *mut circuit_config,
    value: f64,
) -> circuit_status {
    update("circuit_config_set_backoff_multiplier", config, |c| {
        c.builder = std::mem::take(&mut c.builder).backoff_multiplier(value);
        CIRCUIT_OK
    })
}

/// Cap of the open duration in nanoseconds (default max(reset timeout, 5 min)).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_max_reset_timeout_ns(
    config: *mut circuit_config,
    value: u64,
) -> circuit_status {
    update("circuit_config_set_max_reset_timeout_ns", config, |c| {
        c.builder = std::mem::take(&mut c.builder).max_reset_timeout(Duration::from_nanos(value));
        CIRCUIT_OK
    })
}

/// Random shortening of each open duration, in [0, 1) (default 0).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_jitter(config: *mut circuit_config, value: f64) -> circuit_status {
    update("circuit_config_set_jitter", config, |c| {
        c.builder = std::mem::take(&mut c.builder).jitter(value);
        CIRCUIT_OK
    })
}

/// Seed of the jitter sequence, for reproducible runs (default: random per breaker).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_jitter_seed(config: *mut circuit_config, value: u64) -> circuit_status {
    update("circuit_config_set_jitter_seed", config, |c| {
        c.builder = std::mem::take(&mut c.builder).jitter_seed(value);
        CIRCUIT_OK
    })
}

/// Probes admitted per half-open generation (default 1).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_half_open_max_calls(
    config: *mut circuit_config,
    value: u32,
) -> circuit_status {
    update("circuit_config_set_half_open_max_calls", config, |c| {
        c.builder = std::mem::take(&mut c.builder).half_open_max_calls(value);
        CIRCUIT_OK
    })
}

/// Probe successes that close the breaker (default: half_open_max_calls).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_success_threshold(
    config: *mut circuit_config,
    value: u32,
) -> circuit_status {
    update("circuit_config_set_success_threshold", config, |c| {
        c.builder = std::mem::take(&mut c.builder).success_threshold(value);
        CIRCUIT_OK
    })
}

/// Re-open when the first probe got no verdict within this many nanoseconds; 0 = off (default).
///
/// Returns `CIRCUIT_OK`, or `CIRCUIT_ERR_NULL_POINTER`. The value is checked by `circuit_create`,
/// which reports `CIRCUIT_ERR_INVALID_CONFIG` naming the option.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_half_open_max_wait_ns(
    config: *mut circuit_config,
    value: u64,
) -> circuit_status {
    update("circuit_config_set_half_open_max_wait_ns", config, |c| {
        c.builder = std::mem::take(&mut c.builder).half_open_max_wait(Duration::from_nanos(value));
        CIRCUIT_OK
    })
}

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
pub unsafe extern "C" fn circuit_config_set_manual_clock(
    config: *mut circuit_config,
    clock: circuit_clock,
) -> circuit_status {
    update("circuit_config_set_manual_clock", config, |c| match CLOCKS.get(clock) {
        Some(manual) => {
            c.clock = Some((*manual).clone());
            CIRCUIT_OK
        }
        None => fail(
            CIRCUIT_ERR_INVALID_HANDLE,
            format!("circuit_config_set_manual_clock: {clock} is not a live clock handle"),
        ),
    })
}
