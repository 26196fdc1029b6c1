//! The core's schema over the C ABI: option and metrics-field introspection, setters by option
//! name, and a stateless configuration check that reports which option failed as a code.
//!
//! Option codes are indices into the core's `OPTIONS` table (stable: options are only ever
//! appended). Strings returned here are static and NUL-terminated; never free them.

use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;
use std::time::Duration;

use engine::{METRICS, OPTIONS, OptionInfo, OptionKind, OptionValue};

use crate::config::circuit_config;
use crate::status::{
    CIRCUIT_ERR_INVALID_ARGUMENT, CIRCUIT_ERR_INVALID_CONFIG, CIRCUIT_ERR_NULL_POINTER, CIRCUIT_OK, circuit_status,
    fail, guard,
};

/// How an option's value is written (which `circuit_config_set_*` by name takes it).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum circuit_option_kind {
    /// Text: `circuit_config_set_text`.
    CIRCUIT_OPTION_TEXT = 0,
    /// A whole number: `circuit_config_set_count`.
    CIRCUIT_OPTION_COUNT = 1,
    /// A floating-point number: `circuit_config_set_number`.
    CIRCUIT_OPTION_NUMBER = 2,
    /// A duration in nanoseconds: `circuit_config_set_duration_ns`.
    CIRCUIT_OPTION_DURATION = 3,
    /// A 64-bit unsigned integer: `circuit_config_set_seed`.
    CIRCUIT_OPTION_SEED = 4,
}

impl From<OptionKind> for circuit_option_kind {
    fn from(kind: OptionKind) -> Self {
        use circuit_option_kind::*;
        match kind {
            OptionKind::Text => CIRCUIT_OPTION_TEXT,
            OptionKind::Count => CIRCUIT_OPTION_COUNT,
            OptionKind::Number => CIRCUIT_OPTION_NUMBER,
            OptionKind::Duration => CIRCUIT_OPTION_DURATION,
            OptionKind::Seed => CIRCUIT_OPTION_SEED,
        }
    }
}

/// Written by `circuit_config_check` when the failure is not about one option.
pub const CIRCUIT_NO_OPTION: u32 = u32::MAX;

/// One option, as described by the core's schema. Every string is static.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct circuit_option {
    /// The snake_case name, as accepted by `circuit_config_set_*` by name.
    pub name: *const c_char,
    /// How its value is written.
    pub kind: circuit_option_kind,
    /// The default, as documented.
    pub default_value: *const c_char,
    /// The valid values.
    pub bounds: *const c_char,
    /// One line of documentation.
    pub doc: *const c_char,
}

struct Texts {
    options: Vec<[CString; 4]>,
    metrics: Vec<CString>,
}

fn c_text(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// The NUL-terminated name, default, bounds and doc of each option of a schema table (this file's
/// `OPTIONS`, and the fleet's in `fleet_schema.rs`).
pub(crate) fn option_texts(options: &[OptionInfo]) -> Vec<[CString; 4]> {
    options.iter().map(|o| [c_text(o.name), c_text(o.default), c_text(o.bounds), c_text(o.doc)]).collect()
}

fn texts() -> &'static Texts {
    static TEXTS: OnceLock<Texts> = OnceLock::new();
    TEXTS.get_or_init(|| Texts {
        options: option_texts(OPTIONS),
        metrics: METRICS.iter().map(|m| c_text(m.name)).collect(),
    })
}

