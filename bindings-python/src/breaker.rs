//! The native breaker: `circuit._circuit.Breaker`, subclassed by `circuit.CircuitBreaker`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::classify::Ignore;
use crate::clock::ManualClock;
use crate::delivery::{Gate, deliver};
use crate::errors::{recorded_error, type_error};
use crate::metrics::Metrics;
use crate::options::duration;
use crate::permit::Permit;
use crate::region::{HostRegion, ProcessCounts};

#[pyclass(frozen, subclass, module = "circuit._circuit")]
pub(crate) struct Breaker {
    pub(crate) inner: Arc<engine::CircuitBreaker>,
    pub(crate) ignore: Ignore,
    fallback: Option<Py<PyAny>>,
    timeout: Option<f64>,
    clock: Option<Py<ManualClock>>,
    /// The host region the breaker lives in, or None (`region.rs`).
    region: Option<Py<HostRegion>>,
    /// The listeners registered through this object, with their gates (`delivery.rs`).
    listeners: Mutex<Vec<(u64, Arc<Gate>)>>,
    /// The fleet breaker the calls also go through (`fleet.rs`), or None.
    fleet: Option<crate::fleet::FleetLink>,
}

/// One transition, as handed to the Python-level listener wrapper.
#[pyclass(frozen, get_all, module = "circuit._circuit")]
pub(crate) struct StateChange {
    from_state: &'static str,
    to_state: &'static str,
    reason: &'static str,
    at: f64,
    generation: u64,
    /// Whether another process made the transition (a breaker in a host region).
    remote: bool,
}

/// The Python-only options of a breaker (`ignore`, `fallback`, `timeout`, `clock`), parsed once
/// and shared by every member of a family.
pub(crate) struct PyOptions {
    pub(crate) ignore: Ignore,
    pub(crate) fallback: Option<Py<PyAny>>,
    pub(crate) timeout: Option<f64>,
    pub(crate) clock: Option<Py<ManualClock>>,
}

impl PyOptions {
    /// Checks and converts the Python-only options (None means not given).
    pub(crate) fn parse<'py>(
        py: Python<'py>,
        ignore: Option<&Bound<'py, PyAny>>,
        fallback: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        clock: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        fn present<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
            v.filter(|v| !v.is_none())
        }
        let ignore = Ignore::parse(present(ignore))?;
        let fallback = match present(fallback) {
            Some(f) if f.is_callable() => Some(f.clone().unbind()),
            Some(f) => return Err(type_error("fallback", "a callable", f)),
            None => None,
        };
        let timeout = match present(timeout) {
            Some(t) => {
                let d = duration(py, "timeout", t)?;
                if d.is_zero() {
                    return Err(crate::errors::config_error(
                        py,
                        "timeout",
                        "invalid option `timeout`: must be greater than zero".into(),
                    ));
                }
                Some(d.as_secs_f64())
            }
            None => None,
        };
        let clock = match present(clock) {
            Some(c) => Some(
                c.cast::<ManualClock>().map_err(|_| type_error("clock", "a circuit.ManualClock", c))?.clone().unbind(),
            ),
            None => None,
        };
        Ok(Self { ignore, fallback, timeout, clock })
    }
}

/// What `Breaker.__new__` adopts instead of parsing options: an existing engine breaker (a family
/// member), the family's Python-only options and the host region the family lives in (None for a
/// family of one process). Never exposed to Python code.
#[pyclass(frozen, module = "circuit._circuit", name = "_MemberSeed")]
pub(crate) struct MemberSeed {
    pub(crate) inner: Arc<engine::CircuitBreaker>,
    pub(crate) options: Arc<PyOptions>,
    pub(crate) region: Option<Py<HostRegion>>,
    /// The family's `circuit.RedisFleet`, or None.
    pub(crate) fleet: Option<Py<PyAny>>,
}

impl Breaker {
    fn from_parts(
        inner: Arc<engine::CircuitBreaker>,
        options: &PyOptions,
        region: Option<Py<HostRegion>>,
        py: Python<'_>,
    ) -> Self {
        Self {
            inner,
            ignore: options.ignore.clone_ref(py),
            fallback: options.fallback.as_ref().map(|f| f.clone_ref(py)),
            timeout: options.timeout,
            clock: options.clock.as_ref().map(|c| c.clone_ref(py)),
            region,
            listeners: Mutex::new(Vec::new()),
            fleet: None,
        }
    }
}

