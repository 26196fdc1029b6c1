//! Fleet sets (docs/fleet.md "Families and fleet sets", docs/c-api.md "Fleet breakers"): the
//! fleet breakers of one service made on demand by name from one fleet config
//! (`engine::fleet::FleetSet`). A family created from a config with a set gives each member the
//! set's fleet of the member's name (`<family>/<key>`); a breaker created from it gets the fleet
//! of its own name. The host syncs every fleet of the set: `circuit_fleet_set_fleets` lists their
//! handles (owned by the set), each polled like any fleet (`circuit_fleet_poll`, ...).

use std::ffi::c_char;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::fleet::{DEFAULT_FLEET_IDLE_TTL, Fleet, FleetConfig, FleetSet};
use engine::{Clock, ManualClock, MonotonicClock};

use crate::config::circuit_config;
use crate::fleet::{FleetEntry, circuit_fleet, circuit_fleet_config};
use crate::handle::Table;
use crate::status::*;

#[allow(non_camel_case_types)]
pub type circuit_fleet_set = u64;

pub(crate) struct FleetSetEntry {
    set: FleetSet<FleetEntry>,
    clock: Option<ManualClock>,
    /// Set by `circuit_fleet_set_free`: fleets made after it (a family that outlived the set
    /// meets a new key) get no handle, since no host can list them any more.
    freed: AtomicBool,
}

static FLEET_SETS: Table<FleetSetEntry> = Table::new();

impl FleetSetEntry {
    fn now(&self) -> u64 {
        self.clock.as_ref().map_or_else(|| MonotonicClock.now_nanos(), Clock::now_nanos)
    }

    /// The set's fleet `name`, made (and given a handle) on first use. None when the fleet table
    /// is full.
    pub(crate) fn member(&self, name: &str) -> Option<Arc<FleetEntry>> {
        let now = self.now();
        let clock = self.clock.clone();
        self.set
            .get_or_make(name, |config| {
                let fleet = Fleet::new(config, now).map_err(|_| ())?;
                let entry = Arc::new(FleetEntry::new(fleet, clock, true));
                // Under the set's lock, which `circuit_fleet_set_free` takes after setting `freed`:
                // a fleet made before it is unregistered there, one made after it never registers.
                if !self.freed.load(Ordering::SeqCst) {
                    FleetEntry::register(&entry).ok_or(())?;
                }
                Ok::<_, ()>(entry)
            })
            .ok()
    }
}

pub(crate) fn get(set: circuit_fleet_set) -> Option<Arc<FleetSetEntry>> {
    FLEET_SETS.get(set)
}

fn invalid(function: &str, set: circuit_fleet_set) -> circuit_status {
    fail(CIRCUIT_ERR_INVALID_HANDLE, format!("{function}: {set} is not a live fleet set handle"))
}

/// Makes a fleet set with the options of `config` (NULL: every default; not consumed) and writes
/// its handle to `*out_set`. Its fleets are made on demand by name (a family member's, or a
/// breaker's), and a fleet no breaker holds that stayed idle (closed, nothing to send, no probe)
/// for `idle_ttl_ns` (0: 10 minutes) is forgotten by `circuit_fleet_set_fleets`: its handle stops
/// being valid, and a later call of that name makes it again, which rejoins the store's state.
/// Free it with `circuit_fleet_set_free`.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_CONFIG` (the message names the option);
/// `CIRCUIT_ERR_NULL_POINTER` (`out_set`); `CIRCUIT_ERR_INVALID_ARGUMENT` (too many live sets).
///
/// # Safety
/// `config` is NULL or live; `out_set` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_set_new(
    config: *const circuit_fleet_config,
    idle_ttl_ns: u64,
    out_set: *mut circuit_fleet_set,
) -> circuit_status {
    guard("circuit_fleet_set_new", || {
        non_null!("circuit_fleet_set_new", out_set);
        let (template, clock) = if config.is_null() {
            (FleetConfig::new(String::new()), None)
        } else {
            // SAFETY: non-null and live per the contract.
            let config = unsafe { &*config };
            (config.config.clone(), config.clock.clone())
        };
        let idle_ttl = if idle_ttl_ns == 0 { DEFAULT_FLEET_IDLE_TTL } else { Duration::from_nanos(idle_ttl_ns) };
        let set = match FleetSet::new(template, idle_ttl) {
            Ok(set) => set,
            Err(e) => {
                return fail(
                    CIRCUIT_ERR_INVALID_CONFIG,
                    format!("circuit_fleet_set_new: invalid option `{}`: {}", e.option(), e.reason()),
                );
            }
        };
        match FLEET_SETS.insert(Arc::new(FleetSetEntry { set, clock, freed: AtomicBool::new(false) })) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_set.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_fleet_set_new: too many live fleet sets"),
        }
    })
}

