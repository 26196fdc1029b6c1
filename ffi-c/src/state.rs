//! Portable breaker state (docs/observability.md, "State documents"): `circuit_export` writes a
//! breaker's state document, `circuit_restore` loads one into a breaker not used yet.

use std::ffi::c_char;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::breaker::with_breaker;
use crate::buffer::{check_buffer, copy_out};
use crate::status::*;
use crate::types::*;

/// `wall_unix_ns` value of `circuit_export` and `circuit_restore` meaning "the system's wall
/// clock now" (`INT64_MIN`).
pub const CIRCUIT_WALL_NOW: i64 = i64::MIN;

/// The wall-clock instant `wall_unix_ns` names (ns since the Unix epoch, negative before it).
fn wall(wall_unix_ns: i64) -> Option<SystemTime> {
    if wall_unix_ns == CIRCUIT_WALL_NOW {
        Some(SystemTime::now())
    } else if wall_unix_ns >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_nanos(wall_unix_ns.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_nanos(wall_unix_ns.unsigned_abs()))
    }
}

/// Writes the breaker's state document (JSON, UTF-8) exported at the wall-clock instant
/// `wall_unix_ns` (nanoseconds since the Unix epoch; `CIRCUIT_WALL_NOW` for the system time, the
/// usual choice: an explicit instant is for tests) into `buffer`, `snprintf` style: truncated to
/// `buffer_len - 1` bytes and NUL-terminated, with the full length (excluding the NUL) written to
/// `*out_needed` if it is not NULL. `buffer` may be NULL when `buffer_len` is 0. A truncated
/// document is not a document: the text changes from call to call (`time_in_state_ms`), so when
/// `*out_needed >= buffer_len`, grow the buffer past it and call again until it fits.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER` (`buffer` NULL
/// with a nonzero `buffer_len`).
///
/// # Safety
/// `buffer` is NULL or points to `buffer_len` writable bytes; `out_needed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_export(
    breaker: circuit_breaker,
    wall_unix_ns: i64,
    buffer: *mut c_char,
    buffer_len: usize,
    out_needed: *mut usize,
) -> circuit_status {
    guard("circuit_export", || {
        if let Err(status) = check_buffer("circuit_export", buffer, buffer_len) {
            return status;
        }
        let Some(at) = wall(wall_unix_ns) else {
            return fail(
                CIRCUIT_ERR_INVALID_ARGUMENT,
                format!("circuit_export: `wall_unix_ns` {wall_unix_ns} is out of range"),
            );
        };
        with_breaker("circuit_export", breaker, |b| {
            let document = b.export_state_at(at);
            // SAFETY: per the contract.
            unsafe { copy_out(&document, buffer, buffer_len, out_needed) };
            CIRCUIT_OK
        })
    })
}

/// Loads the state document `document` (`document_len` bytes of UTF-8, not NUL-terminated, as
/// written by `circuit_export` in any language) into `breaker`, at the wall-clock instant
/// `wall_unix_ns` (`CIRCUIT_WALL_NOW` for the system time; the time between the export and this
/// instant is taken off the open time). Only a breaker that has not been used yet takes a
/// document: restore right after `circuit_create`, and on an error destroy the breaker (nothing
/// else was changed).
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_STATE` when the document is refused (malformed,
/// truncated, another format or a newer version, another breaker's name, values out of range, or
/// the breaker was used already): the message names the field, and `circuit_last_error_field`
/// returns it; the breaker is unchanged. `CIRCUIT_ERR_INVALID_HANDLE`; `CIRCUIT_ERR_NULL_POINTER`
/// (`document` NULL with a nonzero length); `CIRCUIT_ERR_INVALID_ARGUMENT` (`document` is not
/// UTF-8, or `wall_unix_ns` is out of range).
///
/// # Safety
/// `document` points to `document_len` readable bytes (NULL allowed when `document_len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_restore(
    breaker: circuit_breaker,
    document: *const c_char,
    document_len: usize,
    wall_unix_ns: i64,
) -> circuit_status {
    guard("circuit_restore", || {
        let bytes: &[u8] = if document_len == 0 {
            &[]
        } else if document.is_null() {
            return fail(
                CIRCUIT_ERR_NULL_POINTER,
                format!("circuit_restore: `document` is NULL with length {document_len}"),
            );
        } else {
            // SAFETY: document has document_len readable bytes per the contract.
            unsafe { std::slice::from_raw_parts(document.cast::<u8>(), document_len) }
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_restore: `document` is not UTF-8");
        };
        let Some(at) = wall(wall_unix_ns) else {
            return fail(
                CIRCUIT_ERR_INVALID_ARGUMENT,
                format!("circuit_restore: `wall_unix_ns` {wall_unix_ns} is out of range"),
            );
        };
        with_breaker("circuit_restore", breaker, |b| match b.import_state_at(text, at) {
            Ok(()) => CIRCUIT_OK,
            Err(e) => fail_field(CIRCUIT_ERR_INVALID_STATE, e.field_name(), format!("circuit_restore: {e}")),
        })
    })
}

/// Copies the document field named by the last error on this thread (set by a
/// `CIRCUIT_ERR_INVALID_STATE` from `circuit_restore`, a dotted path such as "totals.admitted")
/// into `buffer`, `snprintf` style, writes its length to `*out_len` if not NULL, and returns
/// true; returns false (writing nothing) if the last error named no field (a document-level
/// problem such as invalid JSON, or another kind of error).
///
/// # Safety
/// `buffer` is NULL or points to `buffer_len` writable bytes; `out_len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_last_error_field(buffer: *mut c_char, buffer_len: usize, out_len: *mut usize) -> bool {
    std::panic::catch_unwind(|| match last_field() {
        Some(field) if !(buffer.is_null() && buffer_len > 0) => {
            // SAFETY: per the contract.
            unsafe { copy_out(&field, buffer, buffer_len, out_len) };
            true
        }
        _ => false,
    })
    .unwrap_or(false)
}
