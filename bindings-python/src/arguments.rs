//! The arguments of a call made later (a `ProtectedCall` calls its function when first awaited):
//! up to three positional arguments are kept inline and passed without a tuple, as a vectorcall
//! passed them (most calls); others as the tuple and keyword dict of the call.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::protected_call::Held;

pub(crate) enum Arguments {
    /// Positional arguments only, at most `INLINE` of them.
    Inline(InlineArguments),
    Packed {
        args: Held<PyTuple>,
        kwargs: Option<Held<PyDict>>,
    },
}

pub(crate) const INLINE: usize = 3;

pub(crate) struct InlineArguments {
    count: usize,
    values: [Option<Held<PyAny>>; INLINE],
}

impl Arguments {
    pub(crate) fn packed(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Self::Packed { args: Held::new(args.clone().unbind()), kwargs: kwargs.map(|k| Held::new(k.clone().unbind())) }
    }

    /// The arguments of a vectorcall: `args` holds the positional arguments, then the values of
    /// the keywords named in `kwnames` (NULL without keywords).
    ///
    /// # Safety
    /// The thread holds the GIL; `args` points to `count` + len(`kwnames`) live objects.
    pub(crate) unsafe fn of_vectorcall(
        py: Python<'_>,
        args: *const *mut ffi::PyObject,
        count: usize,
        kwnames: *mut ffi::PyObject,
    ) -> PyResult<Self> {
        // SAFETY: per the contract.
        unsafe {
            let at = |i: usize| Bound::from_borrowed_ptr(py, *args.add(i));
            if kwnames.is_null() && count <= INLINE {
                let mut values = [None, None, None];
                for (i, value) in values.iter_mut().enumerate().take(count) {
                    *value = Some(Held::new(at(i).unbind()));
                }
                return Ok(Self::Inline(InlineArguments { count, values }));
            }
            let positional = PyTuple::new(py, (0..count).map(at))?;
            let kwargs = match Bound::from_borrowed_ptr_or_opt(py, kwnames) {
                None => None,
                Some(names) => {
                    let names = names.cast_into::<PyTuple>()?;
                    let kwargs = PyDict::new(py);
                    for (i, name) in names.iter().enumerate() {
                        kwargs.set_item(name, at(count + i))?;
                    }
                    Some(kwargs)
                }
            };
            Ok(Self::packed(&positional, kwargs.as_ref()))
        }
    }

    /// `callable(*arguments)`.
    pub(crate) fn call<'py>(&self, callable: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = callable.py();
        match self {
            Self::Packed { args, kwargs } => callable.call(args.bind(py), kwargs.as_ref().map(|k| k.bind(py))),
            Self::Inline(inline) => {
                let at = |i: usize| inline.values[i].as_ref().map_or(std::ptr::null_mut(), |v| v.as_ptr());
                let f = callable.as_ptr();
                let null = std::ptr::null_mut::<ffi::PyObject>();
                // SAFETY: live objects, a NULL-terminated argument list; a new reference or NULL
                // with an exception set. (`PyObject_CallFunctionObjArgs` passes them to the
                // callable's vectorcall from a stack array: no tuple is made.)
                unsafe {
                    let result = match inline.count {
                        0 => ffi::PyObject_CallFunctionObjArgs(f, null),
                        1 => ffi::PyObject_CallFunctionObjArgs(f, at(0), null),
                        2 => ffi::PyObject_CallFunctionObjArgs(f, at(0), at(1), null),
                        _ => ffi::PyObject_CallFunctionObjArgs(f, at(0), at(1), at(2), null),
                    };
                    Bound::from_owned_ptr_or_err(py, result)
                }
            }
        }
    }

    /// The objects held, for the garbage collector.
    pub(crate) fn references(&self) -> [Option<&Py<PyAny>>; INLINE] {
        match self {
            Self::Inline(inline) => {
                let [a, b, c] = &inline.values;
                [a.as_deref(), b.as_deref(), c.as_deref()]
            }
            Self::Packed { args, kwargs } => [Some(args.as_any()), kwargs.as_ref().map(|k| k.as_any()), None],
        }
    }
}
