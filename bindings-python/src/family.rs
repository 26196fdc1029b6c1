//! `circuit._circuit.Family`, subclassed by `circuit.Family`: the engine's `circuit::Family` (one
//! breaker per key, bounded memory, lazy eviction; docs/semantics.md, "Families"). Members are
//! handed out as breaker objects of the class named by the Python subclass's `_breaker_class`
//! (`circuit.CircuitBreaker`; the native `Breaker` without one), each a new wrapper around the
//! member's engine breaker carrying the family's Python-only options. A wrapper, like any handle
//! of the member, pins it (the engine never evicts it while the wrapper lives).
//!
//! With `region` (a `HostRegion`), the family is built by `circuit_shm::HostRegion::family`: each
//! member `<name>/<key>` and the overflow breaker are the region's breakers (one per key across
//! processes), on the region's clock; a full region answers new keys with the overflow breaker.
//!
//! Family listeners are delivered as breaker listeners are (`breaker.rs`, `delivery.rs`): with the
//! GIL taken on the delivering thread, errors reported as unraisable, and a removal that waits
//! (without the GIL) for a call of the listener in progress on another thread (the engine only
//! guarantees that for the removing thread; the listener's gate does the rest).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString, PyType};

use crate::breaker::{Breaker, MemberSeed, PyOptions, StateChange};
use crate::delivery::{Gate, deliver, with_calls_queued};
use crate::errors::{config_error, type_error};
use crate::metrics::Metrics;
use crate::region::HostRegion;

#[pyclass(frozen, subclass, module = "circuit._circuit")]
pub(crate) struct Family {
    pub(crate) inner: Arc<engine::Family>,
    options: Arc<PyOptions>,
    /// The host region the members live in, or None.
    region: Option<Py<HostRegion>>,
    breaker_class: Py<PyType>,
    /// The `circuit.RedisFleet` every member's calls also go through (each member is the fleet
    /// breaker of its own name, `<name>/<key>`), or None.
    fleet: Option<Py<PyAny>>,
    /// The registered listeners: the id given to Python, the engine's, and the gate.
    listeners: Mutex<Listeners>,
}

#[derive(Default)]
struct Listeners {
    next: u64,
    list: Vec<(u64, engine::FamilyListenerId, Arc<Gate>)>,
}

/// A family-level metrics view: every member's snapshot by key, the overflow breaker's, and the
/// family's counts.
#[pyclass(frozen, get_all, module = "circuit._circuit")]
pub(crate) struct FamilyMetrics {
    /// Each member's metrics, by key.
    members: Py<PyDict>,
    /// The overflow breaker's metrics.
    overflow: Py<Metrics>,
    /// Members evicted so far (idle, or to make room).
    evicted: u64,
    /// `get` calls answered with the overflow breaker because every member was pinned.
    overflowed: u64,
}

#[pymethods]
impl FamilyMetrics {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "FamilyMetrics(members={}, evicted={}, overflowed={})",
            self.members.bind(py).len(),
            self.evicted,
            self.overflowed
        )
    }
}

