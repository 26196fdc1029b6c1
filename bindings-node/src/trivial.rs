//! The trivial-generation cells: for each breaker, the generation whose ordinary permits'
//! successes are trivial (`CircuitBreaker::success_is_trivial`), or `NO_TRIVIAL_GENERATION`.
//! `lib/breaker.js` reads a breaker's cell, without a native call, on every success, to tell
//! whether it may be handed over later (`fastSettle`).
//!
//! A cell is set by `allow` when the permit it issues has a trivial success and cleared by the
//! core listener on every transition (a trivial success stays trivial until then), so it is
//! current whenever JavaScript runs: every change happens inside a native call of its breaker,
//! on its thread.
//!
//! The cells of a thread live in pages of `TRIVIAL_PAGE_CELLS`, a breaker's cell being number
//! `id % TRIVIAL_PAGE_CELLS` of page `id / TRIVIAL_PAGE_CELLS`, and JavaScript reads a page
//! through one `Float64Array` over its memory (an external `ArrayBuffer`), shared by the
//! page's breakers. One view per breaker cost about 1 KB per breaker (V8's and N-API's
//! bookkeeping of an external buffer), more than the engine's breaker itself. Where external
//! buffers are not allowed, the view is an empty array: no cell can be read, so no success is
//! held back.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use napi::sys;

use crate::frame::external_buffers_refused;
use crate::protocol::{NO_TRIVIAL_GENERATION, TRIVIAL_PAGE_CELLS};
use crate::registry::Failure;

/// One page of cells (each an `f64`'s bits, so that JavaScript reads them as numbers).
struct Page([AtomicU64; TRIVIAL_PAGE_CELLS]);

/// A breaker's cell: its page (kept alive by every holder) and its index in it.
#[derive(Clone)]
pub(crate) struct Trivial {
    page: Arc<Page>,
    index: usize,
}

impl Trivial {
    #[inline]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.page.0[self.index].load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn set(&self, value: f64) {
        self.page.0[self.index].store(value.to_bits(), Ordering::Relaxed);
    }
}

/// The pages of one JS thread, and the view of each once JavaScript asked for it.
pub(crate) struct Pages {
    pages: RefCell<Vec<Arc<Page>>>,
    /// A strong reference to each page's view (null until created), all of environment `env`.
    views: RefCell<Vec<sys::napi_ref>>,
    /// The environment of the views. Node runs one environment per thread, but an embedder may
    /// start a new one on the same thread once the last is gone: the old references are then
    /// never used again.
    env: Cell<sys::napi_env>,
}

impl Pages {
    pub(crate) const fn new() -> Self {
        Self { pages: RefCell::new(Vec::new()), views: RefCell::new(Vec::new()), env: Cell::new(ptr::null_mut()) }
    }

    /// The cell of breaker `id`, reset to [`NO_TRIVIAL_GENERATION`] (an id is reused once freed).
    pub(crate) fn cell(&self, id: u32) -> Trivial {
        let (number, index) = (id as usize / TRIVIAL_PAGE_CELLS, id as usize % TRIVIAL_PAGE_CELLS);
        let mut pages = self.pages.borrow_mut();
        while pages.len() <= number {
            let none = NO_TRIVIAL_GENERATION.to_bits();
            pages.push(Arc::new(Page(std::array::from_fn(|_| AtomicU64::new(none)))));
        }
        let cell = Trivial { page: Arc::clone(&pages[number]), index };
        cell.set(NO_TRIVIAL_GENERATION);
        cell
    }

    /// The `Float64Array` over the page of breaker `id` (the same object for every breaker of
    /// the page, in an environment).
    pub(crate) fn view(&self, env: sys::napi_env, id: u32) -> Result<sys::napi_value, Failure> {
        const CANNOT: Failure = c"circuit: cannot create the trivial-generation view";
        unsafe extern "C" fn release(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
            // SAFETY: `hint` is the `Arc` leaked for this buffer below, released exactly once.
            drop(unsafe { Arc::from_raw(hint as *const Page) });
        }
        let number = id as usize / TRIVIAL_PAGE_CELLS;
        let page = match self.pages.borrow().get(number) {
            Some(page) => Arc::clone(page),
            None => return Err(c"circuit: unknown breaker id"),
        };
        let mut views = self.views.borrow_mut();
        if self.env.get() != env {
            views.clear();
            self.env.set(env);
        }
        if views.len() <= number {
            views.resize(number + 1, ptr::null_mut());
        }
        let mut view = ptr::null_mut();
        if !views[number].is_null() {
            // SAFETY: a live strong reference of this environment.
            return match unsafe { sys::napi_get_reference_value(env, views[number], &mut view) } {
                sys::Status::napi_ok => Ok(view),
                _ => Err(CANNOT),
            };
        }
        let data = page.0.as_ptr().cast_mut().cast::<c_void>();
        let hint = Arc::into_raw(page).cast_mut().cast::<c_void>();
        let mut buffer = ptr::null_mut();
        let bytes = size_of::<Page>();
        // SAFETY: `data` is the page's cells, inside the `Arc` that `hint` keeps alive until the
        // buffer is collected (`release`); JavaScript only reads them.
        let status = if external_buffers_refused() {
            sys::Status::napi_no_external_buffers_allowed
        } else {
            unsafe { sys::napi_create_external_arraybuffer(env, data, bytes, Some(release), hint, &mut buffer) }
        };
        let length = if status == sys::Status::napi_ok { TRIVIAL_PAGE_CELLS } else { 0 };
        // SAFETY: the out-pointers are valid; on failure the buffer was not created, so
        // `release` will not run for `hint`.
        unsafe {
            if status != sys::Status::napi_ok {
                drop(Arc::from_raw(hint as *const Page));
                if status != sys::Status::napi_no_external_buffers_allowed
                    || sys::napi_create_arraybuffer(env, 0, &mut ptr::null_mut(), &mut buffer) != sys::Status::napi_ok
                {
                    return Err(CANNOT);
                }
            }
            let mut reference = ptr::null_mut();
            if sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, length, buffer, 0, &mut view)
                != sys::Status::napi_ok
                || sys::napi_create_reference(env, view, 1, &mut reference) != sys::Status::napi_ok
            {
                return Err(CANNOT);
            }
            views[number] = reference;
        }
        Ok(view)
    }
}
