//! Families: one breaker per key with bounded memory (docs/semantics.md, "Families"). A family is
//! an integer handle like a breaker; `circuit_family_get` hands out a new *breaker* handle for a
//! member, which holds the member's `Arc` and so pins it (the family never evicts it) until
//! `circuit_destroy`.

use std::collections::HashSet;
use std::ffi::c_char;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use engine::{CircuitBreaker, Family};

use crate::breaker::BREAKERS;
use crate::config::circuit_config;
use crate::family_listener::FamilyListeners;
use crate::fleet::FleetBreaker;
use crate::handle::Table;
use crate::status::*;
use crate::types::circuit_breaker;

/// A family handle (see `circuit_family_create`). 0 is never a valid handle; values are never
/// reused.
pub type circuit_family = u64;

/// What a family handle names: the core's family and the listeners added through the C ABI.
pub(crate) struct FamilyEntry {
    pub(crate) family: Family,
    pub(crate) listeners: FamilyListeners,
    /// The fleet set each member's fleet level comes from (`circuit_config_set_fleet_set`).
    pub(crate) fleets: Option<Arc<crate::fleet_set::FleetSetEntry>>,
}

pub(crate) static FAMILIES: Table<FamilyEntry> = Table::new();

/// The live breaker handles that name family members (or a family's overflow breaker): their
/// `circuit_destroy` releases the handle's reference without retiring the breaker, which the
/// family (and other handles of the same member) keep using.
static MEMBER_HANDLES: Mutex<Option<HashSet<circuit_breaker>>> = Mutex::new(None);

/// Forgets `breaker` as a member handle; returns whether it was one.
pub(crate) fn take_member_handle(breaker: circuit_breaker) -> bool {
    let mut set = MEMBER_HANDLES.lock().unwrap_or_else(PoisonError::into_inner);
    set.as_mut().is_some_and(|set| set.remove(&breaker))
}

pub(crate) fn invalid(function: &str, family: circuit_family) -> circuit_status {
    fail(CIRCUIT_ERR_INVALID_HANDLE, format!("{function}: {family} is not a live family handle"))
}

