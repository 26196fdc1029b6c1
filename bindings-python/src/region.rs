//! `circuit._circuit.HostRegion`: a host-shared region (crate `circuit-shm`, docs/shared.md), in
//! which breakers with the same name are one breaker across every process on the host that opens
//! the same path (`CircuitBreaker(..., region=region)`). Refusals raise `circuit.RegionError`
//! (defined in `circuit/_errors.py`) with the path, a kind string and the Rust message.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use circuit_shm::{ClockKind, ErrorKind, RegionError};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::errors::config_error;

static REGION_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The spelling of an error kind for Python (`RegionError.kind`).
fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Io { .. } => "io",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Symlink => "symlink",
        ErrorKind::NotRegularFile => "not_regular_file",
        ErrorKind::Truncated { .. } => "truncated",
        ErrorKind::SizeMismatch { .. } => "size_mismatch",
        ErrorKind::Foreign { .. } => "foreign",
        ErrorKind::NewerVersion { .. } => "newer_version",
        ErrorKind::UnknownVersion { .. } => "unknown_version",
        ErrorKind::NotReady => "not_ready",
        ErrorKind::BadHeader { .. } => "bad_header",
        ErrorKind::BadRecord { .. } => "bad_record",
        ErrorKind::InvalidOptions { .. } => "invalid_options",
        ErrorKind::LayoutMismatch { .. } => "layout_mismatch",
        ErrorKind::ClockMismatch { .. } => "clock_mismatch",
        ErrorKind::InvalidName { .. } => "invalid_name",
        ErrorKind::InvalidOptionsText { .. } => "invalid_options_text",
        ErrorKind::Full { .. } => "full",
        ErrorKind::OptionsMismatch { .. } => "options_mismatch",
        ErrorKind::LockNotRecoverable { .. } => "lock_not_recoverable",
        ErrorKind::Lock { .. } => "lock",
        ErrorKind::ClockNotManual => "clock_not_manual",
        ErrorKind::Unnamed => "unnamed",
        ErrorKind::Breaker { .. } => "breaker",
        _ => "other",
    }
}

/// `circuit.RegionError(path, kind, message, options)`: `options` names the differing options of
/// an options mismatch (empty otherwise).
pub(crate) fn region_error(py: Python<'_>, error: &RegionError) -> PyErr {
    let class = REGION_ERROR.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        Ok(py.import("circuit._errors")?.getattr("RegionError")?.cast_into::<PyType>()?.unbind())
    });
    let options: Vec<String> = match error.kind() {
        ErrorKind::OptionsMismatch { differences, .. } => differences.iter().map(|d| d.key.clone()).collect(),
        _ => Vec::new(),
    };
    let path = error.path().to_string_lossy().into_owned();
    match class {
        Ok(class) => match class.bind(py).call1((path, kind_name(error.kind()), error.to_string(), options)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(err) => err,
        },
        Err(err) => PyRuntimeError::new_err(format!("circuit.RegionError is unavailable: {err}")),
    }
}

/// A host-shared region, opened (or created, mode 0600) at a path.
#[pyclass(frozen, module = "circuit._circuit")]
pub(crate) struct HostRegion {
    /// None once closed (breakers made in it keep working: the mapping stays for the process).
    inner: Mutex<Option<circuit_shm::HostRegion>>,
    path: PathBuf,
    capacity: usize,
    manual: bool,
}

impl HostRegion {
    fn closed_error(&self) -> PyErr {
        PyValueError::new_err(format!("circuit region {}: the region is closed", self.path.display()))
    }

    /// The engine breaker of `config` in this region.
    pub(crate) fn breaker(&self, py: Python<'_>, config: engine::Config) -> PyResult<engine::CircuitBreaker> {
        let region = self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(region) = region else { return Err(self.closed_error()) };
        py.detach(move || region.breaker(config)).map_err(|e| region_error(py, &e))
    }

    /// A family builder whose members `<name>/<key>` (and overflow breaker) are breakers of this
    /// region (`circuit_shm::HostRegion::family`; on a manual-clock region it has the region's
    /// clock already).
    pub(crate) fn family(&self, py: Python<'_>, config: engine::Config) -> PyResult<engine::FamilyBuilder> {
        let region = self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(region) = region else { return Err(self.closed_error()) };
        region.family(config).map_err(|e| region_error(py, &e))
    }
}