#[pymethods]
impl Family {
    #[new]
    #[classmethod]
    #[pyo3(signature = (name = None, *, max_keys = None, idle_ttl = None, ignore = None, fallback = None, timeout = None, clock = None, region = None, fleet = None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        cls: &Bound<'py, PyType>,
        name: Option<&Bound<'py, PyAny>>,
        max_keys: Option<&Bound<'py, PyAny>>,
        idle_ttl: Option<&Bound<'py, PyAny>>,
        ignore: Option<&Bound<'py, PyAny>>,
        fallback: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        clock: Option<&Bound<'py, PyAny>>,
        region: Option<&Bound<'py, PyAny>>,
        fleet: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Self> {
        let py = cls.py();
        let fleet = fleet.filter(|f| !f.is_none()).map(|f| f.clone().unbind());
        if fleet.is_some() && name.is_none_or(|n| n.is_none()) {
            return Err(PyTypeError::new_err(
                "Family: a family with `fleet` needs a name (each member is the fleet breaker `<name>/<key>`)",
            ));
        }
        if let Some(f) = &fleet
            && f.bind(py).getattr_opt(pyo3::intern!(py, "_attach"))?.is_none()
        {
            return Err(crate::errors::type_error("fleet", "a circuit.RedisFleet", f.bind(py)));
        }
        let region = match region.filter(|r| !r.is_none()) {
            Some(r) => Some(
                r.cast::<HostRegion>()
                    .map_err(|_| crate::errors::type_error("region", "a circuit.HostRegion", r))?
                    .clone()
                    .unbind(),
            ),
            None => None,
        };
        let builder = crate::options::builder_of(py, "Family.__new__", name, options)?;
        let python_options = PyOptions::parse(py, ignore, fallback, timeout, clock)?;
        if region.is_some() && python_options.clock.is_some() {
            return Err(PyTypeError::new_err(
                "Family: `clock` and `region` cannot be given together: a family in a region reads the region's \
                 clock (for tests, a HostRegion(..., manual_clock=True) and its advance())",
            ));
        }
        let max_keys = parse_max_keys(py, max_keys.filter(|v| !v.is_none()))?;
        let idle_ttl = parse_idle_ttl(py, idle_ttl.filter(|v| !v.is_none()))?;
        let config = builder.build().map_err(|e| config_error(py, e.option(), e.to_string()))?;
        // In a region, the members (and the overflow breaker) are the region's breakers, one per
        // key across processes, on the region's clock (set by `HostRegion::family`).
        let mut family = match &region {
            Some(r) => r.get().family(py, config)?,
            None => engine::Family::builder(config),
        };
        family = family.max_keys(max_keys).idle_ttl(idle_ttl);
        if let Some(c) = &python_options.clock {
            family = family.clock(c.get().inner.clone());
        }
        // A region's refusal of the overflow breaker (full, other options) is the option `region`.
        let family = py.detach(move || family.build()).map_err(|e| config_error(py, e.option(), e.to_string()))?;
        let breaker_class = match cls.getattr_opt("_breaker_class")? {
            Some(class) => class
                .cast_into::<PyType>()
                .map_err(|_| PyTypeError::new_err("Family._breaker_class must be a subclass of Breaker"))?,
            None => py.get_type::<Breaker>(),
        };
        if !breaker_class.is_subclass_of::<Breaker>()? {
            return Err(PyTypeError::new_err("Family._breaker_class must be a subclass of Breaker"));
        }
        Ok(Self {
            inner: Arc::new(family),
            options: Arc::new(python_options),
            region,
            breaker_class: breaker_class.unbind(),
            fleet,
            listeners: Mutex::new(Listeners::default()),
        })
    }

    /// The members' base name (each member is named `<name>/<key>`), or None.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.config().name()
    }

    /// The bound on members.
    #[getter]
    fn max_keys(&self) -> usize {
        self.inner.max_keys()
    }

    /// Seconds after which an idle, unpinned member is evicted.
    #[getter]
    fn idle_ttl(&self) -> f64 {
        self.inner.idle_ttl().as_secs_f64()
    }

    /// The `circuit.RedisFleet` the members' calls also go through, or None.
    #[getter]
    fn fleet(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fleet.as_ref().map(|f| f.clone_ref(py))
    }

    /// The host region the members live in, or None.
    #[getter]
    fn region(&self, py: Python<'_>) -> Option<Py<HostRegion>> {
        self.region.as_ref().map(|r| r.clone_ref(py))
    }

    /// The manual clock, or None.
    #[getter]
    fn clock(&self, py: Python<'_>) -> Option<Py<crate::clock::ManualClock>> {
        self.options.clock.as_ref().map(|c| c.clone_ref(py))
    }

    /// The breaker for `key`, created on first use (or the overflow breaker when the family is
    /// full and every member is pinned). A new wrapper each time; holding it pins the member.
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let key = key_of(key)?;
        let key = key.to_cow()?;
        // `get` may apply a member's due transition under the family's lock: listener calls are
        // made once it has returned (`delivery.rs`).
        let member = with_calls_queued(py, || self.inner.get(&key));
        self.wrap(py, member)
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.get(py, key)
    }

    /// Whether `key` has a member now; does not create one or count as a use.
    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        match key.cast::<PyString>() {
            Ok(key) => Ok(self.inner.contains(&key.to_cow()?)),
            Err(_) => Ok(false),
        }
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The keys of the current members, in no particular order.
    fn keys(&self) -> Vec<String> {
        self.inner.keys().iter().map(|k| k.to_string()).collect()
    }

    /// The shared breaker `get` returns when the family is full and every member is pinned.
    #[getter]
    fn overflow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.wrap(py, Arc::clone(self.inner.overflow()))
    }

    /// Every member's metrics by key, the overflow breaker's, and the eviction counts.
    fn metrics(&self, py: Python<'_>) -> PyResult<FamilyMetrics> {
        let m = py.detach(|| self.inner.metrics());
        let members = PyDict::new(py);
        for (key, metrics) in &m.members {
            members.set_item(&**key, Metrics::of(metrics))?;
        }
        Ok(FamilyMetrics {
            members: members.unbind(),
            overflow: Py::new(py, Metrics::of(&m.overflow))?,
            evicted: m.evicted,
            overflowed: m.overflowed,
        })
    }

    /// Registers `callback(key, StateChange)` for every member's transition (`key` None for the
    /// overflow breaker); returns an id for `_remove_listener`. Errors raised by the callback are
    /// reported as unraisable.
    fn _on_transition(&self, callback: Py<PyAny>) -> u64 {
        let gate = Arc::new(Gate::default());
        let delivering = Arc::clone(&gate);
        let callback = Arc::new(callback);
        let id = self.inner.on_transition(move |event| {
            let change = StateChange::of(event.transition);
            let key: Option<String> = event.key.map(str::to_owned);
            let (gate, callback) = (Arc::clone(&delivering), Arc::clone(&callback));
            Python::attach(|py| {
                deliver(py, move |py| {
                    gate.run(|| {
                        if let Err(problem) = callback.call1(py, (key, change)) {
                            problem.write_unraisable(py, Some(callback.bind(py)));
                        }
                    })
                })
            })
        });
        let mut listeners = self.listeners.lock().unwrap_or_else(PoisonError::into_inner);
        listeners.next += 1;
        let raw = listeners.next;
        listeners.list.push((raw, id, gate));
        raw
    }

    /// Unregisters a listener; waits (without the GIL) for a call of it in progress on another
    /// thread. Returns whether it was registered.
    fn _remove_listener(&self, py: Python<'_>, id: u64) -> bool {
        let (engine_id, gate) = {
            let mut listeners = self.listeners.lock().unwrap_or_else(PoisonError::into_inner);
            match listeners.list.iter().position(|(i, _, _)| *i == id) {
                Some(index) => {
                    let (_, engine_id, gate) = listeners.list.swap_remove(index);
                    (engine_id, gate)
                }
                None => return false,
            }
        };
        let inner = Arc::clone(&self.inner);
        py.detach(move || {
            let removed = inner.remove_listener(engine_id);
            gate.close();
            removed
        })
    }
}

