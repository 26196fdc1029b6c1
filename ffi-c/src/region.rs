//! Host regions (docs/shared.md, docs/c-api.md "Host-shared breakers"): `circuit_region` handles,
//! `circuit_config_set_region`, and the per-process counts of a shared breaker.
//!
//! A region is a file mapped by every process that opens it; breakers created in it by name are
//! one breaker across processes (`circuit_shm::HostRegion`). The handle follows the library's
//! handle rules (`handle.rs`): validated on every call, never reused, refused once closed.

use std::ffi::{CStr, c_char};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use circuit_shm::{ClockKind, HostRegion, RegionError};

use crate::breaker::with_breaker;
use crate::config::circuit_config;
use crate::handle::Table;
use crate::status::*;
use crate::types::*;

/// A host region handle (see `circuit_region_open`). 0 is never a valid handle; values are never
/// reused.
#[allow(non_camel_case_types)]
pub type circuit_region = u64;

/// A live region: the opened region, and whether it has been put in [`KEPT`].
pub(crate) struct RegionEntry {
    pub(crate) region: HostRegion,
    kept: Once,
}

impl RegionEntry {
    /// Called once a breaker lives in the region: its mapping then stays for the life of the
    /// process (the breaker reads its words through it), whatever happens to the handle.
    /// `circuit-shm` keeps it by leaking a reference; holding a clone in a static as well keeps
    /// that memory reachable, so leak checkers (LeakSanitizer, valgrind) do not report it.
    pub(crate) fn keep(&self) {
        self.kept.call_once(|| KEPT.lock().unwrap_or_else(PoisonError::into_inner).push(self.region.clone()));
    }
}

pub(crate) static REGIONS: Table<RegionEntry> = Table::new();
static KEPT: Mutex<Vec<HostRegion>> = Mutex::new(Vec::new());

fn invalid(function: &str, region: circuit_region) -> circuit_status {
    fail(CIRCUIT_ERR_INVALID_HANDLE, format!("{function}: {region} is not a live region handle"))
}

/// Reports a region error: `CIRCUIT_ERR_REGION` with the error's text (it names the path and the
/// problem) after the function's name.
pub(crate) fn region_error(function: &str, error: &RegionError) -> circuit_status {
    fail(CIRCUIT_ERR_REGION, format!("{function}: {error}"))
}

/// The live region named by `region`.
pub(crate) fn get(region: circuit_region) -> Option<Arc<RegionEntry>> {
    REGIONS.get(region)
}

unsafe fn open(
    function: &'static str,
    path: *const c_char,
    capacity: u32,
    clock: ClockKind,
    out_region: *mut circuit_region,
) -> circuit_status {
    guard(function, || {
        if path.is_null() {
            return fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `path` is NULL"));
        }
        if out_region.is_null() {
            return fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `out_region` is NULL"));
        }
        // SAFETY: non-null and NUL-terminated per the contract.
        let Ok(path) = unsafe { CStr::from_ptr(path) }.to_str() else {
            return fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: `path` is not valid UTF-8"));
        };
        if path.is_empty() {
            return fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: `path` is empty"));
        }
        let mut options = HostRegion::options(capacity as usize);
        options.clock = clock;
        let region = match HostRegion::open_with(path, options) {
            Ok(region) => region,
            Err(e) => return region_error(function, &e),
        };
        match REGIONS.insert(Arc::new(RegionEntry { region, kept: Once::new() })) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_region.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: too many live regions")),
        }
    })
}

/// Opens the host region at `path` (a file, typically under `/dev/shm`), creating it if it does
/// not exist: mode 0600, `capacity` breaker records (fixed at creation, at most 65536), the host's
/// monotonic clock. Every process that opens the same path shares its breakers. Writes the handle
/// to `*out_region`; close it with `circuit_region_close`.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_REGION` (the message names the path and the problem: a
/// missing directory, a symbolic link, a file that is not a region, a newer layout, another
/// capacity, a manual-clock region, ...); `CIRCUIT_ERR_NULL_POINTER`;
/// `CIRCUIT_ERR_INVALID_ARGUMENT` (`path` empty or not UTF-8, too many live regions).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out_region` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_region_open(
    path: *const c_char,
    capacity: u32,
    out_region: *mut circuit_region,
) -> circuit_status {
    // SAFETY: the caller's contract is open's.
    unsafe { open("circuit_region_open", path, capacity, ClockKind::Host, out_region) }
}

/// Like `circuit_region_open`, for a region on a manual clock (tests, simulations): the clock
/// starts at 0 and moves only with `circuit_region_advance`, from any process. Opening a
/// host-clock region this way (or a manual one with `circuit_region_open`) is `CIRCUIT_ERR_REGION`.
///
/// # Safety
/// As `circuit_region_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_region_open_manual(
    path: *const c_char,
    capacity: u32,
    out_region: *mut circuit_region,
) -> circuit_status {
    // SAFETY: the caller's contract is open's.
    unsafe { open("circuit_region_open_manual", path, capacity, ClockKind::Manual, out_region) }
}