/// Describes option `code` of a schema table (with its texts) into `*out_info`: the body of
/// `circuit_option_info` and `circuit_fleet_option_info`.
pub(crate) fn describe(
    function: &'static str,
    options: &[OptionInfo],
    texts: &[[CString; 4]],
    code: u32,
    out_info: *mut circuit_option,
) -> circuit_status {
    guard(function, || {
        if out_info.is_null() {
            return fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `out_info` is NULL"));
        }
        let (Some(info), Some(text)) = (options.get(code as usize), texts.get(code as usize)) else {
            return fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: no option {code}"));
        };
        let value = circuit_option {
            name: text[0].as_ptr(),
            kind: info.kind.into(),
            default_value: text[1].as_ptr(),
            bounds: text[2].as_ptr(),
            doc: text[3].as_ptr(),
        };
        // SAFETY: non-null and writable per the contract of both callers.
        unsafe { out_info.write(value) };
        CIRCUIT_OK
    })
}

/// How many options the schema has; codes run from 0 to this minus one.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_option_count() -> u32 {
    OPTIONS.len() as u32
}

/// Describes option `code` into `*out_info`. Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or
/// `CIRCUIT_ERR_INVALID_ARGUMENT` (no such option).
///
/// # Safety
/// `out_info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_option_info(code: u32, out_info: *mut circuit_option) -> circuit_status {
    describe("circuit_option_info", OPTIONS, &texts().options, code, out_info)
}

/// The code of the option called `name`, or `CIRCUIT_NO_OPTION` (also for NULL).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_option_code(name: *const c_char) -> u32 {
    if name.is_null() {
        return CIRCUIT_NO_OPTION;
    }
    // SAFETY: NUL-terminated per the contract.
    let name = unsafe { CStr::from_ptr(name) };
    name.to_str().ok().and_then(|n| OPTIONS.iter().position(|o| o.name == n)).map_or(CIRCUIT_NO_OPTION, |i| i as u32)
}

/// How many fields `circuit_metrics_snapshot` has, in the order `circuit_metric_name` gives.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_metric_count() -> u32 {
    METRICS.len() as u32
}

/// The snake_case name of metrics field `index`, or NULL past the end. Static string.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_metric_name(index: u32) -> *const c_char {
    texts().metrics.get(index as usize).map_or(std::ptr::null(), |name| name.as_ptr())
}

/// The checks of every set-by-name function (this file's, and the fleet options' in
/// `fleet_schema.rs`): `config` and `name` non-NULL, `name` UTF-8, then the value.
pub(crate) fn named_value<'a>(
    function: &'static str,
    config_is_null: bool,
    name: *const c_char,
    value: impl FnOnce() -> Result<OptionValue, circuit_status>,
) -> Result<(&'a str, OptionValue), circuit_status> {
    if config_is_null || name.is_null() {
        let which = if config_is_null { "config" } else { "name" };
        return Err(fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `{which}` is NULL")));
    }
    // SAFETY: NUL-terminated per the contract of every caller.
    let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else {
        return Err(fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: `name` is not UTF-8")));
    };
    Ok((name, value()?))
}

/// A NUL-terminated UTF-8 `value` as a text option value (copied).
pub(crate) fn text_value(function: &'static str, value: *const c_char) -> Result<OptionValue, circuit_status> {
    if value.is_null() {
        return Err(fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `value` is NULL")));
    }
    // SAFETY: NUL-terminated per the contract of every caller.
    match unsafe { CStr::from_ptr(value) }.to_str() {
        Ok(text) => Ok(OptionValue::Text(text.to_owned())),
        Err(_) => Err(fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: `value` is not UTF-8"))),
    }
}

fn set_by_name(
    function: &'static str,
    config: *mut circuit_config,
    name: *const c_char,
    value: impl FnOnce() -> Result<OptionValue, circuit_status>,
) -> circuit_status {
    guard(function, || {
        let (name, value) = match named_value(function, config.is_null(), name, value) {
            Ok(named) => named,
            Err(status) => return status,
        };
        // SAFETY: non-null, from circuit_config_new, not used concurrently (the contract).
        let config = unsafe { &mut *config };
        match std::mem::take(&mut config.builder).set(name, value) {
            Ok(builder) => {
                config.builder = builder;
                CIRCUIT_OK
            }
            Err(e) => fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: {e}")),
        }
    })
}

/// Sets the count option called `name`. Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER`, or
/// `CIRCUIT_ERR_INVALID_ARGUMENT` (unknown name, or not a count option; the config is unchanged).
/// The value itself is checked by `circuit_create` / `circuit_config_check`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`; `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_count(
    config: *mut circuit_config,
    name: *const c_char,
    value: u32,
) -> circuit_status {
    set_by_name("circuit_config_set_count", config, name, || Ok(OptionValue::Count(value)))
}

/// Sets the number option called `name`; see `circuit_config_set_count`.
///
/// # Safety
/// As `circuit_config_set_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_number(
    config: *mut circuit_config,
    name: *const c_char,
    value: f64,
) -> circuit_status {
    set_by_name("circuit_config_set_number", config, name, || Ok(OptionValue::Number(value)))
}

/// Sets the duration option called `name`, in nanoseconds; see `circuit_config_set_count`.
///
/// # Safety
/// As `circuit_config_set_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_duration_ns(
    config: *mut circuit_config,
    name: *const c_char,
    value: u64,
) -> circuit_status {
    set_by_name("circuit_config_set_duration_ns", config, name, || {
        Ok(OptionValue::Duration(Duration::from_nanos(value)))
    })
}

/// Sets the 64-bit option called `name`; see `circuit_config_set_count`.
///
/// # Safety
/// As `circuit_config_set_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_seed(
    config: *mut circuit_config,
    name: *const c_char,
    value: u64,
) -> circuit_status {
    set_by_name("circuit_config_set_seed", config, name, || Ok(OptionValue::Seed(value)))
}

