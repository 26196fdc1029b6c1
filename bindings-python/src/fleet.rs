//! Fleet breakers (docs/fleet.md, docs/python.md "Fleet breakers (Redis)"): the native half of
//! `circuit.RedisFleet`. `_Fleet` is the core's sans-IO fleet breaker of one breaker name
//! (`engine::fleet::Fleet`); the Python class (`circuit/_fleet.py`) runs its round trips with a
//! redis-py client on a thread or an asyncio task. A breaker with a fleet admits through
//! `Fleet::allow_call` and records through `Fleet::record_call` (`Admitted`, `Hold`): no I/O on
//! the call path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use engine::Clock;
use engine::fleet::{Fleet, FleetConfig, FleetEvent, FleetPermit, FleetState, Refused, Reply};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString, PyType};

use crate::errors::config_error;

/// The host's monotonic clock, the time line of every fleet of this process.
#[inline]
pub(crate) fn now() -> u64 {
    engine::MonotonicClock.now_nanos()
}

/// One event as handed to the Python side: `(kind, from_state, to_state, epoch, stored)`.
type EventTuple = (&'static str, Option<&'static str>, Option<&'static str>, Option<u64>, Option<String>);

fn event_tuple(event: FleetEvent) -> EventTuple {
    match event {
        FleetEvent::Transition { from, to, epoch } => {
            ("transition", Some(from.as_str()), Some(to.as_str()), Some(epoch), None)
        }
        FleetEvent::StoreDegraded => ("store_degraded", None, None, None, None),
        FleetEvent::StoreRecovered => ("store_recovered", None, None, None, None),
        FleetEvent::Mismatch { stored } => ("mismatch", None, None, None, Some(stored)),
    }
}

/// The core's fleet breaker for one breaker name, with the wake-up hook of an asyncio host.
#[pyclass(frozen, module = "circuit._circuit", name = "_Fleet")]
pub(crate) struct FleetHandle {
    pub(crate) inner: Arc<Fleet>,
    /// Called (with no argument) at admission while `armed`: the asyncio host starts its sync
    /// task on the running loop; it returns True once it has (then it is not called again).
    hook: Mutex<Option<Py<PyAny>>>,
    armed: AtomicBool,
    /// A manual clock the fleet runs on instead of the host's monotonic clock (tests,
    /// simulations: the conformance vectors), or None.
    clock: Option<engine::ManualClock>,
}

impl FleetHandle {
    /// This fleet's instant now: its manual clock's, else the host's monotonic clock's.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.clock {
            Some(clock) => engine::Clock::now_nanos(clock),
            None => now(),
        }
    }

    /// Runs the wake-up hook if armed (an asyncio host whose task is not running yet).
    #[inline]
    pub(crate) fn wake(&self, py: Python<'_>) {
        if self.armed.load(Ordering::Acquire) {
            self.wake_slow(py);
        }
    }

    /// The fleet level's state now.
    pub(crate) fn status_of(&self) -> FleetStatus {
        FleetStatus::of(&self.inner.status(self.now()))
    }

    #[cold]
    fn wake_slow(&self, py: Python<'_>) {
        let hook = self.hook.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|h| h.clone_ref(py));
        let Some(hook) = hook else { return };
        match hook.call0(py).and_then(|r| r.is_truthy(py)) {
            Ok(true) => self.armed.store(false, Ordering::Release),
            Ok(false) => {}
            Err(problem) => problem.write_unraisable(py, Some(hook.bind(py))),
        }
    }
}

fn reply_of(reply: &Bound<'_, PyAny>) -> Result<Vec<Reply>, String> {
    if reply.is_instance_of::<PyString>() || reply.is_instance_of::<PyBytes>() {
        return Err(format!("unexpected reply {reply}"));
    }
    let items = reply.try_iter().map_err(|_| format!("unexpected reply {reply}"))?;
    let mut out = Vec::new();
    for item in items {
        let item = item.map_err(|e| e.to_string())?;
        if item.is_instance_of::<PyInt>() {
            out.push(Reply::Int(item.extract::<i64>().map_err(|e| e.to_string())?));
        } else if let Ok(bytes) = item.cast::<PyBytes>() {
            out.push(Reply::Text(String::from_utf8(bytes.as_bytes().to_vec()).map_err(|e| e.to_string())?));
        } else if let Ok(text) = item.cast::<PyString>() {
            out.push(Reply::Text(text.to_cow().map_err(|e| e.to_string())?.into_owned()));
        } else {
            return Err(format!("unexpected reply item {item}"));
        }
        if out.len() > 20_000 {
            return Err("reply too long".to_owned());
        }
    }
    Ok(out)
}

