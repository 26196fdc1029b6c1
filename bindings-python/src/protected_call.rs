//! A protected async call as a native coroutine-like object (`ProtectedCall`, its type object in
//! `protected_call_type.rs`): what `@breaker` on an `async def`, `call_async` and a sync callable
//! that returns a coroutine give when the breaker has no `timeout`.
//!
//! Awaiting it steps it through its stages: the first step admits the call (or runs the fallback),
//! calls the function and drives the awaitable it returns with `PyIter_Send`; the step in which that
//! awaitable returns, raises, or is closed records the outcome. Finishing never raises
//! `StopIteration` (the type implements `am_send`), and no Python frame is added: that is what
//! makes it cheaper than an `async def` wrapper. A `CancelledError` is handed to the Python side
//! (`_cancelled` in `circuit/__init__.py`), which tells a caller's deadline from a plain cancel.

use pyo3::exceptions::{PyGeneratorExit, PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::arguments::Arguments;
use crate::breaker::{Breaker, is_awaitable, token_of};
use crate::permit::Permit;

/// Where a protected call is.
pub(crate) enum Stage {
    /// Called, not yet awaited: nothing admitted, the function not called.
    Pending { breaker: Held<Breaker>, func: Held<PyAny>, arguments: Arguments },
    /// Awaiting `inner` (the iterator `await` drives); `token` is the admission to record, None
    /// for a fallback's awaitable (a rejected call records nothing more).
    Running { breaker: Held<Breaker>, inner: Held<PyAny>, token: Option<Token> },
    /// Finished, raised, closed, or closed before it started.
    Done,
}

/// What the awaiting code does to the call.
pub(crate) enum Input<'py> {
    Send(Bound<'py, PyAny>),
    Throw(PyErr),
    Close,
}

/// What one step gives back.
pub(crate) enum Output<'py> {
    /// Suspended: the value to hand to the event loop (a future, usually).
    Yield(Bound<'py, PyAny>),
    /// Finished with this value.
    Return(Bound<'py, PyAny>),
    Raise(PyErr),
}

/// A strong reference a stage owns, released at once (`Py_DECREF`). Stages are only dropped
/// with the GIL held, but inside CPython's slots, where PyO3 does not know it is held (the slots
/// skip PyO3's attach bookkeeping, for speed) and would defer the release of a plain `Py`.
pub(crate) struct Held<T>(std::mem::ManuallyDrop<Py<T>>);

impl<T> Held<T> {
    pub(crate) fn new(object: Py<T>) -> Self {
        Self(std::mem::ManuallyDrop::new(object))
    }
}

impl<T> std::ops::Deref for Held<T> {
    type Target = Py<T>;
    fn deref(&self) -> &Py<T> {
        &self.0
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        // SAFETY: the GIL is held wherever a stage is dropped (see above); the reference is ours.
        unsafe { pyo3::ffi::Py_DECREF(self.0.as_ptr()) }
    }
}

/// An admission to record. A closed-state permit that needs no bookkeeping stays a plain
/// `RawPermit`; any other is an owned `Permit` (so a probe dropped unrecorded returns its slot).
pub(crate) enum Token {
    Raw(engine::RawPermit),
    Permit(Held<Permit>),
}

impl Token {
    pub(crate) fn admitted(breaker: &Bound<'_, Breaker>, admitted: crate::fleet::Admitted) -> PyResult<Self> {
        if admitted.is_plain() {
            return Ok(Self::Raw(admitted.raw()));
        }
        Ok(Self::Permit(Held::new(token_of(breaker, admitted)?.cast_bound::<Permit>(breaker.py())?.clone().unbind())))
    }

    fn record(&self, py: Python<'_>, breaker: &Breaker, outcome: engine::Outcome) {
        let _ = match self {
            Self::Raw(raw) => breaker.inner.record_raw(*raw, outcome).map(|r| r.counted()).or(Ok(false)),
            Self::Permit(permit) => breaker.record_token_outcome(py, permit.bind(py).as_any(), outcome),
        };
    }

    /// The token as the Python side knows it (`_admit`'s int or `Permit`).
    fn to_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Self::Raw(raw) => Ok(raw.generation().into_pyobject(py)?.into_any().unbind()),
            Self::Permit(permit) => Ok(permit.clone_ref(py).into_any()),
        }
    }

    fn reference(&self) -> Option<&Py<PyAny>> {
        match self {
            Self::Raw(_) => None,
            Self::Permit(permit) => Some(permit.as_any()),
        }
    }
}

