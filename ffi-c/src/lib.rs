//! The C ABI of circuit: `libcircuit.so` / `libcircuit.a` and `include/circuit.h`.
//!
//! The only crate of the project with `unsafe`. Conventions (docs/c-api.md):
//!
//! * Breakers, clocks, families and host regions are integer handles, validated on every call (see [`handle`]).
//! * Every function returns a `circuit_status`; out-parameters are written only on success
//!   (rejections also write `retry_after`).
//! * No panic crosses the boundary ([`status::guard`]); NULL pointers are refused.
//! * Every function may be called from any thread.
#![allow(non_camel_case_types)]
#![warn(unsafe_op_in_unsafe_fn)]

mod breaker;
mod buffer;
mod clock;
mod config;
mod exposition;
mod family;
mod family_listener;
mod family_permit;
mod family_view;
mod fleet;
mod fleet_schema;
mod fleet_set;
mod handle;
mod http;
mod listener;
mod metrics;
mod permit;
mod region;
mod schema;
mod state;
mod status;
mod thread_block;
mod types;

#[cfg(test)]
mod observability_tests;
#[cfg(test)]
mod region_tests;
#[cfg(test)]
mod tests;

use std::ffi::c_char;

pub use breaker::*;
pub use clock::*;
pub use config::*;
pub use exposition::*;
pub use family::*;
pub use family_listener::*;
pub use family_permit::*;
pub use family_view::*;
pub use fleet::*;
pub use fleet_schema::*;
pub use fleet_set::*;
pub use http::*;
pub use listener::*;
pub use metrics::*;
pub use permit::*;
pub use region::*;
pub use schema::*;
pub use state::*;
pub use status::circuit_status;
pub use types::*;

/// The library's version, "MAJOR.MINOR.PATCH" (a static string; do not free).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as MAJOR * 1000000 + MINOR * 1000 + PATCH; compare with
/// `CIRCUIT_VERSION_NUMBER` to detect a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_version_number() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 1_000_000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 1_000
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}

/// Copies the message of the last error that happened on this thread (empty if none) into
/// `buffer`, truncated to `buffer_len - 1` bytes and NUL-terminated, and returns the message's
/// full length in bytes (excluding the NUL), like `snprintf`. `buffer` may be NULL when
/// `buffer_len` is 0 (to ask for the length). Messages name the function and, for configuration
/// errors, the option and the reason.
///
/// # Safety
/// `buffer` is NULL or points to `buffer_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_last_error_message(buffer: *mut c_char, buffer_len: usize) -> usize {
    let message = status::last_error();
    if !buffer.is_null() && buffer_len > 0 {
        let n = message.len().min(buffer_len - 1);
        // SAFETY: buffer has buffer_len writable bytes per the contract; n < buffer_len.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr(), buffer.cast::<u8>(), n);
            buffer.add(n).write(0);
        }
    }
    message.len()
}

/// The name of a status code ("CIRCUIT_OK", ...), or "CIRCUIT_UNKNOWN_STATUS". Static string.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_status_name(status: u32) -> *const c_char {
    let name: &'static str = match status {
        0 => "CIRCUIT_OK\0",
        1 => "CIRCUIT_STALE\0",
        2 => "CIRCUIT_NO_PROCESS_ENTRY\0",
        100 => "CIRCUIT_REJECTED_OPEN\0",
        101 => "CIRCUIT_REJECTED_HALF_OPEN_FULL\0",
        102 => "CIRCUIT_REJECTED_FORCED_OPEN\0",
        103 => "CIRCUIT_REJECTED_FLEET_OPEN\0",
        104 => "CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL\0",
        200 => "CIRCUIT_ERR_ALREADY_RECORDED\0",
        201 => "CIRCUIT_ERR_INVALID_CONFIG\0",
        202 => "CIRCUIT_ERR_NULL_POINTER\0",
        203 => "CIRCUIT_ERR_INVALID_HANDLE\0",
        204 => "CIRCUIT_ERR_PANIC\0",
        205 => "CIRCUIT_ERR_INVALID_ARGUMENT\0",
        206 => "CIRCUIT_ERR_FOREIGN_PERMIT\0",
        207 => "CIRCUIT_ERR_INVALID_STATE\0",
        208 => "CIRCUIT_ERR_REGION\0",
        _ => "CIRCUIT_UNKNOWN_STATUS\0",
    };
    name.as_ptr().cast()
}

/// The core's spellings as static C strings, built once.
struct Spellings {
    states: Vec<std::ffi::CString>,
    reasons: Vec<std::ffi::CString>,
    reject_reasons: Vec<std::ffi::CString>,
}

fn spellings() -> &'static Spellings {
    static SPELLINGS: std::sync::OnceLock<Spellings> = std::sync::OnceLock::new();
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    SPELLINGS.get_or_init(|| Spellings {
        states: engine::State::ALL.iter().map(|s| c(s.as_str())).collect(),
        reasons: engine::Reason::ALL.iter().map(|r| c(r.as_str())).collect(),
        reject_reasons: engine::RejectReason::ALL.iter().map(|r| c(r.as_str())).collect(),
    })
}

fn spelling(table: &'static [std::ffi::CString], code: u32) -> *const c_char {
    table.get(code as usize).map_or(std::ptr::null(), |name| name.as_ptr())
}

/// The spelling of a state code ("closed", "open", "half_open", "forced_open", "disabled"), or
/// NULL for an unknown code. Static string.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_state_name(state: u32) -> *const c_char {
    spelling(&spellings().states, state)
}

/// The spelling of a reason code ("failure_threshold", ...), or NULL for an unknown code. Static
/// string.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_reason_name(reason: u32) -> *const c_char {
    spelling(&spellings().reasons, reason)
}

/// The spelling of a rejection reason: 0 "open", 1 "half_open_full", 2 "forced_open" (the
/// rejections `CIRCUIT_REJECTED_OPEN` + code), or NULL for an unknown code. Static string.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_reject_reason_name(reason: u32) -> *const c_char {
    spelling(&spellings().reject_reasons, reason)
}

/// Panics on purpose inside the library's panic boundary, to let C tests check that a panic
/// becomes `CIRCUIT_ERR_PANIC` and leaves the library usable. Always returns `CIRCUIT_ERR_PANIC`.
/// Only in a test build of the library (cargo feature `test-hooks`, header guard
/// `CIRCUIT_TEST_HOOKS`); the released library does not have it.
#[cfg(feature = "test-hooks")]
#[unsafe(no_mangle)]
pub extern "C" fn circuit_test_panic() -> circuit_status {
    status::guard("circuit_test_panic", || panic!("deliberate panic for testing"))
}