#[pymethods]
impl FleetHandle {
    /// The fleet breaker `name` with its options (`engine::fleet::FLEET_OPTIONS`: durations in
    /// float seconds; None for a rate turns its rule off, for any other option means its
    /// default); raises `CircuitConfigError` naming a refused option. `clock`: a `ManualClock`
    /// to run on (tests), shared with the breakers attached to it.
    #[new]
    #[pyo3(signature = (name, *, clock = None, **options))]
    fn new(
        py: Python<'_>,
        name: String,
        clock: Option<PyRef<'_, crate::clock::ManualClock>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let clock = clock.map(|c| c.inner.clone());
        let mut c = FleetConfig::new(name);
        for (key, value) in options.into_iter().flatten() {
            let key: String = key.extract()?;
            let Some(info) = engine::fleet::fleet_option_info(&key) else {
                return Err(PyTypeError::new_err(format!("RedisFleet() got an unexpected keyword argument '{key}'")));
            };
            let value = match (info.kind, value.is_none()) {
                (engine::OptionKind::Number, true) if info.name.ends_with("_rate_threshold") => {
                    engine::OptionValue::Text("none".to_owned())
                }
                (_, true) => continue,
                _ => crate::options::convert(py, info, &value)?,
            };
            c.set(info.name, value).map_err(|e| config_error(py, e.option(), e.to_string()))?;
        }
        let created = clock.as_ref().map_or_else(now, engine::Clock::now_nanos);
        let fleet = Fleet::new(c, created).map_err(|e| config_error(py, e.option(), e.to_string()))?;
        Ok(Self { inner: Arc::new(fleet), hook: Mutex::new(None), armed: AtomicBool::new(false), clock })
    }

    /// The breaker name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.config().name
    }

    /// The store key, `circuit:{name}`.
    #[getter]
    fn key(&self) -> String {
        self.inner.config().key()
    }

    /// What to send if a sync is due now: `(key, args)` for `EVALSHA sha 1 key *args`, or None.
    fn poll(&self) -> Option<(String, Vec<String>)> {
        self.inner.poll(self.now()).map(|r| (r.keys()[0].to_owned(), r.args().to_vec()))
    }

    /// Applies the script's reply (a list of ints, bytes or str) to the request `poll` gave.
    fn complete(&self, reply: &Bound<'_, PyAny>) -> Vec<EventTuple> {
        let reply = reply_of(reply);
        self.inner.complete(self.now(), reply).into_iter().map(event_tuple).collect()
    }

    /// The request `poll` gave failed (`message`: the store error or time-out).
    fn fail(&self, message: String) -> Vec<EventTuple> {
        self.inner.complete(self.now(), Err(message)).into_iter().map(event_tuple).collect()
    }

    /// What changed without a sync (the store became stale).
    fn events(&self) -> Vec<EventTuple> {
        self.inner.events(self.now()).into_iter().map(event_tuple).collect()
    }

    /// The fleet level's state.
    fn status(&self) -> FleetStatus {
        self.status_of()
    }

    /// Whether forgetting this fleet loses nothing: no call holds it and it is idle
    /// (`Fleet::is_idle`: closed, every outcome sent, no probe). `RedisFleet` forgets such a
    /// fleet once no breaker holds it either, after `idle_ttl`.
    fn _idle(&self) -> bool {
        Arc::strong_count(&self.inner) == 1 && self.inner.is_idle()
    }

    /// Sets the wake-up hook (see the field) and arms it.
    fn _arm(&self, hook: Py<PyAny>) {
        *self.hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(hook);
        self.armed.store(true, Ordering::Release);
    }

    /// Disarms the wake-up hook.
    fn _disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    fn __repr__(&self) -> String {
        format!("_Fleet({:?})", self.inner.config().name)
    }
}

