//! What a family holds: `circuit_family_keys` and `circuit_family_metrics`.

use std::ffi::{c_char, c_void};

use crate::family::{FAMILIES, circuit_family, invalid};
use crate::metrics::circuit_metrics_snapshot;
use crate::status::*;

/// Receives one key of `circuit_family_keys`: `key_len` bytes of UTF-8, not NUL-terminated, valid
/// only during the call.
pub type circuit_key_visitor = Option<unsafe extern "C" fn(userdata: *mut c_void, key: *const c_char, key_len: usize)>;

/// Calls `visitor(userdata, key, key_len)` once for the key of each current member, in no
/// particular order, on the calling thread before returning. The keys are a snapshot taken
/// first: no library lock is held during the calls, and `visitor` may call any library function
/// (members it creates or evicts do not change the keys visited).
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` (`visitor` NULL) or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `visitor` is NULL or a function with the `circuit_key_visitor` signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_keys(
    family: circuit_family,
    visitor: circuit_key_visitor,
    userdata: *mut c_void,
) -> circuit_status {
    guard("circuit_family_keys", || {
        let Some(visit) = visitor else {
            return fail(CIRCUIT_ERR_NULL_POINTER, "circuit_family_keys: `visitor` is NULL");
        };
        let Some(entry) = FAMILIES.get(family) else {
            return invalid("circuit_family_keys", family);
        };
        let keys = entry.family.keys();
        drop(entry);
        for key in keys {
            let pointer = if key.is_empty() { c"".as_ptr() } else { key.as_ptr().cast::<c_char>() };
            // SAFETY: the caller passed a function with this signature; the key lives for the call.
            unsafe { visit(userdata, pointer, key.len()) };
        }
        CIRCUIT_OK
    })
}

/// A family's own counts (docs/semantics.md, "Families"); each member's metrics come from
/// `circuit_metrics` on a handle from `circuit_family_get`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct circuit_family_metrics_snapshot {
    /// Members now (the overflow breaker not counted).
    pub members: u64,
    /// Members evicted so far (idle, or to make room).
    pub evicted: u64,
    /// Lookups answered with the overflow breaker because every member was pinned.
    pub overflowed: u64,
    /// The overflow breaker's metrics.
    pub overflow: circuit_metrics_snapshot,
}

/// Writes the family's counts to `*out_metrics`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_metrics` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_metrics(
    family: circuit_family,
    out_metrics: *mut circuit_family_metrics_snapshot,
) -> circuit_status {
    guard("circuit_family_metrics", || {
        non_null!("circuit_family_metrics", out_metrics);
        let Some(entry) = FAMILIES.get(family) else {
            return invalid("circuit_family_metrics", family);
        };
        let m = entry.family.metrics();
        let snapshot = circuit_family_metrics_snapshot {
            members: m.members.len() as u64,
            evicted: m.evicted,
            overflowed: m.overflowed,
            overflow: (&m.overflow).into(),
        };
        // SAFETY: non-null and writable per the contract.
        unsafe { out_metrics.write(snapshot) };
        CIRCUIT_OK
    })
}
