//! The type object of `ProtectedCall` (the stages are in `protected_call.rs`), written against the
//! 3.10 stable ABI by hand: PyO3's classes cannot fill the `am_send` slot, which lets the event
//! loop (and `await` in a coroutine) step the call and receive its result without a raised
//! `StopIteration`. Besides `am_send` it has what makes it a `collections.abc.Coroutine` (so
//! `asyncio.create_task`, `gather` and `ensure_future` accept it): `__await__` (itself),
//! `__next__`, `send`, `throw`, `close`; and `cr_await`, the awaitable it is waiting on.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

use crate::protected_call::{Input, Output, Stage, abandon, step};

/// The object's layout: the Python header, the busy flag, then the stage. Both are only touched
/// with the GIL held. While a step runs (`busy`), Python code it calls may reach the object again
/// (a re-entrant step, the garbage collector, `cr_await`): they read the flag, never the stage,
/// which the step is updating in place.
#[repr(C)]
struct Object {
    head: ffi::PyObject,
    busy: std::cell::Cell<bool>,
    stage: UnsafeCell<Stage>,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Freed objects kept for reuse, like CPython's own free lists: allocating and freeing a
/// collector-tracked object costs about as much as the rest of a protected call's bookkeeping.
/// A spare is untracked memory with its collector header, no references and no stage.
struct Spares {
    objects: UnsafeCell<[*mut ffi::PyObject; SPARES]>,
    count: UnsafeCell<usize>,
}

const SPARES: usize = 64;

// SAFETY: only touched with the GIL held (the module does not declare free-threading support).
unsafe impl Sync for Spares {}

static SPARE: Spares = Spares { objects: UnsafeCell::new([ptr::null_mut(); SPARES]), count: UnsafeCell::new(0) };

/// A new `ProtectedCall` in `stage`.
pub(crate) fn new<'py>(py: Python<'py>, stage: Stage) -> PyResult<Bound<'py, PyAny>> {
    let ty = TYPE.get_or_try_init(py, || create_type(py))?;
    // SAFETY: the GIL is held (`py`). A spare is re-initialised as a fresh instance of `ty`; a new
    // allocation (zeroed, tracked by the collector) is untracked until the stage is written. Both
    // are tracked once they hold a valid stage.
    unsafe {
        let count = &mut *SPARE.count.get();
        let object = if *count > 0 {
            *count -= 1;
            ffi::PyObject_Init((*SPARE.objects.get())[*count], ty.as_ptr().cast())
        } else {
            let object = ffi::PyType_GenericAlloc(ty.as_ptr().cast(), 0);
            if object.is_null() {
                return Err(PyErr::fetch(py));
            }
            ffi::PyObject_GC_UnTrack(object.cast());
            object
        };
        ptr::addr_of_mut!((*object.cast::<Object>()).busy).write(std::cell::Cell::new(false));
        ptr::addr_of_mut!((*object.cast::<Object>()).stage).write(UnsafeCell::new(stage));
        ffi::PyObject_GC_Track(object.cast());
        Ok(Bound::from_owned_ptr(py, object))
    }
}

/// # Safety
/// `object` is a live `ProtectedCall`.
unsafe fn stage_of(object: *mut ffi::PyObject) -> *mut Stage {
    // SAFETY: per the contract, `object` points to an `Object`.
    unsafe { (*object.cast::<Object>()).stage.get() }
}

/// # Safety
/// `object` is a live `ProtectedCall`.
unsafe fn is_busy(object: *mut ffi::PyObject) -> bool {
    // SAFETY: per the contract.
    unsafe { (*object.cast::<Object>()).busy.get() }
}

/// Runs one step of `object`'s call, catching panics. The GIL is held (CPython calls the slots
/// with it), so the PyO3 token is assumed rather than taken through `Python::attach`, which costs
/// two thread-local lookups and a `PyGILState_Ensure`/`Release` pair per call; the stage releases
/// its references itself (`Held`).
///
/// # Safety
/// `object` is a live `ProtectedCall` and the thread holds the GIL.
unsafe fn run<R>(
    object: *mut ffi::PyObject,
    input: impl for<'py> FnOnce(Python<'py>) -> PyResult<Input<'py>>,
    reply: impl for<'py> FnOnce(Python<'py>, Output<'py>) -> R,
) -> R {
    // SAFETY: per the contract, the thread holds the GIL; it serialises every access to the object.
    let (py, this) = unsafe { (Python::assume_attached(), &*object.cast::<Object>()) };
    if this.busy.get() {
        return reply(py, Output::Raise(PyRuntimeError::new_err("coroutine already executing")));
    }
    let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let input = match input(py) {
            Ok(input) => input,
            Err(error) => return Output::Raise(error),
        };
        this.busy.set(true);
        // SAFETY: not busy, so no other reference into the cell exists; the flag keeps everything
        // else out of it until the step is over.
        step(py, unsafe { &mut *this.stage.get() }, input)
    }));
    this.busy.set(false);
    reply(py, stepped.unwrap_or_else(|_| Output::Raise(PyRuntimeError::new_err("circuit: panic in a protected call"))))
}