impl StateChange {
    /// The event of an engine transition.
    pub(crate) fn of(t: &engine::Transition) -> Self {
        Self {
            from_state: t.from.as_str(),
            to_state: t.to.as_str(),
            reason: t.reason.as_str(),
            at: t.at.as_secs_f64(),
            generation: t.generation,
            remote: t.remote,
        }
    }
}

#[pymethods]
impl Breaker {
    /// `state` (a document from `export_state`, str or UTF-8 bytes) restores a saved state: the
    /// breaker is built, imports it at the wall-clock instant `state_now` (unix seconds; None for
    /// the system time, given only by tests), and on a refused document `StateError` is raised and
    /// nothing is created. `region` (a `HostRegion`) puts the breaker in a host-shared region: the
    /// breaker of that name in the region, shared by every process that opens it; it reads the
    /// region's clock, so it does not take `clock`.
    #[new]
    #[pyo3(signature = (name = None, *, ignore = None, fallback = None, timeout = None, clock = None, region = None, state = None, state_now = None, fleet = None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        py: Python<'py>,
        name: Option<&Bound<'py, PyAny>>,
        ignore: Option<&Bound<'py, PyAny>>,
        fallback: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        clock: Option<&Bound<'py, PyAny>>,
        region: Option<&Bound<'py, PyAny>>,
        state: Option<&Bound<'py, PyAny>>,
        state_now: Option<&Bound<'py, PyAny>>,
        fleet: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Self> {
        if let Some(seed) = name.and_then(|n| n.cast::<MemberSeed>().ok()) {
            // A family member's wrapper (`circuit._circuit.Family.get`): adopts the engine breaker
            // the seed carries, with the family's Python-only options and region.
            let seed = seed.get();
            let region = seed.region.as_ref().map(|r| r.clone_ref(py));
            let fleet = match &seed.fleet {
                Some(f) => Some(crate::fleet::FleetLink::attach(py, f.bind(py), seed.inner.name())?),
                None => None,
            };
            let mut this = Self::from_parts(Arc::clone(&seed.inner), &seed.options, region, py);
            this.fleet = fleet;
            return Ok(this);
        }
        let state = state.filter(|s| !s.is_none());
        let state_now = state_now.filter(|s| !s.is_none());
        if state.is_none() && state_now.is_some() {
            return Err(PyTypeError::new_err("CircuitBreaker: `state_now` is given without `state`"));
        }
        // Checked before anything is built, like every other argument.
        let import_at = match state {
            Some(_) => Some(crate::http::wall_instant("CircuitBreaker", "state_now", state_now)?),
            None => None,
        };
        // The engine options (every `engine::OPTIONS` name), converted by kind; built after the
        // Python-only options below are checked.
        let builder = crate::options::builder(py, name, options)?;
        let options = PyOptions::parse(py, ignore, fallback, timeout, clock)?;
        let region = match region.filter(|r| !r.is_none()) {
            Some(r) => Some(
                r.cast::<HostRegion>()
                    .map_err(|_| crate::errors::type_error("region", "a circuit.HostRegion", r))?
                    .clone()
                    .unbind(),
            ),
            None => None,
        };
        if region.is_some() && options.clock.is_some() {
            return Err(PyTypeError::new_err(
                "CircuitBreaker: `clock` and `region` cannot be given together: a breaker in a region reads the \
                 region's clock (for tests, a HostRegion(..., manual_clock=True) and its advance())",
            ));
        }
        let config = builder.build().map_err(|e| crate::errors::config_error(py, e.option(), e.to_string()))?;
        let inner = match (&region, &options.clock) {
            (Some(r), _) => r.get().breaker(py, config)?,
            (None, Some(c)) => engine::CircuitBreaker::with_clock(config, c.get().inner.clone()),
            (None, None) => engine::CircuitBreaker::new(config),
        };
        if let (Some(document), Some(at)) = (state, import_at) {
            crate::state::import(py, "CircuitBreaker", &inner, document, at)?;
        }
        let fleet = match fleet.filter(|f| !f.is_none()) {
            Some(f) => Some(crate::fleet::FleetLink::attach(py, f, inner.name())?),
            None => None,
        };
        let inner = Arc::new(inner);
        if let Some(link) = &fleet {
            // The fleet's deltas come from this breaker's own counters (Fleet::attach); a second
            // breaker on the same fleet keeps the fleet's tally. Family members keep it too: a
            // fleet holding one would pin it in its family.
            let _ = link.handle.get().inner.attach(&inner);
        }
        let mut this = Self::from_parts(inner, &options, region, py);
        this.fleet = fleet;
        Ok(this)
    }

