//! The call frame: `FRAME_SLOTS` numbers per JS thread through which `lib/breaker.js` and the
//! fast-path functions (`fast_path.rs`) pass their arguments and results. JavaScript writes the
//! breaker id and the arguments into a `Float64Array` over this memory (`frameView()`), calls a
//! fast-path function with no arguments, and reads the result from the same array. An N-API call
//! then reads no argument handles and creates no result value, which on this machine saves
//! about half of its cost (roughly 25 of 50 ns). Slots and their meanings: `protocol.rs`.
//!
//! The frame lives in the thread's `Local` (a thread-local, which outlives the thread's JS
//! environment), so the view is an external `ArrayBuffer` that never frees it. Where external
//! buffers are not allowed (`napi_no_external_buffers_allowed`, some embedders of V8's sandbox)
//! the view is an ordinary `ArrayBuffer` held by a reference, whose memory each call looks up
//! (a detached buffer is then an error, never a dangling read). One view per thread, created
//! on first use and kept: every module instance of a thread shares it.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use napi::sys;

use crate::protocol::FRAME_SLOTS;
use crate::registry::Failure;

type Slots = [Cell<f64>; FRAME_SLOTS];

/// Whether to act as if N-API refused external buffers: only in the test build (feature
/// `test-hooks`) with `CIRCUIT_TEST_NO_EXTERNAL_BUFFERS` set, to test the fallbacks.
pub(crate) fn external_buffers_refused() -> bool {
    cfg!(feature = "test-hooks") && std::env::var_os("CIRCUIT_TEST_NO_EXTERNAL_BUFFERS").is_some()
}

/// One JS thread's call frame (see the module documentation).
pub(crate) struct Frame {
    slots: Slots,
    /// The `Float64Array` over the frame, once created (a strong reference), else null.
    view: Cell<sys::napi_ref>,
    /// The ordinary `ArrayBuffer` whose memory is the frame when external buffers are not
    /// allowed (a strong reference), else null: then `slots` is the frame.
    fallback: Cell<sys::napi_ref>,
    /// The environment both references belong to. Node runs one environment per thread, but an
    /// embedder may start a new one on the same thread once the last is gone: the references of
    /// the old one are then never used again.
    env: Cell<sys::napi_env>,
}

impl Frame {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { Cell::new(0.0) }; FRAME_SLOTS],
            view: Cell::new(ptr::null_mut()),
            fallback: Cell::new(ptr::null_mut()),
            env: Cell::new(ptr::null_mut()),
        }
    }

    /// The frame's slots, valid for the rest of the current callback (JavaScript cannot run
    /// before it returns, so nothing detaches or collects the buffer meanwhile).
    #[inline]
    pub(crate) fn slots(&self, env: sys::napi_env) -> Result<&Slots, Failure> {
        let fallback = self.fallback.get();
        if fallback.is_null() {
            return Ok(&self.slots);
        }
        self.fallback_slots(env, fallback)
    }

    #[cold]
    fn fallback_slots(&self, env: sys::napi_env, fallback: sys::napi_ref) -> Result<&Slots, Failure> {
        if self.env.get() != env {
            return Err(c"circuit: the call frame belongs to another environment");
        }
        let mut buffer = ptr::null_mut();
        let mut data = ptr::null_mut();
        let mut length = 0;
        // SAFETY: `fallback` is a live strong reference of this thread's environment, created
        // by `view`; the out-pointers are valid.
        let ok = unsafe {
            sys::napi_get_reference_value(env, fallback, &mut buffer) == sys::Status::napi_ok
                && sys::napi_get_arraybuffer_info(env, buffer, &mut data, &mut length) == sys::Status::napi_ok
        };
        if !ok || data.is_null() || length < size_of::<Slots>() {
            return Err(c"circuit: the call frame was detached");
        }
        // SAFETY: `data` is the live, 8-aligned backing store of `length` bytes of a buffer the
        // reference keeps alive; no JavaScript runs until the callback returns, so it is
        // neither detached nor collected meanwhile, and it is only accessed through `Cell`s.
        Ok(unsafe { &*data.cast::<Slots>() })
    }

    /// The `Float64Array` over the frame (the same object on every call in an environment).
    pub(crate) fn view(&self, env: sys::napi_env) -> Result<sys::napi_value, Failure> {
        const CANNOT: Failure = c"circuit: cannot create the call frame";
        let mut view = ptr::null_mut();
        let existing = self.view.get();
        if !existing.is_null() && self.env.get() == env {
            // SAFETY: a live strong reference of this thread's environment.
            return match unsafe { sys::napi_get_reference_value(env, existing, &mut view) } {
                sys::Status::napi_ok => Ok(view),
                _ => Err(CANNOT),
            };
        }
        let mut buffer = ptr::null_mut();
        let data = self.slots.as_ptr().cast_mut().cast::<c_void>();
        // SAFETY: `data` is this thread's frame, `FRAME_SLOTS` 8-aligned `f64`s in a thread-local
        // that outlives the environment, so no finalizer is needed; every access on both sides
        // is on this thread, the Rust side through `Cell`s.
        let mut status = if external_buffers_refused() {
            sys::Status::napi_no_external_buffers_allowed
        } else {
            unsafe {
                sys::napi_create_external_arraybuffer(env, data, size_of::<Slots>(), None, ptr::null_mut(), &mut buffer)
            }
        };
        self.fallback.set(ptr::null_mut());
        if status == sys::Status::napi_no_external_buffers_allowed {
            let mut bytes = ptr::null_mut();
            let mut fallback = ptr::null_mut();
            // SAFETY: N-API allocates the buffer; the reference keeps it alive for the
            // environment's lifetime (N-API deletes leftover references at teardown).
            status = unsafe {
                match sys::napi_create_arraybuffer(env, size_of::<Slots>(), &mut bytes, &mut buffer) {
                    sys::Status::napi_ok => sys::napi_create_reference(env, buffer, 1, &mut fallback),
                    other => other,
                }
            };
            if status == sys::Status::napi_ok {
                self.fallback.set(fallback);
            }
        }
        if status != sys::Status::napi_ok {
            return Err(CANNOT);
        }
        let mut reference = ptr::null_mut();
        // SAFETY: `buffer` is a live `ArrayBuffer` of `FRAME_SLOTS` `f64`s in this scope.
        unsafe {
            if sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, FRAME_SLOTS, buffer, 0, &mut view)
                != sys::Status::napi_ok
                || sys::napi_create_reference(env, view, 1, &mut reference) != sys::Status::napi_ok
            {
                return Err(CANNOT);
            }
        }
        self.view.set(reference);
        self.env.set(env);
        Ok(view)
    }
}