impl Family {
    /// A breaker object of the family's breaker class around `member`.
    fn wrap<'py>(&self, py: Python<'py>, member: Arc<engine::CircuitBreaker>) -> PyResult<Bound<'py, PyAny>> {
        let seed = MemberSeed {
            inner: member,
            options: Arc::clone(&self.options),
            region: self.region.as_ref().map(|r| r.clone_ref(py)),
            fleet: self.fleet.as_ref().map(|f| f.clone_ref(py)),
        };
        self.breaker_class.bind(py).call1((seed,))
    }
}

/// A member key: a `str`.
fn key_of<'a, 'py>(key: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyString>> {
    key.cast::<PyString>().map_err(|_| {
        let type_name = key.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        PyTypeError::new_err(format!("family keys are str, got {type_name}"))
    })
}

/// `max_keys`: an int, at least 1 (default 1024).
fn parse_max_keys(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(value) = value else { return Ok(engine::DEFAULT_MAX_KEYS) };
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(type_error("max_keys", "an int", value));
    }
    let too_small = || config_error(py, "max_keys", "invalid option `max_keys`: must be at least 1".into());
    match value.extract::<i64>() {
        Ok(n) if n < 1 => Err(too_small()),
        Ok(n) => usize::try_from(n).map_err(|_| too_small()),
        Err(_) if value.lt(0)? => Err(too_small()),
        Err(_) => Ok(usize::MAX),
    }
}

/// `idle_ttl`: non-negative seconds (an int or float) or a `datetime.timedelta` (default 600 s).
fn parse_idle_ttl(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Duration> {
    let Some(value) = value else { return Ok(engine::DEFAULT_IDLE_TTL) };
    let timedelta = py.import("datetime")?.getattr("timedelta")?;
    if value.is_instance(&timedelta)? {
        let seconds: f64 = value.call_method0("total_seconds")?.extract()?;
        return engine::host::duration_from_f64("idle_ttl", seconds, 1e9)
            .map_err(|e| config_error(py, e.option(), e.to_string()));
    }
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<pyo3::types::PyFloat>())
    {
        return Err(type_error("idle_ttl", "a number of seconds or a datetime.timedelta", value));
    }
    crate::options::duration(py, "idle_ttl", value)
}
