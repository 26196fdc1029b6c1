//! The fleet breaker's options over the C ABI, from the core's one declaration
//! (`engine::fleet::FLEET_OPTIONS`): introspection and setters by option name, so a binding (the
//! Go package) loops over the schema instead of spelling each option again. Option codes are
//! indices into that table (stable: options are only ever appended). Strings returned here are
//! static and NUL-terminated; never free them.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;
use std::time::Duration;

use engine::OptionValue;
use engine::fleet::FLEET_OPTIONS;

use crate::fleet::circuit_fleet_config;
use crate::schema::{circuit_option, describe, named_value, option_texts, text_value};
use crate::status::{CIRCUIT_ERR_INVALID_ARGUMENT, CIRCUIT_OK, circuit_status, fail, guard};

fn texts() -> &'static [[CString; 4]] {
    static TEXTS: OnceLock<Vec<[CString; 4]>> = OnceLock::new();
    TEXTS.get_or_init(|| option_texts(FLEET_OPTIONS))
}

/// How many fleet options the schema has (beyond the breaker's name, given to
/// `circuit_fleet_new`); codes run from 0 to this minus one.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_fleet_option_count() -> u32 {
    FLEET_OPTIONS.len() as u32
}

/// Describes fleet option `code` into `*out_info` (the same struct as `circuit_option_info`).
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_ARGUMENT` (no such
/// option).
///
/// # Safety
/// `out_info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_option_info(code: u32, out_info: *mut circuit_option) -> circuit_status {
    describe("circuit_fleet_option_info", FLEET_OPTIONS, texts(), code, out_info)
}

fn set_by_name(
    function: &'static str,
    config: *mut circuit_fleet_config,
    name: *const c_char,
    value: impl FnOnce() -> Result<OptionValue, circuit_status>,
) -> circuit_status {
    guard(function, || {
        let (name, value) = match named_value(function, config.is_null(), name, value) {
            Ok(named) => named,
            Err(status) => return status,
        };
        // SAFETY: non-null, from circuit_fleet_config_new, not used concurrently (the contract).
        let config = unsafe { &mut *config };
        let mut next = config.config.clone();
        match next.set(name, value) {
            Ok(()) => {
                config.config = next;
                CIRCUIT_OK
            }
            Err(e) => fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: {e}")),
        }
    })
}

/// Sets the count fleet option called `name`. Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER`,
/// or `CIRCUIT_ERR_INVALID_ARGUMENT` (unknown name, or not a count option; the config is
/// unchanged). The value itself is checked by `circuit_fleet_new`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`; `name` is NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_count(
    config: *mut circuit_fleet_config,
    name: *const c_char,
    value: u32,
) -> circuit_status {
    set_by_name("circuit_fleet_config_set_count", config, name, || Ok(OptionValue::Count(value)))
}

/// Sets the number fleet option called `name`; see `circuit_fleet_config_set_count`. A rate
/// option's rule is turned off with `circuit_fleet_config_set_text(config, name, "none")`.
///
/// # Safety
/// As `circuit_fleet_config_set_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_number(
    config: *mut circuit_fleet_config,
    name: *const c_char,
    value: f64,
) -> circuit_status {
    set_by_name("circuit_fleet_config_set_number", config, name, || Ok(OptionValue::Number(value)))
}

/// Sets the duration fleet option called `name`, in nanoseconds; see
/// `circuit_fleet_config_set_count`.
///
/// # Safety
/// As `circuit_fleet_config_set_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_duration_ns(
    config: *mut circuit_fleet_config,
    name: *const c_char,
    value: u64,
) -> circuit_status {
    set_by_name("circuit_fleet_config_set_duration_ns", config, name, || {
        Ok(OptionValue::Duration(Duration::from_nanos(value)))
    })
}

/// Sets the text fleet option called `name` to a UTF-8 `value` (`on_store_failure`: "local",
/// "open" or "closed"; a rate option: "none" turns its rule off); see
/// `circuit_fleet_config_set_count`.
///
/// # Safety
/// As `circuit_fleet_config_set_count`; `value` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_text(
    config: *mut circuit_fleet_config,
    name: *const c_char,
    value: *const c_char,
) -> circuit_status {
    set_by_name("circuit_fleet_config_set_text", config, name, || text_value("circuit_fleet_config_set_text", value))
}