/// `StopIteration(value)` as the pending exception (how `send` and `__next__` return a value).
fn raise_stop(py: Python<'_>, value: Bound<'_, PyAny>) {
    PyStopIteration::new_err((value.unbind(),)).restore(py);
}

/// Hands an output back the `tp_iternext` / method way: the yielded value, or NULL with
/// `StopIteration(value)` (`StopIteration` without a value for None, from `__next__`) or the error.
fn as_result(py: Python<'_>, output: Output<'_>, bare_stop: bool) -> *mut ffi::PyObject {
    match output {
        Output::Yield(value) => value.into_ptr(),
        Output::Return(value) if bare_stop && value.is_none() => ptr::null_mut(),
        Output::Return(value) => {
            raise_stop(py, value);
            ptr::null_mut()
        }
        Output::Raise(error) => {
            error.restore(py);
            ptr::null_mut()
        }
    }
}

unsafe extern "C" fn am_send(
    object: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: called by CPython with a live instance, a live value and the GIL held.
    unsafe {
        run(
            object,
            |py| Ok(Input::Send(Bound::from_borrowed_ptr(py, value))),
            |py, output| match output {
                Output::Yield(value) => {
                    *result = value.into_ptr();
                    ffi::PySendResult::PYGEN_NEXT
                }
                Output::Return(value) => {
                    *result = value.into_ptr();
                    ffi::PySendResult::PYGEN_RETURN
                }
                Output::Raise(error) => {
                    error.restore(py);
                    *result = ptr::null_mut();
                    ffi::PySendResult::PYGEN_ERROR
                }
            },
        )
    }
}

unsafe extern "C" fn am_await(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: a live object; `__await__` returns it, as a new reference.
    unsafe { ffi::Py_INCREF(object) };
    object
}

unsafe extern "C" fn iternext(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with a live instance and the GIL held.
    unsafe { run(object, |py| Ok(Input::Send(py.None().into_bound(py))), |py, output| as_result(py, output, true)) }
}

unsafe extern "C" fn send(object: *mut ffi::PyObject, value: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as `am_send`.
    unsafe {
        run(
            object,
            |py| Ok(Input::Send(Bound::from_borrowed_ptr(py, value))),
            |py, output| as_result(py, output, false),
        )
    }
}

/// `throw(value)`, or the older `throw(type[, value[, traceback]])`.
unsafe extern "C" fn throw(object: *mut ffi::PyObject, args: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as `am_send`; `args` is the call's tuple (METH_VARARGS).
    unsafe {
        run(
            object,
            |py| thrown(Bound::from_borrowed_ptr(py, args).cast_into::<PyTuple>()?).map(Input::Throw),
            |py, output| as_result(py, output, false),
        )
    }
}

/// The exception `throw` was given, instantiated like a coroutine's `throw` does.
fn thrown(args: Bound<'_, PyTuple>) -> PyResult<PyErr> {
    let py = args.py();
    let (kind, value, traceback) = match args.len() {
        1 => (args.get_item(0)?, None, None),
        2 => (args.get_item(0)?, Some(args.get_item(1)?), None),
        3 => (args.get_item(0)?, Some(args.get_item(1)?), Some(args.get_item(2)?)),
        n => return Err(PyTypeError::new_err(format!("throw expected at most 3 arguments, got {n}"))),
    };
    let value = value.filter(|v| !v.is_none());
    let instance = if kind.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        if value.is_some() {
            return Err(PyTypeError::new_err("instance exception may not have a separate value"));
        }
        kind
    } else if kind
        .cast::<PyType>()
        .is_ok_and(|t| t.is_subclass_of::<pyo3::exceptions::PyBaseException>().unwrap_or(false))
    {
        match value {
            Some(value) if value.is_instance(&kind)? => value,
            Some(value) if value.is_instance_of::<PyTuple>() => kind.call1(value.cast_into::<PyTuple>()?)?,
            Some(value) => kind.call1((value,))?,
            None => kind.call0()?,
        }
    } else {
        let name = kind.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!(
            "exceptions must be classes or instances deriving from BaseException, not {name}"
        )));
    };
    if let Some(traceback) = traceback.filter(|t| !t.is_none()) {
        instance.call_method1(pyo3::intern!(py, "with_traceback"), (traceback,))?;
    }
    Ok(PyErr::from_value(instance))
}

unsafe extern "C" fn close(object: *mut ffi::PyObject, _unused: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as `am_send`.
    unsafe {
        run(
            object,
            |_| Ok(Input::Close),
            |py, output| match output {
                Output::Raise(error) => {
                    error.restore(py);
                    ptr::null_mut()
                }
                _ => py.None().into_ptr(),
            },
        )
    }
}

