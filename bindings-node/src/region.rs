//! `NativeRegion`, the owner of one host region (`HostRegion` in `lib/region.js`): a file mapped by
//! every process on the host that opens the same path, whose breakers with the same name are one
//! breaker across processes (docs/shared.md, `circuit_shm::HostRegion`). Creating a breaker in it
//! is `createBreaker`'s `region` argument (`breaker.rs`). Every failure is a [`RegionProblem`]
//! (`lib/errors.js` makes it a `RegionError`, `code: 'ECIRCUITREGION'`) with the region crate's
//! message, which names the path and the problem (for an options mismatch, every differing option).
//! Linux only: elsewhere opening a region is the problem `unsupported`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

#[cfg(target_os = "linux")]
use crate::clock::ms;
#[cfg(target_os = "linux")]
use crate::protocol::NANOS_PER_MS;

/// Why a region could not be opened or used: `kind` (snake_case, see [`kind_name`]), the message
/// of the region crate, and for `options_mismatch` the differing options (core names).
#[napi(object)]
pub struct RegionProblem {
    pub kind: String,
    pub message: String,
    pub options: Option<Vec<String>>,
}

#[cfg(target_os = "linux")]
type Inner = circuit_shm::HostRegion;
#[cfg(not(target_os = "linux"))]
type Inner = ();

/// An open host region.
#[napi]
pub struct NativeRegion {
    pub(crate) region: Inner,
}

/// The name of an error kind, as `RegionError.kind` gives it.
#[cfg(target_os = "linux")]
pub(crate) fn kind_name(kind: &circuit_shm::ErrorKind) -> &'static str {
    use circuit_shm::ErrorKind as K;
    match kind {
        K::Io { .. } => "io",
        K::NotFound => "not_found",
        K::Symlink => "symlink",
        K::NotRegularFile => "not_regular_file",
        K::Truncated { .. } => "truncated",
        K::SizeMismatch { .. } => "size_mismatch",
        K::Foreign { .. } => "foreign",
        K::NewerVersion { .. } => "newer_version",
        K::UnknownVersion { .. } => "unknown_version",
        K::NotReady => "not_ready",
        K::BadHeader { .. } => "bad_header",
        K::BadRecord { .. } => "bad_record",
        K::InvalidOptions { .. } => "invalid_options",
        K::LayoutMismatch { .. } => "layout_mismatch",
        K::ClockMismatch { .. } => "clock_mismatch",
        K::InvalidName { .. } => "invalid_name",
        K::InvalidOptionsText { .. } => "invalid_options_text",
        K::Full { .. } => "full",
        K::OptionsMismatch { .. } => "options_mismatch",
        K::LockNotRecoverable { .. } => "lock_not_recoverable",
        K::Lock { .. } => "lock",
        K::ClockNotManual => "clock_not_manual",
        K::Unnamed => "unnamed",
        K::Breaker { .. } => "breaker",
        _ => "other",
    }
}

#[cfg(target_os = "linux")]
pub(crate) fn region_problem(e: &circuit_shm::RegionError) -> RegionProblem {
    let options = match e.kind() {
        circuit_shm::ErrorKind::OptionsMismatch { differences, .. } => {
            Some(differences.iter().map(|d| d.key.clone()).collect())
        }
        _ => None,
    };
    RegionProblem { kind: kind_name(e.kind()).to_owned(), message: e.to_string(), options }
}

fn problem(kind: &str, message: String) -> RegionProblem {
    RegionProblem { kind: kind.to_owned(), message, options: None }
}

/// Opens the region at `path` (created, mode 0600, if it does not exist) with `capacity` breaker
/// records and the host's monotonic clock, or a manual clock when `manual_clock` (tests); or says
/// why not. `lib/region.js` has checked the types.
#[napi(catch_unwind)]
pub fn open_region(path: String, capacity: f64, manual_clock: bool) -> Either<NativeRegion, RegionProblem> {
    if !(capacity.is_finite() && capacity.fract() == 0.0 && capacity >= 1.0) {
        return Either::B(problem(
            "invalid_options",
            format!("circuit region {path}: capacity must be a whole number >= 1, got {capacity}"),
        ));
    }
    open(path, capacity, manual_clock)
}

#[cfg(target_os = "linux")]
fn open(path: String, capacity: f64, manual_clock: bool) -> Either<NativeRegion, RegionProblem> {
    let mut options = circuit_shm::HostRegion::options(capacity.min(usize::MAX as f64) as usize);
    if manual_clock {
        options.clock = circuit_shm::ClockKind::Manual;
    }
    match circuit_shm::HostRegion::open_with(&path, options) {
        Ok(region) => Either::A(NativeRegion { region }),
        Err(e) => Either::B(region_problem(&e)),
    }
}

#[cfg(not(target_os = "linux"))]
fn open(path: String, _capacity: f64, _manual_clock: bool) -> Either<NativeRegion, RegionProblem> {
    Either::B(problem("unsupported", format!("circuit region {path}: host regions are supported on Linux only")))
}

#[napi]
impl NativeRegion {
    /// The region's capacity (fixed at creation).
    #[napi(getter, catch_unwind)]
    pub fn capacity(&self) -> f64 {
        #[cfg(target_os = "linux")]
        return self.region.region().capacity() as f64;
        #[cfg(not(target_os = "linux"))]
        0.0
    }

    /// Whether the region uses a manual clock.
    #[napi(getter, catch_unwind)]
    pub fn manual_clock(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.region.region().clock_kind() == circuit_shm::ClockKind::Manual;
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Moves the region's manual clock forward by `by` ms (every process sees it); the new
    /// instant in ms, or the problem (`clock_not_manual` for a host-clock region). A negative, NaN
    /// or infinite value throws.
    #[napi(catch_unwind)]
    pub fn advance(&self, by: f64) -> Result<Either<f64, RegionProblem>> {
        #[cfg(target_os = "linux")]
        {
            let by = engine::duration_from_f64("ms", by, NANOS_PER_MS)
                .map_err(|e| Error::new(Status::InvalidArg, e.reason().to_owned()))?;
            Ok(match self.region.advance(by) {
                Ok(now) => Either::A(ms(std::time::Duration::from_nanos(now))),
                Err(e) => Either::B(region_problem(&e)),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = by;
            Ok(Either::B(problem("unsupported", "host regions are supported on Linux only".to_owned())))
        }
    }

    /// The current instant of the region's clock in ms.
    #[napi(catch_unwind)]
    pub fn now(&self) -> f64 {
        #[cfg(target_os = "linux")]
        return self.region.region().clock().now() as f64 / NANOS_PER_MS;
        #[cfg(not(target_os = "linux"))]
        0.0
    }
}