impl Stage {
    /// The objects the stage holds, for the garbage collector.
    pub(crate) fn references(&self) -> [Option<&Py<PyAny>>; 5] {
        match self {
            Self::Pending { breaker, func, arguments } => {
                let [a, b, c] = arguments.references();
                [Some(breaker.as_any()), Some(func), a, b, c]
            }
            Self::Running { breaker, inner, token } => {
                [Some(breaker.as_any()), Some(inner), token.as_ref().and_then(Token::reference), None, None]
            }
            Self::Done => [None; 5],
        }
    }

    /// The awaitable being driven, if any (`cr_await`).
    pub(crate) fn awaiting(&self) -> Option<&Py<PyAny>> {
        match self {
            Self::Running { inner, .. } => Some(inner),
            _ => None,
        }
    }
}

/// A call of `func(*arguments)` through `breaker`, to run when awaited.
pub(crate) fn pending(breaker: &Bound<'_, Breaker>, func: &Bound<'_, PyAny>, arguments: Arguments) -> Stage {
    Stage::Pending { breaker: Held::new(breaker.clone().unbind()), func: Held::new(func.clone().unbind()), arguments }
}

/// An admitted call whose function returned the coroutine `coroutine`.
pub(crate) fn running(breaker: &Bound<'_, Breaker>, token: Token, coroutine: &Bound<'_, PyAny>) -> Stage {
    Stage::Running {
        breaker: Held::new(breaker.clone().unbind()),
        inner: Held::new(coroutine.clone().unbind()),
        token: Some(token),
    }
}

/// One step, updating the stage in place (no step is in progress on it: the object's busy
/// flag says so, see `protected_call_type.rs`).
pub(crate) fn step<'py>(py: Python<'py>, stage: &mut Stage, input: Input<'py>) -> Output<'py> {
    if let Stage::Pending { breaker, func, arguments } = stage {
        match &input {
            Input::Send(value) if !value.is_none() => {
                return Output::Raise(PyTypeError::new_err("can't send non-None value to a just-started coroutine"));
            }
            Input::Send(_) => match start(py, breaker, func.bind(py), arguments) {
                Ok((inner, token)) => {
                    let breaker = Held::new(breaker.clone_ref(py));
                    *stage = Stage::Running { breaker, inner, token };
                }
                Err(output) => {
                    *stage = Stage::Done;
                    return output;
                }
            },
            Input::Throw(_) | Input::Close => *stage = Stage::Done,
        }
    }
    match stage {
        Stage::Running { breaker, inner, token } => {
            let (output, finished) = advance(py, breaker, inner, token.as_ref(), input);
            if finished {
                *stage = Stage::Done;
            }
            output
        }
        Stage::Pending { .. } | Stage::Done => match input {
            Input::Send(_) => Output::Raise(PyRuntimeError::new_err("cannot reuse already awaited coroutine")),
            Input::Throw(error) => Output::Raise(error),
            Input::Close => Output::Return(py.None().into_bound(py)),
        },
    }
}