    /// The host region the breaker lives in, or None.
    #[getter]
    fn region(&self, py: Python<'_>) -> Option<Py<HostRegion>> {
        self.region.as_ref().map(|r| r.clone_ref(py))
    }

    /// The `circuit.RedisFleet` the breaker's calls also go through, or None.
    #[getter]
    fn fleet(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fleet.as_ref().map(|f| f.owner.clone_ref(py))
    }

    /// The fleet level's state (`FleetStatus`), or None for a breaker without a fleet.
    fn fleet_status(&self, py: Python<'_>) -> Option<Py<crate::fleet::FleetStatus>> {
        let link = self.fleet.as_ref()?;
        Py::new(py, link.handle.get().status_of()).ok()
    }

    /// This object's own counts (what this process did through it); `metrics()` of a breaker in
    /// a region are region-wide. For a breaker of one process, its counts; None when the
    /// object has no counts of its own (beyond the 16 objects of a shared breaker that do).
    fn process_counts(&self) -> Option<ProcessCounts> {
        self.inner.process_counts().map(|c| ProcessCounts::of(&c))
    }

    /// The breaker's name, or None.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The state as a string (the Python class exposes it as `circuit.State`).
    #[getter]
    fn _state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    /// The async call timeout in seconds, or None.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.timeout
    }

    /// The fallback callable, or None.
    #[getter]
    fn fallback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fallback.as_ref().map(|f| f.clone_ref(py))
    }

    /// The manual clock, or None.
    #[getter]
    fn clock(&self, py: Python<'_>) -> Option<Py<ManualClock>> {
        self.clock.as_ref().map(|c| c.clone_ref(py))
    }

    /// Asks to make a call: a `Permit`, or raises `CircuitOpenError`.
    fn allow(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        let breaker = slf.get();
        match breaker.admit_call(slf.py()) {
            Ok(admitted) => Ok(Permit::new(breaker.hold(admitted), slf.clone().unbind())),
            Err(refused) => Err(breaker.refused_error(slf.py(), &refused)),
        }
    }

    /// Fast admission for the async decorator: a plain int (the generation) for a closed-state
    /// permit that needs no bookkeeping, else a `Permit`. Raises `CircuitOpenError`.
    fn _admit(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        match slf.get().admit_call(slf.py()) {
            Ok(admitted) => token_of(slf, admitted),
            Err(refused) => Err(slf.get().refused_error(slf.py(), &refused)),
        }
    }

    /// Records the outcome for a token from `_admit` (or any `Permit`): success when `exception`
    /// is None, else classified like the decorator does.
    fn _done(&self, py: Python<'_>, token: &Bound<'_, PyAny>, exception: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let outcome = self.ignore.outcome_of_exception(py, exception);
        self.record_token_outcome(py, token, outcome)
    }

    /// Records a failure for a token from `_admit` (or any `Permit`), whatever `ignore` says: the
    /// outcome of a call whose deadline expired.
    fn _fail(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.record_token_outcome(py, token, engine::Outcome::Failure)
    }

    /// Records a success; True if it counted, False if the permit was stale.
    fn record_success(&self, py: Python<'_>, permit: &Permit) -> PyResult<bool> {
        self.record(py, permit, engine::Outcome::Success)
    }

    /// Records a failure; True if it counted, False if the permit was stale. `retry_after` (float
    /// seconds or a `timedelta`) is the dependency's own retry time: if this failure opens the
    /// breaker, it stays open at least that long (capped by `max_reset_timeout`). None or 0 is an
    /// ordinary failure.
    #[pyo3(signature = (permit, *, retry_after = None))]
    fn record_failure(
        &self,
        py: Python<'_>,
        permit: &Permit,
        retry_after: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let Some(retry_after) = retry_after.filter(|value| !value.is_none()) else {
            return self.record(py, permit, engine::Outcome::Failure);
        };
        let retry_after = retry_duration(py, retry_after)?;
        if retry_after.is_zero() {
            return self.record(py, permit, engine::Outcome::Failure);
        }
        self.check_issuer(permit)?;
        match permit.inner.record_failure_retry_after(retry_after) {
            Ok(recorded) => Ok(recorded.counted()),
            Err(e) => Err(recorded_error(py, e)),
        }
    }

    /// Records a neutral outcome; True if it counted, False if the permit was stale.
    fn record_ignored(&self, py: Python<'_>, permit: &Permit) -> PyResult<bool> {
        self.record(py, permit, engine::Outcome::Ignored)
    }

    /// Calls `func(*args, **kwargs)` through the breaker (the sync decorator's path).
    /// A result that is awaitable (a coroutine, a future, anything with `__await__`) is not an
    /// outcome yet: an awaitable is returned that awaits it and records what it gives.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn call(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        Self::protect(slf, func, args, kwargs)
    }

    /// Goes to `closed` (new generation, empty window, backoff reset).
    fn reset(&self) {
        self.inner.reset();
    }

    /// Rejects every call until `reset()` or `disable()`.
    fn force_open(&self) {
        self.inner.force_open();
    }

    /// Admits every call and never trips, until `reset()` or `force_open()`.
    fn disable(&self) {
        self.inner.disable();
    }

    /// A metrics snapshot.
    fn metrics(&self) -> Metrics {
        Metrics::of(&self.inner.metrics())
    }

    /// The breaker's state as a JSON document (docs/observability.md), for
    /// `CircuitBreaker(..., state=document)` in this or another process or language. `now` is the
    /// wall-clock export instant in unix seconds (None: the system time; given by tests).
    #[pyo3(signature = (*, now = None))]
    fn export_state(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        let at = crate::http::wall_instant("export_state", "now", now)?;
        Ok(crate::state::export(py, &self.inner, at))
    }

    /// The engine's import on this existing breaker, at `now` (unix seconds; None: the system
    /// time): raises `StateError` (`field` "state") if the breaker has been used. The public way
    /// to restore is at construction; this is for tests.
    #[pyo3(signature = (document, now = None))]
    fn _import_state(
        &self,
        py: Python<'_>,
        document: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let at = crate::http::wall_instant("_import_state", "now", now)?;
        crate::state::import(py, "_import_state", &self.inner, document, at)
    }

    /// Registers `callback(StateChange)` for every transition; returns an id for
    /// `_remove_listener`. Errors raised by the callback are reported as unraisable.
    fn _on_transition(&self, callback: Py<PyAny>) -> u64 {
        let gate = Arc::new(Gate::default());
        let delivering = Arc::clone(&gate);
        let callback = Arc::new(callback);
        let id = self
            .inner
            .on_transition(move |t| {
                let event = StateChange::of(t);
                let (gate, callback) = (Arc::clone(&delivering), Arc::clone(&callback));
                Python::attach(|py| {
                    deliver(py, move |py| {
                        gate.run(|| {
                            if let Err(problem) = callback.call1(py, (event,)) {
                                problem.write_unraisable(py, Some(callback.bind(py)));
                            }
                        })
                    })
                })
            })
            .as_raw();
        self.listeners.lock().unwrap_or_else(PoisonError::into_inner).push((id, gate));
        id
    }

    /// Unregisters a listener. The engine may wait here for a delivery of it in progress on
    /// another thread, and that delivery needs the GIL: so the GIL is released meanwhile.
    fn _remove_listener(&self, py: Python<'_>, id: u64) -> bool {
        let gate = {
            let mut listeners = self.listeners.lock().unwrap_or_else(PoisonError::into_inner);
            listeners.iter().position(|(i, _)| *i == id).map(|index| listeners.swap_remove(index).1)
        };
        let inner = Arc::clone(&self.inner);
        py.detach(move || {
            let removed = inner.remove_listener(engine::ListenerId::from_raw(id));
            if let Some(gate) = gate {
                gate.close();
            }
            removed
        })
    }

    /// Wraps a sync function so that calls go through the breaker (native, for speed).
    fn _guard(slf: &Bound<'_, Self>, func: Py<PyAny>) -> crate::guard::Guarded {
        crate::guard::Guarded::new(slf.clone().unbind(), func)
    }

    /// Wraps a coroutine function: each call returns a `ProtectedCall` (admitted when awaited).
    /// Only for a breaker without `timeout` (the Python side applies deadlines).
    fn _guard_async<'py>(slf: &Bound<'py, Self>, func: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        crate::async_guard::new(slf, func)
    }

    /// `func(*args, **kwargs)` through the breaker, as a `ProtectedCall` (admitted when awaited).
    /// Only for a breaker without `timeout`.
    #[pyo3(signature = (func, args, kwargs = None))]
    fn _call_async(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let stage = crate::protected_call::pending(slf, func, crate::arguments::Arguments::packed(args, kwargs));
        Ok(crate::protected_call_type::new(slf.py(), stage)?.unbind())
    }
}

