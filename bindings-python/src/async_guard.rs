//! `AsyncGuarded`: what `@breaker` returns for a coroutine function on a breaker without `timeout`.
//! Each call returns a `ProtectedCall` (`protected_call.rs`) holding the function and the call's
//! own argument tuple and dict; nothing is admitted or called until it is awaited.
//!
//! A type written by hand against the 3.10 stable ABI, like `ProtectedCall`'s: PyO3's `__call__`
//! copies the argument tuple and goes through its argument parser, about a third of the protected
//! await's own cost. It has a `__dict__` (so `functools.update_wrapper` can copy the function's
//! metadata and `__wrapped__`, and the Python side marks it as a coroutine function), a descriptor
//! `__get__` (so it works on methods) and a `breaker` attribute.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::breaker::Breaker;

/// The object's layout. `breaker` and `func` are set at creation and never change; `dict` is the
/// instance dict CPython manages (`__dictoffset__`), NULL until first written.
#[repr(C)]
struct Object {
    head: ffi::PyObject,
    /// The vectorcall entry point (`__vectorcalloffset__`): how CPython calls it, without an
    /// argument tuple.
    vectorcall: Option<ffi::vectorcallfunc>,
    breaker: *mut ffi::PyObject,
    func: *mut ffi::PyObject,
    dict: *mut ffi::PyObject,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `Py_TPFLAGS_HAVE_VECTORCALL`: part of the stable ABI's headers from 3.12, with this value (and
/// honoured by `PyType_FromSpec` together with `__vectorcalloffset__`) since 3.9.
const HAVE_VECTORCALL: std::ffi::c_ulong = 1 << 11;

/// A new `AsyncGuarded` calling `func` through `breaker`.
pub(crate) fn new<'py>(breaker: &Bound<'py, Breaker>, func: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = breaker.py();
    let ty = TYPE.get_or_try_init(py, || create_type(py))?;
    // SAFETY: `ty` is our type (basicsize = size_of::<Object>()); the zeroed allocation is a valid
    // empty object for the collector, and the fields are filled before anything else runs.
    unsafe {
        let object = ffi::PyType_GenericAlloc(ty.as_ptr().cast(), 0);
        if object.is_null() {
            return Err(PyErr::fetch(py));
        }
        let fields = object.cast::<Object>();
        (*fields).vectorcall = Some(vectorcall);
        (*fields).breaker = breaker.clone().into_ptr();
        (*fields).func = func.clone().into_ptr();
        Ok(Bound::from_owned_ptr(py, object))
    }
}

/// # Safety
/// `object` is a live `AsyncGuarded`.
unsafe fn fields<'a>(object: *mut ffi::PyObject) -> &'a mut Object {
    // SAFETY: per the contract.
    unsafe { &mut *object.cast::<Object>() }
}

unsafe extern "C" fn call(
    object: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held, a live instance, the argument tuple and NULL or
    // the keyword dict; the fields are live references of the right types.
    unsafe {
        let py = Python::assume_attached();
        let this = fields(object);
        let breaker = Bound::from_borrowed_ptr(py, this.breaker).cast_into_unchecked::<Breaker>();
        let func = Bound::from_borrowed_ptr(py, this.func);
        let args = Bound::from_borrowed_ptr(py, args).cast_into_unchecked::<PyTuple>();
        let kwargs = Bound::from_borrowed_ptr_or_opt(py, kwargs).map(|k| k.cast_into_unchecked::<PyDict>());
        let arguments = crate::arguments::Arguments::packed(&args, kwargs.as_ref());
        returned(py, crate::protected_call_type::new(py, crate::protected_call::pending(&breaker, &func, arguments)))
    }
}

/// The vectorcall protocol's entry (what `f(x)` in Python uses).
unsafe extern "C" fn vectorcall(
    object: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held, a live instance, and `args` holding the
    // positional arguments (their count is `nargsf` without its flag bit) then the keywords'.
    unsafe {
        let py = Python::assume_attached();
        let this = fields(object);
        let breaker = Bound::from_borrowed_ptr(py, this.breaker).cast_into_unchecked::<Breaker>();
        let func = Bound::from_borrowed_ptr(py, this.func);
        let count = nargsf & !(1usize << (usize::BITS - 1));
        let stage = crate::arguments::Arguments::of_vectorcall(py, args, count, kwnames)
            .map(|arguments| crate::protected_call::pending(&breaker, &func, arguments));
        returned(py, stage.and_then(|stage| crate::protected_call_type::new(py, stage)))
    }
}

/// A new reference, or NULL with the error raised.
fn returned(py: Python<'_>, result: PyResult<Bound<'_, PyAny>>) -> *mut ffi::PyObject {
    match result {
        Ok(value) => value.into_ptr(),
        Err(error) => {
            error.restore(py);
            ptr::null_mut()
        }
    }
}