/// The fleet level of a breaker, for metrics (`CircuitBreaker.fleet_status()`).
#[pyclass(frozen, get_all, module = "circuit._circuit")]
pub(crate) struct FleetStatus {
    /// "closed", "open" or "half_open", as last learned from the store.
    state: &'static str,
    /// The store's epoch as last learned.
    epoch: u64,
    /// Whether the degraded mode (`on_store_failure`) decides now.
    degraded: bool,
    /// Seconds since the last successful sync, or None before the first.
    staleness: Option<f64>,
    /// Syncs completed (successful or not), lifetime.
    syncs: u64,
    /// Syncs that failed, lifetime.
    sync_failures: u64,
}

impl FleetStatus {
    fn of(s: &engine::fleet::FleetStatus) -> Self {
        Self {
            state: s.state.as_str(),
            epoch: s.epoch,
            degraded: s.degraded,
            staleness: s.staleness.map(|d| d.as_secs_f64()),
            syncs: s.syncs,
            sync_failures: s.sync_failures,
        }
    }
}

#[pymethods]
impl FleetStatus {
    fn __repr__(&self) -> String {
        format!(
            "FleetStatus(state={:?}, epoch={}, degraded={}, staleness={}, syncs={}, sync_failures={})",
            self.state,
            self.epoch,
            if self.degraded { "True" } else { "False" },
            self.staleness.map_or("None".to_owned(), |s| format!("{s:.3}")),
            self.syncs,
            self.sync_failures
        )
    }
}

/// A breaker's fleet: the core's fleet breaker and the `RedisFleet` it came from.
pub(crate) struct FleetLink {
    pub(crate) handle: Py<FleetHandle>,
    pub(crate) owner: Py<PyAny>,
}

impl FleetLink {
    /// Attaches the breaker `name` to `owner` (a `circuit.RedisFleet`): `owner._attach(name)`.
    pub(crate) fn attach(py: Python<'_>, owner: &Bound<'_, PyAny>, name: Option<&str>) -> PyResult<Self> {
        let Some(name) = name else {
            return Err(PyTypeError::new_err(
                "CircuitBreaker: a breaker with `fleet` needs a name (the fleet breaker's name in the store)",
            ));
        };
        let attach = owner
            .getattr(pyo3::intern!(py, "_attach"))
            .map_err(|_| crate::errors::type_error("fleet", "a circuit.RedisFleet", owner))?;
        let handle = attach.call1((name,))?;
        let handle = handle
            .cast::<FleetHandle>()
            .map_err(|_| PyRuntimeError::new_err("RedisFleet._attach did not return a fleet"))?
            .clone()
            .unbind();
        Ok(Self { handle, owner: owner.clone().unbind() })
    }
}

/// A call admitted by the local breaker (and, with a fleet, by the fleet).
#[derive(Clone, Copy)]
pub(crate) enum Admitted {
    Local(engine::RawPermit),
    Fleet(FleetPermit),
}

impl Admitted {
    /// The local permit.
    pub(crate) fn raw(&self) -> engine::RawPermit {
        match self {
            Self::Local(raw) => *raw,
            Self::Fleet(p) => p.local(),
        }
    }

    /// A closed-state local permit that needs no bookkeeping (a plain generation token will do).
    pub(crate) fn is_plain(&self) -> bool {
        matches!(self, Self::Local(raw) if !raw.is_probe() && raw.admitted_at().is_none())
    }
}

/// An owned permit: the local breaker's `OwnedPermit`, or a permit of both levels. Recorded once;
/// dropped unrecorded it counts as ignored (on both levels).
pub(crate) enum Hold {
    Local(engine::OwnedPermit),
    Fleet(FleetHold),
}

pub(crate) struct FleetHold {
    breaker: Arc<engine::CircuitBreaker>,
    fleet: Arc<Fleet>,
    permit: FleetPermit,
    spent: AtomicBool,
}

impl Drop for FleetHold {
    fn drop(&mut self) {
        if !self.spent.swap(true, Ordering::AcqRel) {
            let _ = self.fleet.record_call(&self.breaker, self.permit, engine::Outcome::Ignored);
        }
    }
}

