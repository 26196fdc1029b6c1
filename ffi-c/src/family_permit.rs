//! `circuit_family_allow`: admission on a family member in one call. The permit carries a member
//! handle made for it (flag `CIRCUIT_PERMIT_MEMBER`), which pins the member until the permit is
//! recorded; `circuit_record_*` releases that handle once the outcome is recorded.

use std::collections::HashSet;
use std::ffi::c_char;
use std::sync::{Mutex, PoisonError};

use engine::{Outcome, RejectReason};

use crate::breaker::circuit_destroy;
use crate::family::{FAMILIES, FamilyEntry, circuit_family, invalid, key_str, member_handle};
use crate::permit::{CIRCUIT_PERMIT_MEMBER, CIRCUIT_PERMIT_PROBE, circuit_permit};
use crate::status::*;
use crate::types::*;

/// The member handles made for permits and not yet released. Only these are released by a record:
/// a permit whose flags were forged or corrupted cannot destroy another handle.
static PERMIT_HANDLES: Mutex<Option<HashSet<circuit_breaker>>> = Mutex::new(None);

/// Asks to make a call on the member of key `key` (`key_len` bytes of UTF-8; created on first use,
/// or the overflow breaker when the family is full and every member is pinned), like
/// `circuit_family_get` followed by `circuit_allow`, but without a handle to release.
///
/// On `CIRCUIT_OK` it fills `*out_permit`, whose `breaker` field is a new handle of the member
/// made for this permit, with the `CIRCUIT_PERMIT_MEMBER` flag set: it pins the member (the family
/// never evicts it) until the permit is recorded. Record it with `circuit_record_*(permit.breaker,
/// &permit)`; a recorded outcome (`CIRCUIT_OK` or `CIRCUIT_STALE`) releases the handle, so do not
/// `circuit_destroy` it, and record `circuit_record_ignored` for a call you abandon (an unrecorded
/// permit pins its member for ever). A copy of the permit recorded after the original gets
/// `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// Otherwise it returns a rejection (`CIRCUIT_REJECTED_*`, writing the time until a probe may be
/// admitted to `*out_retry_after_ns` if not NULL, `CIRCUIT_NO_TIME` when there is none), or
/// `CIRCUIT_ERR_INVALID_HANDLE`, `CIRCUIT_ERR_NULL_POINTER` (`out_permit`, or `key` with a nonzero
/// `key_len`), `CIRCUIT_ERR_INVALID_ARGUMENT` (`key` is not UTF-8, or too many live breakers),
/// leaving `*out_permit` untouched and pinning nothing.
///
/// # Safety
/// `key` points to `key_len` readable bytes (NULL allowed when `key_len` is 0); `out_permit` and
/// `out_retry_after_ns` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_allow(
    family: circuit_family,
    key: *const c_char,
    key_len: usize,
    out_permit: *mut circuit_permit,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    guard("circuit_family_allow", || {
        non_null!("circuit_family_allow", out_permit);
        // SAFETY: per the contract.
        let key = match unsafe { key_str("circuit_family_allow", key, key_len) } {
            Ok(key) => key,
            Err(status) => return status,
        };
        let Some(entry) = FAMILIES.get(family) else {
            return invalid("circuit_family_allow", family);
        };
        // The member is pinned by this reference from here on, then by its handle.
        let member = entry.family.get(key);
        if entry.fleets.is_some() {
            return allow_with_fleet(&entry, member, out_permit, out_retry_after_ns);
        }
        let raw = match member.allow_raw() {
            Ok(raw) => raw,
            Err(rejected) => {
                if !out_retry_after_ns.is_null() {
                    // SAFETY: non-null and writable per the contract.
                    unsafe { out_retry_after_ns.write(rejected.retry_after().map_or(CIRCUIT_NO_TIME, nanos)) };
                }
                return match rejected.reason() {
                    RejectReason::Open => CIRCUIT_REJECTED_OPEN,
                    RejectReason::HalfOpenFull => CIRCUIT_REJECTED_HALF_OPEN_FULL,
                    RejectReason::ForcedOpen => CIRCUIT_REJECTED_FORCED_OPEN,
                };
            }
        };
        let Some(handle) = member_handle(&entry, member.clone()) else {
            let _ = member.record_raw(raw, Outcome::Ignored);
            return fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_family_allow: too many live breakers");
        };
        PERMIT_HANDLES.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(HashSet::new).insert(handle);
        let (generation, admitted_at_ns, ticket) = raw.to_parts();
        let flags = CIRCUIT_PERMIT_MEMBER | if raw.is_probe() { CIRCUIT_PERMIT_PROBE } else { 0 };
        // SAFETY: non-null and writable per the contract.
        unsafe {
            out_permit.write(circuit_permit {
                breaker: handle,
                generation,
                admitted_at_ns,
                ticket,
                flags,
                fleet_epoch: 0,
                fleet_probe: 0,
            })
        };
        CIRCUIT_OK
    })
}

/// `circuit_family_allow` in a family with a fleet set: the member's handle first (it carries the
/// member's fleet), then both levels through it, as `circuit_allow` does; the handle is released
/// at once on a refusal, and by the record otherwise.
#[inline(never)]
fn allow_with_fleet(
    entry: &FamilyEntry,
    member: std::sync::Arc<engine::CircuitBreaker>,
    out_permit: *mut circuit_permit,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    let Some(handle) = member_handle(entry, member) else {
        return fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_family_allow: too many live breakers or fleets");
    };
    // Registered before the permit is visible, as for a member without a fleet.
    PERMIT_HANDLES.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(HashSet::new).insert(handle);
    let status = crate::fleet::allow(handle, out_permit, out_retry_after_ns);
    if status == CIRCUIT_OK {
        // SAFETY: non-null (checked by the caller) and just written by `allow`.
        unsafe { (*out_permit).flags |= CIRCUIT_PERMIT_MEMBER };
    } else {
        PERMIT_HANDLES.lock().unwrap_or_else(PoisonError::into_inner).as_mut().map(|set| set.remove(&handle));
        let _ = circuit_destroy(handle);
    }
    status
}

/// After a `circuit_record_*` of a permit with `CIRCUIT_PERMIT_MEMBER`: a recorded outcome releases
/// the permit's member handle (and with it the pin), if it is one `circuit_family_allow` made.
#[cold]
#[inline(never)]
pub(crate) fn release_recorded(handle: circuit_breaker, status: circuit_status) {
    if !matches!(status, CIRCUIT_OK | CIRCUIT_STALE) {
        return;
    }
    let made_for_a_permit =
        PERMIT_HANDLES.lock().unwrap_or_else(PoisonError::into_inner).as_mut().is_some_and(|set| set.remove(&handle));
    if made_for_a_permit {
        let _ = circuit_destroy(handle);
    }
}