/// `__get__`: itself when read from the class, else a `types.MethodType` bound to `instance`.
unsafe extern "C" fn descr_get(
    object: *mut ffi::PyObject,
    instance: *mut ffi::PyObject,
    _owner: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    static METHOD_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    // SAFETY: CPython calls this with the GIL held and a live instance; `instance` may be NULL.
    unsafe {
        let py = Python::assume_attached();
        let wrapper = Bound::from_borrowed_ptr(py, object);
        let bound = match Bound::from_borrowed_ptr_or_opt(py, instance) {
            Some(instance) if !instance.is_none() => {
                METHOD_TYPE.import(py, "types", "MethodType").and_then(|m| m.call1((wrapper, instance)))
            }
            _ => Ok(wrapper),
        };
        match bound {
            Ok(bound) => bound.into_ptr(),
            Err(error) => {
                error.restore(py);
                ptr::null_mut()
            }
        }
    }
}

unsafe extern "C" fn get_breaker(object: *mut ffi::PyObject, _closure: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a live instance, the GIL held; a new reference to the breaker.
    unsafe {
        let breaker = fields(object).breaker;
        ffi::Py_IncRef(breaker);
        breaker
    }
}

unsafe extern "C" fn traverse(object: *mut ffi::PyObject, visit: ffi::visitproc, arg: *mut c_void) -> c_int {
    // SAFETY: a live instance; the collector holds the GIL. Heap types' instances visit their type.
    unsafe {
        let this = fields(object);
        for reference in [this.breaker, this.func, this.dict] {
            if !reference.is_null() {
                let status = visit(reference, arg);
                if status != 0 {
                    return status;
                }
            }
        }
        visit(ffi::Py_TYPE(object).cast(), arg)
    }
}

unsafe extern "C" fn clear(object: *mut ffi::PyObject) -> c_int {
    // SAFETY: a live instance, the GIL held. Only the dict is cleared (it is what can close a cycle
    // through `__wrapped__` and friends); `breaker` and `func` stay valid while the object lives.
    unsafe {
        let this = fields(object);
        let dict = std::mem::replace(&mut this.dict, ptr::null_mut());
        if !dict.is_null() {
            ffi::Py_DecRef(dict);
        }
    }
    0
}

unsafe extern "C" fn dealloc(object: *mut ffi::PyObject) {
    // SAFETY: called once with the last reference gone and the GIL held.
    unsafe {
        ffi::PyObject_GC_UnTrack(object.cast());
        let this = fields(object);
        for reference in [this.breaker, this.func, this.dict] {
            if !reference.is_null() {
                ffi::Py_DecRef(reference);
            }
        }
        let ty = ffi::Py_TYPE(object);
        let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(ty, ffi::Py_tp_free));
        free(object.cast());
        ffi::Py_DecRef(ty.cast());
    }
}

fn create_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    let offset = |field: usize| ffi::Py_ssize_t::try_from(field).expect("a small offset");
    // The tables must outlive the type (it keeps pointers into them): made once, never freed.
    let members: &'static mut [ffi::PyMemberDef] = Box::leak(Box::new([
        ffi::PyMemberDef {
            name: c"__vectorcalloffset__".as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: offset(std::mem::offset_of!(Object, vectorcall)),
            flags: ffi::Py_READONLY,
            doc: ptr::null(),
        },
        ffi::PyMemberDef {
            name: c"__dictoffset__".as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: offset(std::mem::offset_of!(Object, dict)),
            flags: ffi::Py_READONLY,
            doc: ptr::null(),
        },
        ffi::PyMemberDef::default(),
    ]));
    let getset: &'static mut [ffi::PyGetSetDef] = Box::leak(Box::new([
        ffi::PyGetSetDef {
            name: c"breaker".as_ptr(),
            get: Some(get_breaker),
            set: None,
            doc: c"The breaker protecting this function.".as_ptr(),
            closure: ptr::null_mut(),
        },
        ffi::PyGetSetDef {
            name: c"__dict__".as_ptr(),
            get: Some(ffi::PyObject_GenericGetDict),
            set: Some(ffi::PyObject_GenericSetDict),
            doc: ptr::null(),
            closure: ptr::null_mut(),
        },
        ffi::PyGetSetDef::default(),
    ]));
    let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
    let doc = c"A coroutine function protected by a circuit breaker (what `@breaker` makes of an `async def`).";
    let mut slots = [
        slot(ffi::Py_tp_call, call as *mut c_void),
        slot(ffi::Py_tp_descr_get, descr_get as *mut c_void),
        slot(ffi::Py_tp_members, members.as_mut_ptr().cast()),
        slot(ffi::Py_tp_getset, getset.as_mut_ptr().cast()),
        slot(ffi::Py_tp_traverse, traverse as *mut c_void),
        slot(ffi::Py_tp_clear, clear as *mut c_void),
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void),
        ffi::PyType_Slot::default(),
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"circuit._circuit.AsyncGuarded".as_ptr(),
        basicsize: c_int::try_from(std::mem::size_of::<Object>()).expect("a small object"),
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT
            | ffi::Py_TPFLAGS_HAVE_GC
            | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION
            | HAVE_VECTORCALL) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: a complete spec whose slot functions match their slots' signatures.
    let ty = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))?.cast_into::<PyType>()? };
    if ty.getattr("__dictoffset__")?.extract::<isize>()? == 0 {
        return Err(PyRuntimeError::new_err("circuit: AsyncGuarded was created without an instance dict"));
    }
    Ok(ty.unbind())
}

/// The `AsyncGuarded` type, for the module's namespace.
pub(crate) fn type_object(py: Python<'_>) -> PyResult<&Py<PyType>> {
    TYPE.get_or_try_init(py, || create_type(py))
}