/// Ends a call nobody will await any more (the object is being freed or cleared): a call in
/// progress is closed (recorded as ignored); one never awaited warns like a coroutine would.
pub(crate) fn abandon(py: Python<'_>, mut stage: Stage) {
    match &stage {
        Stage::Running { .. } => {
            if let Output::Raise(problem) = step(py, &mut stage, Input::Close) {
                problem.write_unraisable(py, None);
            }
        }
        Stage::Pending { func, .. } => {
            let name = func.bind(py).getattr(pyo3::intern!(py, "__qualname__"));
            let name = name.as_ref().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
            let message = std::ffi::CString::new(format!("coroutine '{name}' was never awaited")).unwrap_or_default();
            if let Err(problem) = PyErr::warn(py, &py.get_type::<pyo3::exceptions::PyRuntimeWarning>(), &message, 1) {
                problem.write_unraisable(py, None);
            }
        }
        Stage::Done => {}
    }
}

/// The first step: admission (else the fallback, else `CircuitOpenError`), then the call.
/// Gives the awaitable to drive and the admission to record (None: a fallback's awaitable).
fn start<'py>(
    py: Python<'py>,
    breaker: &Held<Breaker>,
    func: &Bound<'py, PyAny>,
    arguments: &Arguments,
) -> Result<(Held<PyAny>, Option<Token>), Output<'py>> {
    let this = breaker.get();
    let raw = match this.admit_call(py) {
        Ok(raw) => raw,
        Err(refused) => {
            let Some(fallback) = this.fallback_callable() else {
                return Err(Output::Raise(this.refused_error(py, &refused)));
            };
            return match arguments.call(fallback.bind(py)) {
                Ok(value) if is_awaitable(&value) => match awaited_iterator(&value) {
                    Ok(inner) => Ok((Held::new(inner), None)),
                    Err(error) => Err(Output::Raise(error)),
                },
                Ok(value) => Err(Output::Return(value)),
                Err(error) => Err(Output::Raise(error)),
            };
        }
    };
    let token = match Token::admitted(breaker.bind(py), raw) {
        Ok(token) => token,
        Err(error) => {
            let _ = this.record_admitted(raw, engine::Outcome::Ignored);
            return Err(Output::Raise(error));
        }
    };
    match arguments.call(func).and_then(|value| awaited_iterator(&value)) {
        Ok(inner) => Ok((Held::new(inner), Some(token))),
        Err(error) => {
            finish(py, breaker, &token, Some(&error));
            Err(Output::Raise(error))
        }
    }
}

/// A step of a running call: forwards `input` to the awaitable and records how it ended; true
/// when the call is over.
fn advance<'py>(
    py: Python<'py>,
    breaker: &Held<Breaker>,
    inner: &Held<PyAny>,
    token: Option<&Token>,
    input: Input<'py>,
) -> (Output<'py>, bool) {
    let output = match input {
        Input::Send(value) => send(py, inner.bind(py), &value),
        Input::Throw(error) => throw(py, inner.bind(py), error),
        Input::Close => {
            let closed = close(inner.bind(py));
            if let Some(token) = token {
                let error = closed.as_ref().err().map_or_else(|| PyGeneratorExit::new_err(()), |e| e.clone_ref(py));
                finish(py, breaker, token, Some(&error));
            }
            let output = match closed {
                Ok(()) => Output::Return(py.None().into_bound(py)),
                Err(error) => Output::Raise(error),
            };
            return (output, true);
        }
    };
    match &output {
        Output::Yield(_) => return (output, false),
        Output::Return(_) => {
            if let Some(token) = token {
                finish(py, breaker, token, None);
            }
        }
        Output::Raise(error) => {
            if let Some(token) = token {
                finish(py, breaker, token, Some(error));
            }
        }
    }
    (output, true)
}

fn send<'py>(py: Python<'py>, inner: &Bound<'py, PyAny>, value: &Bound<'py, PyAny>) -> Output<'py> {
    let mut result = std::ptr::null_mut();
    // SAFETY: both objects are live; `result` receives a new reference unless it fails.
    match unsafe { pyo3::ffi::PyIter_Send(inner.as_ptr(), value.as_ptr(), &mut result) } {
        // SAFETY: a new reference on success.
        pyo3::ffi::PySendResult::PYGEN_NEXT => Output::Yield(unsafe { Bound::from_owned_ptr(py, result) }),
        pyo3::ffi::PySendResult::PYGEN_RETURN => Output::Return(unsafe { Bound::from_owned_ptr(py, result) }),
        pyo3::ffi::PySendResult::PYGEN_ERROR => Output::Raise(PyErr::fetch(py)),
    }
}