/// The key as a `&str`, or the status to return.
///
/// # Safety
/// `key` points to `key_len` readable bytes (it may be NULL only when `key_len` is 0).
pub(crate) unsafe fn key_str<'a>(
    function: &str,
    key: *const c_char,
    key_len: usize,
) -> Result<&'a str, circuit_status> {
    let bytes: &[u8] = if key_len == 0 {
        &[]
    } else if key.is_null() {
        return Err(fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `key` is NULL")));
    } else {
        // SAFETY: key has key_len readable bytes per the contract.
        unsafe { std::slice::from_raw_parts(key.cast::<u8>(), key_len) }
    };
    std::str::from_utf8(bytes)
        .map_err(|_| fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: `key` is not UTF-8")))
}

/// Creates a family whose members are breakers built from `config` (not consumed; named
/// `<config name>/<key>`), holding at most `max_keys` members (0: the default, 1024) and evicting
/// unpinned members idle for `idle_ttl_ns` (0: the default, 10 minutes). If `config` has a manual
/// clock (`circuit_config_set_manual_clock`), the family and all its members run on it, so
/// advancing it drives `idle_ttl`. Writes the handle to `*out_family`; destroy it with
/// `circuit_family_destroy`.
///
/// With a region (`circuit_config_set_region`) the family's members live in the region: the
/// member of key `key` is the region's breaker `<config name>/<key>` and the overflow breaker is
/// `<config name>/(overflow)`, each one breaker across every process that creates the same family
/// there (same name, same options). Each member takes one record of the region (names stay
/// claimed); once the region is full, new keys get the overflow breaker. The family runs on the
/// region's clock, so the config must not also have a manual clock. Eviction only drops this
/// process's handle of a member: its state stays in the region and the next get of its key joins
/// it again.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_CONFIG` (nothing is created, `*out_family` is
/// untouched; also for a config with both a region and a manual clock); `CIRCUIT_ERR_REGION` (the
/// region refused the family: no name, no room for the overflow breaker, or a breaker of the
/// family exists there with other options, each named in the message); `CIRCUIT_ERR_NULL_POINTER`;
/// `CIRCUIT_ERR_INVALID_ARGUMENT` (too many live families).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`; `out_family` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_create(
    config: *const circuit_config,
    max_keys: u32,
    idle_ttl_ns: u64,
    out_family: *mut circuit_family,
) -> circuit_status {
    guard("circuit_family_create", || {
        non_null!("circuit_family_create", config, out_family);
        // SAFETY: non-null and live per the contract.
        let config = unsafe { &*config };
        if config.fleet.is_some() {
            return fail(
                CIRCUIT_ERR_INVALID_CONFIG,
                "circuit_family_create: a family cannot share one fleet among its members; give it a fleet set (circuit_config_set_fleet_set)",
            );
        }
        let built = match config.builder.clone().build() {
            Ok(built) => built,
            Err(e) => return fail(CIRCUIT_ERR_INVALID_CONFIG, format!("circuit_family_create: {e}")),
        };
        if config.fleet_set.is_some() && built.name().is_none() {
            return fail(
                CIRCUIT_ERR_INVALID_CONFIG,
                "circuit_family_create: a family with a fleet set needs a name (each member is the fleet breaker `<name>/<key>`)",
            );
        }
        let mut builder = match (&config.region, &config.clock) {
            (Some(_), Some(_)) => {
                return fail(
                    CIRCUIT_ERR_INVALID_CONFIG,
                    "circuit_family_create: a family in a region runs on the region's clock; do not also set a manual clock",
                );
            }
            (Some(region), None) => match region.region.family(built) {
                Ok(builder) => builder,
                Err(e) => return crate::region::region_error("circuit_family_create", &e),
            },
            (None, Some(clock)) => Family::builder(built).clock(clock.clone()),
            (None, None) => Family::builder(built),
        };
        if max_keys != 0 {
            builder = builder.max_keys(max_keys as usize);
        }
        if idle_ttl_ns != 0 {
            builder = builder.idle_ttl(Duration::from_nanos(idle_ttl_ns));
        }
        let family = match builder.build() {
            Ok(family) => family,
            // The region refused the overflow breaker (its text names the path and the problem).
            Err(e) if config.region.is_some() && e.option() == "region" => {
                return fail(CIRCUIT_ERR_REGION, format!("circuit_family_create: {}", e.reason()));
            }
            Err(e) => return fail(CIRCUIT_ERR_INVALID_CONFIG, format!("circuit_family_create: {e}")),
        };
        if let Some(region) = &config.region {
            region.keep(); // the members' mapping stays for the life of the process
        }
        let fleets = config.fleet_set.clone();
        match FAMILIES.insert(Arc::new(FamilyEntry { family, listeners: FamilyListeners::default(), fleets })) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_family.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_family_create: too many live families"),
        }
    })
}