impl Breaker {
    /// Admission: the local breaker, then the fleet if one is attached (`Fleet::allow_call`). No I/O.
    #[inline(always)]
    pub(crate) fn admit_call(&self, py: Python<'_>) -> Result<crate::fleet::Admitted, engine::fleet::Refused> {
        match &self.fleet {
            None => self.inner.allow_raw().map(crate::fleet::Admitted::Local).map_err(engine::fleet::Refused::Local),
            Some(link) => {
                let handle = link.handle.get();
                handle.wake(py);
                handle.inner.allow_call(&self.inner, || handle.now()).map(crate::fleet::Admitted::Fleet)
            }
        }
    }

    /// Records an admission's outcome on both levels (`Fleet::record_call` with a fleet). No I/O.
    #[inline(always)]
    pub(crate) fn record_admitted(
        &self,
        admitted: crate::fleet::Admitted,
        outcome: engine::Outcome,
    ) -> Result<engine::Recorded, engine::PermitError> {
        match (admitted, &self.fleet) {
            (crate::fleet::Admitted::Fleet(permit), Some(link)) => {
                link.handle.get().inner.record_call(&self.inner, permit, outcome)
            }
            (admitted, _) => self.inner.record_raw(admitted.raw(), outcome),
        }
    }

    /// The owned permit of an admission.
    pub(crate) fn hold(&self, admitted: crate::fleet::Admitted) -> crate::fleet::Hold {
        crate::fleet::Hold::new(Arc::clone(&self.inner), self.fleet.as_ref().map(|l| &l.handle.get().inner), admitted)
    }