fn throw<'py>(py: Python<'py>, inner: &Bound<'py, PyAny>, error: PyErr) -> Output<'py> {
    let method = match inner.getattr_opt(pyo3::intern!(py, "throw")) {
        Ok(Some(method)) => method,
        Ok(None) => return Output::Raise(error),
        Err(problem) => return Output::Raise(problem),
    };
    match method.call1((error.into_value(py),)) {
        Ok(value) => Output::Yield(value),
        Err(stop) if stop.is_instance_of::<PyStopIteration>(py) => {
            match stop.value(py).getattr(pyo3::intern!(py, "value")) {
                Ok(value) => Output::Return(value),
                Err(problem) => Output::Raise(problem),
            }
        }
        Err(raised) => Output::Raise(raised),
    }
}

fn close(inner: &Bound<'_, PyAny>) -> PyResult<()> {
    match inner.getattr_opt(pyo3::intern!(inner.py(), "close"))? {
        Some(method) => method.call0().map(drop),
        None => Ok(()),
    }
}

/// Records the outcome for `token`: success without `error`, a `CancelledError` through the
/// Python side (a caller's deadline is a failure, see `_cancelled`), else as classified.
fn finish(py: Python<'_>, breaker: &Py<Breaker>, token: &Token, error: Option<&PyErr>) {
    let this = breaker.get();
    let outcome = match error {
        None => engine::Outcome::Success,
        Some(error) if is_cancelled(py, error) => {
            let settled = token
                .to_object(py)
                .and_then(|token| crate::errors::settle_cancelled(py, breaker.bind(py), &token, error.value(py)));
            if let Err(problem) = settled {
                problem.write_unraisable(py, None);
            }
            return;
        }
        Some(error) => this.ignore.outcome_of(py, error),
    };
    token.record(py, this, outcome);
}

fn is_cancelled(py: Python<'_>, error: &PyErr) -> bool {
    static CANCELLED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    match CANCELLED.import(py, "asyncio", "CancelledError") {
        Ok(class) => error.is_instance(py, class),
        Err(_) => false,
    }
}

/// Whether `value` is a coroutine (made by an `async def`).
pub(crate) fn is_coroutine(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    static COROUTINE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let coroutine = COROUTINE.import(value.py(), "types", "CoroutineType")?;
    // SAFETY: a live object; only its type pointer is read.
    Ok(std::ptr::eq(unsafe { pyo3::ffi::Py_TYPE(value.as_ptr()) }, coroutine.as_ptr().cast()))
}

/// The iterator `await value` drives: a coroutine itself, else what its `__await__` returns.
fn awaited_iterator(value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = value.py();
    if is_coroutine(value)? {
        return Ok(value.clone().unbind());
    }
    let type_name = || value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    let ty = value.get_type();
    // SAFETY: the type object is live; reading a slot is allowed by the 3.10 stable ABI.
    let slot = unsafe { pyo3::ffi::PyType_GetSlot(ty.as_type_ptr(), pyo3::ffi::Py_am_await) };
    if slot.is_null() {
        return Err(PyTypeError::new_err(format!("object {} can't be used in 'await' expression", type_name())));
    }
    // SAFETY: `slot` is the type's `am_await` (a unaryfunc), called with an instance of it; it
    // returns a new reference or NULL with an exception set.
    let iterator = unsafe {
        let am_await: pyo3::ffi::unaryfunc = std::mem::transmute(slot);
        Bound::from_owned_ptr_or_err(py, am_await(value.as_ptr()))?
    };
    // SAFETY: a live object.
    if unsafe { pyo3::ffi::PyIter_Check(iterator.as_ptr()) } == 0 {
        let got = iterator.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!("__await__() returned non-iterator of type '{got}'")));
    }
    Ok(iterator.unbind())
}