/// Releases a fleet set and the handles of its fleets. 0 is accepted and ignored. Breakers and
/// families made with it keep their fleet levels, which no host syncs any more: they go stale and
/// the degraded mode decides. Free it after destroying its breakers and families.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_INVALID_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_fleet_set_free(set: circuit_fleet_set) -> circuit_status {
    guard("circuit_fleet_set_free", || {
        if set == 0 {
            return CIRCUIT_OK;
        }
        match FLEET_SETS.remove(set) {
            Some(entry) => {
                entry.freed.store(true, Ordering::SeqCst);
                for (_, fleet) in entry.set.all() {
                    fleet.unregister();
                }
                CIRCUIT_OK
            }
            None => invalid("circuit_fleet_set_free", set),
        }
    })
}

/// Makes the breakers and families created from `config` draw their fleet level from `set`: a
/// family member gets the set's fleet of the member's name (`<family>/<key>`, the overflow
/// breaker its own), a breaker (`circuit_create`) the fleet of its name. It replaces a fleet set
/// with `circuit_config_set_fleet` (and that one replaces it). `set` 0 detaches.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`, not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_fleet_set(
    config: *mut circuit_config,
    set: circuit_fleet_set,
) -> circuit_status {
    guard("circuit_config_set_fleet_set", || {
        non_null!("circuit_config_set_fleet_set", config);
        let entry = if set == 0 {
            None
        } else {
            match get(set) {
                Some(entry) => Some(entry),
                None => return invalid("circuit_config_set_fleet_set", set),
            }
        };
        // SAFETY: non-null; the caller guarantees it is live and not used concurrently.
        unsafe {
            if entry.is_some() {
                (*config).fleet = None;
            }
            (*config).fleet_set = entry;
        }
        CIRCUIT_OK
    })
}

/// The set's fleets, for the host's sync loop: first forgets the idle ones (see
/// `circuit_fleet_set_new`), then writes up to `capacity` fleet handles to `out_fleets` (NULL
/// allowed with `capacity` 0) and the number of fleets to `*out_len` (call again with a larger
/// buffer when it exceeds `capacity`). The handles belong to the set: poll them like any fleet
/// (`circuit_fleet_poll`, `_complete`, `_fail`, `_status`, `_on_event`, `_name`), never free them.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_fleets` points to `capacity` writable handles (NULL allowed when `capacity` is 0);
/// `out_len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_set_fleets(
    set: circuit_fleet_set,
    out_fleets: *mut circuit_fleet,
    capacity: usize,
    out_len: *mut usize,
) -> circuit_status {
    guard("circuit_fleet_set_fleets", || {
        non_null!("circuit_fleet_set_fleets", out_len);
        if capacity != 0 {
            non_null!("circuit_fleet_set_fleets", out_fleets);
        }
        let Some(entry) = get(set) else { return invalid("circuit_fleet_set_fleets", set) };
        // The fleet table keeps one reference of each fleet.
        for (_, gone) in entry.set.sweep(entry.now(), 1) {
            gone.unregister();
        }
        let fleets = entry.set.all();
        for (i, (_, fleet)) in fleets.iter().take(capacity).enumerate() {
            // SAFETY: `i < capacity` and the buffer holds `capacity` handles per the contract.
            unsafe { out_fleets.add(i).write(fleet.handle.load(std::sync::atomic::Ordering::Acquire)) };
        }
        // SAFETY: non-null and writable per the contract.
        unsafe { out_len.write(fleets.len()) };
        CIRCUIT_OK
    })
}

/// Copies the fleet's name (the breaker's, e.g. `<family>/<key>`; not NUL-terminated) into
/// `buffer` (up to `capacity` bytes; NULL allowed with `capacity` 0) and writes its length in
/// bytes to `*out_len` (call again with a larger buffer when it exceeds `capacity`).
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `buffer` points to `capacity` writable bytes (NULL allowed when `capacity` is 0); `out_len`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_name(
    fleet: circuit_fleet,
    buffer: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> circuit_status {
    guard("circuit_fleet_name", || {
        non_null!("circuit_fleet_name", out_len);
        if capacity != 0 {
            non_null!("circuit_fleet_name", buffer);
        }
        let Some(entry) = crate::fleet::get(fleet) else {
            return fail(CIRCUIT_ERR_INVALID_HANDLE, format!("circuit_fleet_name: {fleet} is not a live fleet handle"));
        };
        let name = entry.fleet.config().name.as_bytes();
        let n = name.len().min(capacity);
        // SAFETY: `n <= capacity` bytes are writable per the contract; the regions cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr().cast::<c_char>(), buffer, n);
            out_len.write(name.len());
        }
        CIRCUIT_OK
    })
}