impl Hold {
    /// Owns `admitted` of `breaker` (whose fleet, if any, is `fleet`).
    pub(crate) fn new(breaker: Arc<engine::CircuitBreaker>, fleet: Option<&Arc<Fleet>>, admitted: Admitted) -> Self {
        match (admitted, fleet) {
            (Admitted::Fleet(permit), Some(fleet)) => {
                Self::Fleet(FleetHold { breaker, fleet: Arc::clone(fleet), permit, spent: AtomicBool::new(false) })
            }
            (admitted, _) => Self::Local(engine::OwnedPermit::from_raw(breaker, admitted.raw())),
        }
    }

    pub(crate) fn raw(&self) -> engine::RawPermit {
        match self {
            Self::Local(p) => p.raw(),
            Self::Fleet(h) => h.permit.local(),
        }
    }

    pub(crate) fn breaker(&self) -> &Arc<engine::CircuitBreaker> {
        match self {
            Self::Local(p) => p.breaker(),
            Self::Fleet(h) => &h.breaker,
        }
    }

    pub(crate) fn is_spent(&self) -> bool {
        match self {
            Self::Local(p) => p.is_spent(),
            Self::Fleet(h) => h.spent.load(Ordering::Acquire),
        }
    }

    /// Whether the call is the fleet's probe (it holds a lease granted by the store).
    pub(crate) fn is_fleet_probe(&self) -> bool {
        matches!(self, Self::Fleet(h) if h.permit.is_fleet_probe())
    }

    pub(crate) fn record(&self, outcome: engine::Outcome) -> Result<engine::Recorded, engine::PermitError> {
        match self {
            Self::Local(p) => p.record(outcome),
            Self::Fleet(h) => {
                if h.spent.swap(true, Ordering::AcqRel) {
                    return Err(engine::PermitError::AlreadyRecorded);
                }
                h.fleet.record_call(&h.breaker, h.permit, outcome)
            }
        }
    }

    /// A failure with the dependency's retry time: the local breaker gets the hint, the fleet a
    /// failure (or, for the fleet's probe, a failed verdict), by `Fleet::record_call_retry_after`.
    pub(crate) fn record_failure_retry_after(
        &self,
        retry_after: Duration,
    ) -> Result<engine::Recorded, engine::PermitError> {
        match self {
            Self::Local(p) => p.record_failure_retry_after(retry_after),
            Self::Fleet(h) => {
                if h.spent.swap(true, Ordering::AcqRel) {
                    return Err(engine::PermitError::AlreadyRecorded);
                }
                h.fleet.record_call_retry_after(&h.breaker, h.permit, retry_after)
            }
        }
    }
}

static OPEN_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `CircuitOpenError` of a refusal: the local breaker's, or the fleet's (`fleet=True`).
pub(crate) fn refused_error(py: Python<'_>, name: Option<&str>, refused: &Refused) -> PyErr {
    let (state, retry_after) = match refused {
        Refused::Local(rejected) => return crate::errors::open_error(py, rejected),
        Refused::Fleet { state, retry_after } => (*state, retry_after.map(|d| d.as_secs_f64())),
    };
    let reason = match state {
        FleetState::HalfOpen => "half_open_full",
        FleetState::Open | FleetState::Closed => "open",
    };
    let class = OPEN_ERROR.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        Ok(py.import("circuit._errors")?.getattr("CircuitOpenError")?.cast_into::<PyType>()?.unbind())
    });
    let made = class.and_then(|class| {
        let kwargs = PyDict::new(py);
        kwargs.set_item("fleet", true)?;
        class.bind(py).call((name, state.as_str(), reason, retry_after), Some(&kwargs))
    });
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// Module constants: the fleet script and its SHA-1.
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FleetHandle>()?;
    m.add_class::<FleetStatus>()?;
    let options = engine::fleet::FLEET_OPTIONS.iter().map(|o| (o.name, o.kind.as_str(), o.default, o.bounds, o.doc));
    m.add("FLEET_OPTIONS", pyo3::types::PyTuple::new(m.py(), options)?)?;
    m.add("FLEET_SCRIPT", engine::fleet::SCRIPT)?;
    m.add("FLEET_SCRIPT_SHA1", engine::fleet::script_sha1())?;
    Ok(())
}