/// Writes to `*out_breaker` a NEW breaker handle for the member of key `key` (`key_len` bytes of
/// UTF-8, not NUL-terminated; may contain any byte sequence that is valid UTF-8), created on first
/// use. If the family is full and every member is pinned, the handle names the family's shared
/// overflow breaker. The handle is an ordinary breaker handle (`circuit_allow`, `circuit_record_*`,
/// `circuit_state`, listeners, ...), and the caller must release it with `circuit_destroy` when
/// done. Every call returns a new handle, also for the same key.
///
/// **Pinning.** While the handle is live it holds the member, so the family never evicts it (a
/// permit from the handle therefore always records on the breaker that issued it, and that stays
/// true after `circuit_destroy` of the handle or of the family: the permit keeps the member). A
/// handle used on other threads may keep pinning its member after `circuit_destroy` until those
/// threads next use a breaker handle in the same per-thread cache way (docs/c-api.md, "Handles").
/// `circuit_destroy` of a member handle does not retire the member: listeners added through it stay
/// on the member (remove them with `circuit_remove_listener` first).
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE`, `CIRCUIT_ERR_NULL_POINTER` (`out_breaker`, or
/// `key` with a nonzero `key_len`), `CIRCUIT_ERR_INVALID_ARGUMENT` (`key` is not UTF-8, or too many
/// live breakers).
///
/// # Safety
/// `key` points to `key_len` readable bytes (NULL allowed when `key_len` is 0); `out_breaker` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_get(
    family: circuit_family,
    key: *const c_char,
    key_len: usize,
    out_breaker: *mut circuit_breaker,
) -> circuit_status {
    guard("circuit_family_get", || {
        non_null!("circuit_family_get", out_breaker);
        // SAFETY: per the contract.
        let key = match unsafe { key_str("circuit_family_get", key, key_len) } {
            Ok(key) => key,
            Err(status) => return status,
        };
        let Some(entry) = FAMILIES.get(family) else {
            return invalid("circuit_family_get", family);
        };
        match member_handle(&entry, entry.family.get(key)) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_breaker.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_family_get: too many live breakers"),
        }
    })
}

/// A new breaker handle naming `member` (it pins the member until `circuit_destroy`), or `None`
/// when the table is full.
/// In a family with a fleet set, the handle's breaker goes through the set's fleet of the
/// member's name.
pub(crate) fn member_handle(family: &FamilyEntry, member: Arc<CircuitBreaker>) -> Option<circuit_breaker> {
    let fleet = match &family.fleets {
        Some(set) => Some(set.member(member.name()?)?),
        None => None,
    };
    // Registered before the handle is visible, so a racing `circuit_destroy` of it (a forged
    // guess) cannot retire the member.
    let mut set = MEMBER_HANDLES.lock().unwrap_or_else(PoisonError::into_inner);
    let handle = match fleet {
        Some(fleet) => crate::breaker::FLEET_BREAKERS.insert(Arc::new(FleetBreaker { breaker: member, fleet }))?,
        None => BREAKERS.insert(member)?,
    };
    set.get_or_insert_with(HashSet::new).insert(handle);
    Some(handle)
}

/// Writes the number of members (not counting the overflow breaker) to `*out_len`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_len(family: circuit_family, out_len: *mut usize) -> circuit_status {
    guard("circuit_family_len", || {
        non_null!("circuit_family_len", out_len);
        match FAMILIES.get(family) {
            Some(f) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_len.write(f.family.len()) };
                CIRCUIT_OK
            }
            None => invalid("circuit_family_len", family),
        }
    })
}

/// Writes whether the family currently has a member for `key` (`key_len` bytes of UTF-8) to
/// `*out_contains`, without creating one or touching its last use.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE`, `CIRCUIT_ERR_NULL_POINTER` or
/// `CIRCUIT_ERR_INVALID_ARGUMENT` (`key` is not UTF-8).
///
/// # Safety
/// `key` points to `key_len` readable bytes (NULL allowed when `key_len` is 0); `out_contains` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_contains(
    family: circuit_family,
    key: *const c_char,
    key_len: usize,
    out_contains: *mut bool,
) -> circuit_status {
    guard("circuit_family_contains", || {
        non_null!("circuit_family_contains", out_contains);
        // SAFETY: per the contract.
        let key = match unsafe { key_str("circuit_family_contains", key, key_len) } {
            Ok(key) => key,
            Err(status) => return status,
        };
        match FAMILIES.get(family) {
            Some(f) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_contains.write(f.family.contains(key)) };
                CIRCUIT_OK
            }
            None => invalid("circuit_family_contains", family),
        }
    })
}

/// Destroys a family handle. Member handles still live keep working as ordinary breakers (each
/// must still be `circuit_destroy`ed), and so do permits from `circuit_family_allow` (each must
/// still be recorded); the family forgets the rest. Once it returns, no family listener is called
/// again (it waits for a call in progress on another thread, like
/// `circuit_family_remove_listener`). A second destroy, and every later call with the handle,
/// returns `CIRCUIT_ERR_INVALID_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_family_destroy(family: circuit_family) -> circuit_status {
    guard("circuit_family_destroy", || match FAMILIES.remove(family) {
        Some(entry) => {
            entry.listeners.close_all();
            CIRCUIT_OK
        }
        None => invalid("circuit_family_destroy", family),
    })
}