    /// The `CircuitOpenError` of a refusal (`fleet=True` when the fleet refused).
    pub(crate) fn refused_error(&self, py: Python<'_>, refused: &engine::fleet::Refused) -> PyErr {
        crate::fleet::refused_error(py, self.inner.name(), refused)
    }

    fn record(&self, py: Python<'_>, permit: &Permit, outcome: engine::Outcome) -> PyResult<bool> {
        self.check_issuer(permit)?;
        match permit.inner.record(outcome) {
            Ok(recorded) => Ok(recorded.counted()),
            Err(e) => Err(recorded_error(py, e)),
        }
    }

    #[inline]
    fn check_issuer(&self, permit: &Permit) -> PyResult<()> {
        if !Arc::ptr_eq(permit.inner.breaker(), &self.inner) {
            return Err(PyValueError::new_err("the permit was issued by a different circuit breaker"));
        }
        Ok(())
    }

    /// The fallback callable, if any.
    pub(crate) fn fallback_callable(&self) -> Option<&Py<PyAny>> {
        self.fallback.as_ref()
    }

    /// Records an outcome for a token from `_admit` (an int or a `Permit`).
    pub(crate) fn record_token_outcome(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        outcome: engine::Outcome,
    ) -> PyResult<bool> {
        if let Ok(permit) = token.cast::<Permit>() {
            return self.record(py, permit.get(), outcome);
        }
        self.record_token(token, outcome)
    }