/// Sets the text option called `name` to a UTF-8 `value` (copied); see `circuit_config_set_count`.
///
/// # Safety
/// As `circuit_config_set_count`; `value` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_text(
    config: *mut circuit_config,
    name: *const c_char,
    value: *const c_char,
) -> circuit_status {
    set_by_name("circuit_config_set_text", config, name, || text_value("circuit_config_set_text", value))
}

/// Checks `config` as `circuit_create` would, without creating anything and without touching the
/// thread's last error. Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` (`config`), or
/// `CIRCUIT_ERR_INVALID_CONFIG`; then writes the failing option's code to `*out_option` (or
/// `CIRCUIT_NO_OPTION`) if it is not NULL, and the reason, NUL-terminated and truncated like
/// `circuit_last_error_message`, to `message` if `message_len` > 0. Returns the status; the
/// message's full length is written to `*out_message_len` if it is not NULL.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`; `out_option` and
/// `out_message_len` are NULL or writable; `message` is NULL or has `message_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_check(
    config: *const circuit_config,
    out_option: *mut u32,
    message: *mut c_char,
    message_len: usize,
    out_message_len: *mut usize,
) -> circuit_status {
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if config.is_null() {
            return CIRCUIT_ERR_NULL_POINTER;
        }
        // SAFETY: non-null and live per the contract.
        let config = unsafe { &*config };
        let Err(error) = config.builder.clone().build() else {
            return CIRCUIT_OK;
        };
        let code = OPTIONS.iter().position(|o| o.name == error.option()).map_or(CIRCUIT_NO_OPTION, |i| i as u32);
        let text = error.to_string();
        if !out_option.is_null() {
            // SAFETY: writable per the contract.
            unsafe { out_option.write(code) };
        }
        if !out_message_len.is_null() {
            // SAFETY: writable per the contract.
            unsafe { out_message_len.write(text.len()) };
        }
        if !message.is_null() && message_len > 0 {
            let n = text.len().min(message_len - 1);
            // SAFETY: message has message_len writable bytes per the contract; n < message_len.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), message.cast::<u8>(), n);
                message.add(n).write(0);
            }
        }
        CIRCUIT_ERR_INVALID_CONFIG
    }));
    checked.unwrap_or(crate::status::CIRCUIT_ERR_PANIC)
}