/// Moves a manual-clock region's clock forward by `nanos` (saturating). Every process and every
/// breaker of the region sees it.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_REGION` (the region uses the
/// host clock).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_region_advance(region: circuit_region, nanos: u64) -> circuit_status {
    guard("circuit_region_advance", || match get(region) {
        Some(entry) => match entry.region.advance(Duration::from_nanos(nanos)) {
            Ok(_) => CIRCUIT_OK,
            Err(e) => region_error("circuit_region_advance", &e),
        },
        None => invalid("circuit_region_advance", region),
    })
}

/// Closes a region handle. Breakers created in it keep working (the mapping they use stays for
/// the life of the process); the file stays, with its breakers, for other processes. Closing
/// twice returns `CIRCUIT_ERR_INVALID_HANDLE` the second time.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_region_close(region: circuit_region) -> circuit_status {
    guard("circuit_region_close", || match REGIONS.remove(region) {
        Some(_) => CIRCUIT_OK,
        None => invalid("circuit_region_close", region),
    })
}

/// Makes `circuit_create` create breakers from this config in `region`: the breaker with the
/// config's name in the region, shared with every process that creates it there (the config must
/// have a name, and the same options as the breaker's other users). The breaker runs on the
/// region's clock, so the config must not also have a manual clock. The config holds the region
/// (closing the handle afterwards is fine). `circuit_family_create` with such a config makes a
/// family whose members (`<name>/<key>`) and overflow breaker live in the region.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_region(
    config: *mut circuit_config,
    region: circuit_region,
) -> circuit_status {
    guard("circuit_config_set_region", || {
        non_null!("circuit_config_set_region", config);
        match get(region) {
            Some(entry) => {
                // SAFETY: non-null, and the caller guarantees it came from circuit_config_new and
                // is not used concurrently.
                unsafe { (*config).region = Some(entry) };
                CIRCUIT_OK
            }
            None => invalid("circuit_config_set_region", region),
        }
    })
}

/// This process's own counts of a breaker (`circuit_process_counts`): what this breaker object
/// admitted and recorded, while `circuit_metrics` reports a shared breaker's region-wide totals.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct circuit_process_counts_snapshot {
    /// Calls admitted.
    pub admitted: u64,
    /// Calls rejected because the breaker was open.
    pub rejected_open: u64,
    /// Successes counted.
    pub successes: u64,
    /// Failures counted.
    pub failures: u64,
    /// Ignored outcomes.
    pub ignored: u64,
    /// Slow calls counted.
    pub slow: u64,
    /// Outcomes recorded with a stale permit.
    pub stale: u64,
}

/// Writes this breaker object's own counts to `*out_counts`: for a breaker in a region, what this
/// process admitted and recorded through this handle (the region-wide totals are
/// `circuit_metrics`); for any other breaker, its totals.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_NO_PROCESS_ENTRY` (a shared breaker whose object got no process
/// entry, because more than sixteen objects of it were alive at once: its counts go to a common
/// stripe; `*out_counts` is untouched); `CIRCUIT_ERR_INVALID_HANDLE`; `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_counts` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_process_counts(
    breaker: circuit_breaker,
    out_counts: *mut circuit_process_counts_snapshot,
) -> circuit_status {
    guard("circuit_process_counts", || {
        non_null!("circuit_process_counts", out_counts);
        with_breaker("circuit_process_counts", breaker, |b| match b.process_counts() {
            Some(c) => {
                let counts = circuit_process_counts_snapshot {
                    admitted: c.admitted,
                    rejected_open: c.rejected_open,
                    successes: c.successes,
                    failures: c.failures,
                    ignored: c.ignored,
                    slow: c.slow,
                    stale: c.stale,
                };
                // SAFETY: non-null and writable per the contract.
                unsafe { out_counts.write(counts) };
                CIRCUIT_OK
            }
            None => fail(
                CIRCUIT_NO_PROCESS_ENTRY,
                "circuit_process_counts: this breaker object has no process entry (more than 16 objects of it are alive)",
            ),
        })
    })
}

/// Whether the breaker lives in a host region (created with `circuit_config_set_region`).
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_shared` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_is_shared(breaker: circuit_breaker, out_shared: *mut bool) -> circuit_status {
    guard("circuit_is_shared", || {
        non_null!("circuit_is_shared", out_shared);
        with_breaker("circuit_is_shared", breaker, |b| {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_shared.write(b.is_shared()) };
            CIRCUIT_OK
        })
    })
}

/// Creates the breaker of `config` in `entry`'s region (for `circuit_create`).
pub(crate) fn create_in(entry: &RegionEntry, built: engine::Config) -> Result<engine::CircuitBreaker, circuit_status> {
    match entry.region.breaker(built) {
        Ok(breaker) => {
            entry.keep();
            Ok(breaker)
        }
        Err(e) => Err(region_error("circuit_create", &e)),
    }
}