unsafe extern "C" fn cr_await(object: *mut ffi::PyObject, _closure: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a live instance, the GIL held; the cell is only read, and not while a step runs.
    unsafe {
        let py = Python::assume_attached();
        match if is_busy(object) { None } else { (*stage_of(object)).awaiting() } {
            Some(inner) => inner.bind(py).clone().into_ptr(),
            None => py.None().into_ptr(),
        }
    }
}

unsafe extern "C" fn traverse(object: *mut ffi::PyObject, visit: ffi::visitproc, arg: *mut c_void) -> c_int {
    // SAFETY: a live instance; the collector holds the GIL. A step in progress owns the stage (its
    // references are then not reported, which only keeps them alive). Heap types' instances visit
    // their type.
    unsafe {
        if !is_busy(object) {
            for reference in (*stage_of(object)).references().into_iter().flatten() {
                let status = visit(reference.as_ptr(), arg);
                if status != 0 {
                    return status;
                }
            }
        }
        visit(ffi::Py_TYPE(object).cast(), arg)
    }
}

unsafe extern "C" fn clear(object: *mut ffi::PyObject) -> c_int {
    // SAFETY: a live instance, the GIL held; a step in progress owns the stage.
    unsafe {
        let cell = stage_of(object);
        if !is_busy(object) && !matches!(&*cell, Stage::Done) {
            let stage = ptr::replace(cell, Stage::Done);
            abandon(Python::assume_attached(), stage);
        }
    }
    0
}

unsafe extern "C" fn dealloc(object: *mut ffi::PyObject) {
    // SAFETY: called once, with the last reference gone and the GIL held: the stage is moved out
    // and ended, then the memory is kept as a spare or freed, and the instance's reference to its
    // type released (`PyObject_Init` takes a new one when a spare is reused).
    unsafe {
        ffi::PyObject_GC_UnTrack(object.cast());
        let cell = stage_of(object);
        if !matches!(&*cell, Stage::Done) {
            let stage = ptr::replace(cell, Stage::Done);
            let py = Python::assume_attached();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| abandon(py, stage))).is_err() {
                PyRuntimeError::new_err("circuit: panic while freeing a protected call").write_unraisable(py, None);
            }
        }
        let ty = ffi::Py_TYPE(object);
        let count = &mut *SPARE.count.get();
        if *count < SPARES {
            (*SPARE.objects.get())[*count] = object;
            *count += 1;
        } else {
            let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(ty, ffi::Py_tp_free));
            free(object.cast());
        }
        ffi::Py_DECREF(ty.cast());
    }
}

fn create_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    let method = |name: &'static std::ffi::CStr, meth: ffi::PyCFunction, flags: c_int, doc: &'static std::ffi::CStr| {
        ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: meth },
            ml_flags: flags,
            ml_doc: doc.as_ptr(),
        }
    };
    // The tables must outlive the type (it keeps pointers into them): made once, never freed.
    let methods: &'static mut [ffi::PyMethodDef] = Box::leak(Box::new([
        method(c"send", send, ffi::METH_O, c"send(value) -> the next yielded value, or raise StopIteration."),
        method(c"throw", throw, ffi::METH_VARARGS, c"throw(exception) -> raise it inside the awaited call."),
        method(c"close", close, ffi::METH_NOARGS, c"close() -> end the call (recorded as ignored if it was running)."),
        ffi::PyMethodDef::zeroed(),
    ]));
    let getset: &'static mut [ffi::PyGetSetDef] = Box::leak(Box::new([
        ffi::PyGetSetDef {
            name: c"cr_await".as_ptr(),
            get: Some(cr_await),
            set: None,
            doc: c"The awaitable the call is waiting on, or None.".as_ptr(),
            closure: ptr::null_mut(),
        },
        ffi::PyGetSetDef { name: ptr::null(), get: None, set: None, doc: ptr::null(), closure: ptr::null_mut() },
    ]));
    let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
    let doc = c"A call through a circuit breaker, run when awaited (a coroutine-like object).";
    let mut slots = [
        slot(ffi::Py_am_send, am_send as *mut c_void),
        slot(ffi::Py_am_await, am_await as *mut c_void),
        slot(ffi::Py_tp_iternext, iternext as *mut c_void),
        slot(ffi::Py_tp_methods, methods.as_mut_ptr().cast()),
        slot(ffi::Py_tp_getset, getset.as_mut_ptr().cast()),
        slot(ffi::Py_tp_traverse, traverse as *mut c_void),
        slot(ffi::Py_tp_clear, clear as *mut c_void),
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void),
        ffi::PyType_Slot::default(),
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"circuit._circuit.ProtectedCall".as_ptr(),
        basicsize: c_int::try_from(std::mem::size_of::<Object>()).expect("a small object"),
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_HAVE_GC | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: a complete spec whose slot functions match their slots' signatures.
    unsafe { Ok(Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))?.cast_into::<PyType>()?.unbind()) }
}