#[pymethods]
impl HostRegion {
    /// Opens the region at `path` (a str or `os.PathLike`), creating it if it does not exist:
    /// mode 0600, `capacity` breaker records, the host's monotonic clock or (`manual_clock`, for
    /// tests) a manual clock in the region that `advance` moves for every process.
    #[new]
    #[pyo3(signature = (path, capacity = 64, *, manual_clock = false))]
    fn new(py: Python<'_>, path: &Bound<'_, PyAny>, capacity: i64, manual_clock: bool) -> PyResult<Self> {
        let path: PathBuf =
            py.import("os")?.call_method1("fspath", (path,)).and_then(|p| p.extract()).map_err(|_| {
                let type_name = path.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
                PyTypeError::new_err(format!("HostRegion: `path` must be a str or os.PathLike, got {type_name}"))
            })?;
        let capacity = usize::try_from(capacity)
            .ok()
            .filter(|c| *c >= 1)
            .ok_or_else(|| config_error(py, "capacity", "invalid option `capacity`: must be at least 1".into()))?;
        let mut options = circuit_shm::HostRegion::options(capacity);
        if manual_clock {
            options.clock = ClockKind::Manual;
        }
        let opening = path.clone();
        let region = py
            .detach(move || circuit_shm::HostRegion::open_with(&opening, options))
            .map_err(|e| region_error(py, &e))?;
        let capacity = region.region().capacity();
        let manual = region.region().clock_kind() == ClockKind::Manual;
        Ok(Self { inner: Mutex::new(Some(region)), path, capacity, manual })
    }

    /// The region's path, as given.
    #[getter]
    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// The number of breaker records (fixed when the region was created).
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the region uses a manual clock (else the host's monotonic clock).
    #[getter]
    fn manual_clock(&self) -> bool {
        self.manual
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// Moves a manual-clock region's clock forward by `seconds` (>= 0) for every process; returns
    /// the new instant in seconds. A host-clock region raises `RegionError` (kind
    /// "clock_not_manual").
    fn advance(&self, py: Python<'_>, seconds: f64) -> PyResult<f64> {
        let by = engine::host::duration_from_f64("seconds", seconds, 1e9)
            .map_err(|e| config_error(py, e.option(), e.to_string()))?;
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(region) = guard.as_ref() else { return Err(self.closed_error()) };
        let now = region.advance(by).map_err(|e| region_error(py, &e))?;
        Ok(std::time::Duration::from_nanos(now).as_secs_f64())
    }

    /// A manual-clock region's current instant in seconds; a host-clock region raises
    /// `RegionError` (kind "clock_not_manual").
    fn now(&self, py: Python<'_>) -> PyResult<f64> {
        use engine::Clock;
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(region) = guard.as_ref() else { return Err(self.closed_error()) };
        let clock = region.manual_clock().map_err(|e| region_error(py, &e))?;
        Ok(std::time::Duration::from_nanos(clock.now_nanos()).as_secs_f64())
    }

    /// Lets go of this object's handle on the region; breakers made in it keep working (their
    /// mapping stays for the life of the process). New breakers and `advance` then raise
    /// `ValueError`. Closing twice is allowed.
    fn close(&self) {
        let region = self.inner.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(region);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        let clock = if self.manual { "manual" } else { "host" };
        format!("HostRegion({:?}, capacity={}, clock={clock})", self.path.display().to_string(), self.capacity)
    }
}

/// This breaker object's own counts (`CircuitBreaker.process_counts()`): what this process (this
/// object) did, while `metrics()` of a breaker in a region are region-wide.
#[pyclass(frozen, get_all, module = "circuit._circuit")]
pub(crate) struct ProcessCounts {
    admitted: u64,
    rejected_open: u64,
    successes: u64,
    failures: u64,
    ignored: u64,
    slow: u64,
    stale: u64,
}

impl ProcessCounts {
    pub(crate) fn of(c: &engine::ProcessCounts) -> Self {
        Self {
            admitted: c.admitted,
            rejected_open: c.rejected_open,
            successes: c.successes,
            failures: c.failures,
            ignored: c.ignored,
            slow: c.slow,
            stale: c.stale,
        }
    }
}

#[pymethods]
impl ProcessCounts {
    fn __repr__(&self) -> String {
        format!(
            "ProcessCounts(admitted={}, rejected_open={}, successes={}, failures={}, ignored={}, slow={}, stale={})",
            self.admitted, self.rejected_open, self.successes, self.failures, self.ignored, self.slow, self.stale
        )
    }
}