    /// Records an outcome for an int token from `_admit`.
    fn record_token(&self, token: &Bound<'_, PyAny>, outcome: engine::Outcome) -> PyResult<bool> {
        let generation: u64 = token.extract()?;
        let raw = engine::RawPermit::from_parts(generation, engine::RawPermit::NO_TIME, engine::RawPermit::NO_TICKET);
        Ok(self.inner.record_raw(raw, outcome).map(|r| r.counted()).unwrap_or(false))
    }

    /// Admission, call, classification, record: the whole protected call, in native code. An
    /// awaitable result is handed, with its permit, to the Python side, which records the
    /// outcome when it finishes.
    pub(crate) fn protect(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let permit = match this.admit_call(py) {
            Ok(permit) => permit,
            Err(refused) => {
                return match &this.fallback {
                    Some(fallback) => fallback.bind(py).call(args, kwargs).map(Bound::unbind),
                    None => Err(this.refused_error(py, &refused)),
                };
            }
        };
        let result = func.call(args, kwargs);
        let outcome = match &result {
            Ok(value) if is_awaitable(value) => {
                if this.timeout.is_none() && crate::protected_call::is_coroutine(value)? {
                    let token = crate::protected_call::Token::admitted(slf, permit)?;
                    let stage = crate::protected_call::running(slf, token, value);
                    return Ok(crate::protected_call_type::new(py, stage)?.unbind());
                }
                let token = token_of(slf, permit)?;
                return crate::errors::protect_awaitable(py, slf, token, value);
            }
            Ok(_) => engine::Outcome::Success,
            Err(error) => this.ignore.outcome_of(py, error),
        };
        let _ = this.record_admitted(permit, outcome);
        result.map(Bound::unbind)
    }
}

/// `record_failure`'s `retry_after`: float (or int) seconds or a `datetime.timedelta`, rounded to
/// whole nanoseconds; negative, NaN or infinite values raise `ValueError`, other types `TypeError`.
fn retry_duration(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    use pyo3::types::{PyBool, PyFloat, PyInt};
    let seconds: f64 = if !value.is_instance_of::<PyBool>()
        && (value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
    {
        value.extract()?
    } else if value.is_instance(&py.import("datetime")?.getattr("timedelta")?)? {
        value.call_method0("total_seconds")?.extract()?
    } else {
        let type_name = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!(
            "retry_after: expected a number of seconds or a timedelta, got {type_name}"
        )));
    };
    engine::host::duration_from_f64("retry_after", seconds, 1e9)
        .map_err(|e| PyValueError::new_err(format!("`retry_after` {}", e.reason())))
}

/// A permit as a token for `_done`/`_fail`: the plain generation for a closed-state permit that
/// needs no bookkeeping, else an owned `Permit` (so a dropped probe returns its slot).
pub(crate) fn token_of(slf: &Bound<'_, Breaker>, admitted: crate::fleet::Admitted) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    if admitted.is_plain() {
        return Ok(admitted.raw().generation().into_pyobject(py)?.into_any().unbind());
    }
    let owned = slf.get().hold(admitted);
    Ok(Py::new(py, Permit::new(owned, slf.clone().unbind()))?.into_any())
}

/// Whether `value` can be awaited (its type implements `__await__`). Cheap for the usual results:
/// exact builtin types are never awaitable, and for other types the type slot is read directly.
pub(crate) fn is_awaitable(value: &Bound<'_, PyAny>) -> bool {
    use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString};
    if value.is_none()
        || value.is_exact_instance_of::<PyInt>()
        || value.is_exact_instance_of::<PyString>()
        || value.is_exact_instance_of::<PyBool>()
        || value.is_exact_instance_of::<PyFloat>()
        || value.is_exact_instance_of::<PyDict>()
        || value.is_exact_instance_of::<PyList>()
        || value.is_exact_instance_of::<PyTuple>()
        || value.is_exact_instance_of::<PyBytes>()
    {
        return false;
    }
    // SAFETY: the type object is live (held by `value`); reading a slot of any type is allowed
    // by the 3.10 stable ABI.
    let slot = unsafe { pyo3::ffi::PyType_GetSlot(value.get_type().as_type_ptr(), pyo3::ffi::Py_am_await) };
    !slot.is_null()
}
