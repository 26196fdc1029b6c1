//! Node binding of the circuit engine (napi-rs).
//!
//! This crate is the private native layer (`binding.js`); the public API is the hand-written
//! `index.js`, which validates types, names options in camelCase, builds the error classes and
//! turns queued transitions into `EventEmitter` events. Every state decision is the core's: this
//! file converts values and hands permits back and forth, nothing more.
//!
//! * **Two tiers of entry points.** Construction, metrics, manual control and event draining are
//!   ordinary `#[napi]` items. The calls on the hot path (`fastAllow`, `fastRecord`, ...) are plain
//!   N-API functions registered by [`register_fast_path`], taking and returning numbers only:
//!   napi-rs 3.16 wraps every generated callback in per-call borrow tracking that allocates (about
//!   100 ns for a no-op function and 270 ns for a method on this machine), which would be more than
//!   the rest of `breaker.execute`. Each runs its body under `catch_unwind`.
//! * **Breakers by id.** A breaker lives in a per-thread registry ([`LOCAL`]; each Node worker is
//!   its own thread with its own breakers) and JavaScript refers to it by a small integer. The
//!   `NativeBreaker` object owns the id and frees the breaker when it is garbage-collected;
//!   `index.js` keeps that object alive for as long as anything can still use the id.
//! * **Permits are plain data.** `allow` returns the core's [`RawPermit`] as numbers: just the
//!   generation for an ordinary closed-state permit, or `[generation, admitted_at high, admitted
//!   low, ticket, events]` for a probe or a time-stamped permit. JavaScript hands them back to
//!   `fastRecord`/`fastRecordParts`, which rebuild the permit with [`RawPermit::from_parts`] (the core never
//!   trusts such a value to free a probe slot it does not hold) and record it. An admitted call
//!   therefore allocates nothing here. The spent flag lives on the JavaScript permit object, and
//!   `index.js` records a garbage-collected unrecorded probe permit as ignored.
//! * **Events.** A core listener queues each transition, in order (the core delivers each once, in
//!   order, with no lock held; all of a breaker's calls are on its own JS thread). Every call
//!   that can cause one reports an "events pending" bit and `index.js` drains the queue right
//!   after the call returns, or, for a call made from a JS listener, from the delivery loop
//!   already running once that listener returns.
//! * Nothing here starts a thread, a timer or a threadsafe function: the addon never keeps the
//!   event loop alive.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use circuit::{
    CircuitBreaker, Config, ConfigError, ManualClock, Outcome, RawPermit, Reason, Recorded, RejectReason, Rejected,
    State, ThreadSlot, Transition, count_from_i64, duration_from_f64,
};
use napi::bindgen_prelude::*;
use napi::{JsValue, sys};
use napi_derive::napi;

const NANOS_PER_MS: f64 = 1e6;

fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / NANOS_PER_MS
}

// ------------------------------------------------------------------------------------------------
// Vocabulary
// ------------------------------------------------------------------------------------------------

/// The spellings behind the integer codes the native layer returns, in code order.
#[napi(object)]
pub struct Vocabulary {
    pub states: Vec<String>,
    pub reasons: Vec<String>,
    pub reject_reasons: Vec<String>,
    pub outcomes: Vec<String>,
}

/// The core's spellings, so `index.js` never hard-codes them.
#[napi(catch_unwind)]
pub fn vocabulary() -> Vocabulary {
    fn names<T: Copy>(all: &[T], text: fn(T) -> &'static str) -> Vec<String> {
        all.iter().map(|v| text(*v).to_owned()).collect()
    }
    Vocabulary {
        states: names(State::ALL, State::as_str),
        reasons: names(Reason::ALL, Reason::as_str),
        reject_reasons: names(RejectReason::ALL, RejectReason::as_str),
        outcomes: names(Outcome::ALL, Outcome::as_str),
    }
}

// ------------------------------------------------------------------------------------------------
// Clock
// ------------------------------------------------------------------------------------------------

/// A manual clock (`ManualClock` in `index.js`); every breaker created with it shares its time
/// line.
#[napi]
pub struct NativeClock {
    clock: ManualClock,
}

#[napi]
impl NativeClock {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        Self { clock: ManualClock::new() }
    }

    /// Moves the clock forward by `by` milliseconds; returns the new instant in milliseconds.
    /// A negative, NaN or infinite value throws and leaves the clock alone.
    #[napi(catch_unwind)]
    pub fn advance(&self, by: f64) -> Result<f64> {
        let by = duration_from_f64("ms", by, NANOS_PER_MS)
            .map_err(|e| Error::new(Status::InvalidArg, e.reason().to_owned()))?;
        Ok(ms(self.clock.advance(by)))
    }

    /// The current instant in milliseconds.
    #[napi(catch_unwind)]
    pub fn now(&self) -> f64 {
        ms(self.clock.now())
    }
}

impl Default for NativeClock {
    fn default() -> Self {
        Self::new()
    }
}

// ------------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------------

/// The engine options, already type-checked by `index.js` (numbers are numbers, the seed is the
/// decimal string of an unsigned 64-bit integer). Ranges are checked here and by the core.
#[napi(object)]
pub struct NativeOptions {
    pub name: Option<String>,
    pub failure_threshold: Option<f64>,
    pub failure_rate_threshold: Option<f64>,
    pub slow_call_duration: Option<f64>,
    pub slow_call_rate_threshold: Option<f64>,
    pub minimum_calls: Option<f64>,
    pub window_size: Option<f64>,
    pub window_duration: Option<f64>,
    pub window_buckets: Option<f64>,
    pub reset_timeout: Option<f64>,
    pub backoff_multiplier: Option<f64>,
    pub max_reset_timeout: Option<f64>,
    pub jitter: Option<f64>,
    pub jitter_seed: Option<String>,
    pub half_open_max_calls: Option<f64>,
    pub success_threshold: Option<f64>,
    pub half_open_max_wait: Option<f64>,
}

/// Why an option was refused: the core's snake_case option name and the reason.
#[napi(object)]
pub struct ConfigProblem {
    pub option: String,
    pub reason: String,
}

impl From<ConfigError> for ConfigProblem {
    fn from(e: ConfigError) -> Self {
        Self { option: e.option().to_owned(), reason: e.reason().to_owned() }
    }
}

type Checked<T> = std::result::Result<T, ConfigProblem>;

/// A count option: a whole number, then the core's range check.
fn count(option: &'static str, value: f64) -> Checked<u32> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e18 {
        return count_from_i64(option, value as i64).map_err(ConfigProblem::from);
    }
    Err(ConfigProblem { option: option.to_owned(), reason: format!("must be a whole number, got {value}") })
}

/// A duration option in milliseconds, rounded to whole nanoseconds by the core.
fn duration(option: &'static str, value: f64) -> Checked<Duration> {
    duration_from_f64(option, value, NANOS_PER_MS).map_err(ConfigProblem::from)
}

fn build_config(o: NativeOptions) -> Checked<Config> {
    let mut b = Config::builder();
    if let Some(v) = o.name {
        b = b.name(v);
    }
    if let Some(v) = o.failure_threshold {
        b = b.failure_threshold(count("failure_threshold", v)?);
    }
    if let Some(v) = o.failure_rate_threshold {
        b = b.failure_rate_threshold(v);
    }
    if let Some(v) = o.slow_call_duration {
        b = b.slow_call_duration(duration("slow_call_duration", v)?);
    }
    if let Some(v) = o.slow_call_rate_threshold {
        b = b.slow_call_rate_threshold(v);
    }
    if let Some(v) = o.minimum_calls {
        b = b.minimum_calls(count("minimum_calls", v)?);
    }
    if let Some(v) = o.window_size {
        b = b.window_size(count("window_size", v)?);
    }
    if let Some(v) = o.window_duration {
        b = b.window_duration(duration("window_duration", v)?);
    }
    if let Some(v) = o.window_buckets {
        b = b.window_buckets(count("window_buckets", v)?);
    }
    if let Some(v) = o.reset_timeout {
        b = b.reset_timeout(duration("reset_timeout", v)?);
    }
    if let Some(v) = o.backoff_multiplier {
        b = b.backoff_multiplier(v);
    }
    if let Some(v) = o.max_reset_timeout {
        b = b.max_reset_timeout(duration("max_reset_timeout", v)?);
    }
    if let Some(v) = o.jitter {
        b = b.jitter(v);
    }
    if let Some(v) = o.jitter_seed {
        let seed = v.parse::<u64>().map_err(|_| ConfigProblem {
            option: "jitter_seed".to_owned(),
            reason: format!("must be a 64-bit integer, got {v}"),
        })?;
        b = b.jitter_seed(seed);
    }
    if let Some(v) = o.half_open_max_calls {
        b = b.half_open_max_calls(count("half_open_max_calls", v)?);
    }
    if let Some(v) = o.success_threshold {
        b = b.success_threshold(count("success_threshold", v)?);
    }
    if let Some(v) = o.half_open_max_wait {
        b = b.half_open_max_wait(duration("half_open_max_wait", v)?);
    }
    b.build().map_err(ConfigProblem::from)
}

// ------------------------------------------------------------------------------------------------
// Registry
// ------------------------------------------------------------------------------------------------

/// Transitions queued by the core listener until `index.js` drains them.
#[derive(Default)]
struct Queue {
    transitions: Mutex<Vec<Transition>>,
    pending: AtomicBool,
}

impl Queue {
    fn push(&self, t: &Transition) {
        self.transitions.lock().unwrap_or_else(PoisonError::into_inner).push(*t);
        self.pending.store(true, Ordering::Release);
    }

    #[inline]
    fn pending_bit(&self) -> i32 {
        i32::from(self.pending.load(Ordering::Acquire))
    }
}

/// One breaker as the binding holds it.
struct Entry {
    breaker: Arc<CircuitBreaker>,
    queue: Arc<Queue>,
    /// The last rejection, read by `takeRejection` right after a rejected `allow`.
    rejection: Option<Rejected>,
}

struct Registry {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
}

/// The state of one JS thread: its breakers, by id, and its counter stripe.
struct Local {
    registry: RefCell<Registry>,
    /// The thread's counter stripe, looked up once (saves a thread-local access per call).
    slot: Cell<Option<ThreadSlot>>,
}

thread_local! {
    /// Each JS thread (the main thread, each worker) has its own breakers. The fast-path
    /// functions receive the address of their thread's `Local` as callback data, so they do not
    /// look it up per call.
    static LOCAL: Local = const {
        Local {
            registry: RefCell::new(Registry { entries: Vec::new(), free: Vec::new() }),
            slot: Cell::new(None),
        }
    };
}

impl Local {
    /// Runs `f` on the breaker `id` with this thread's counter stripe. The core never calls back
    /// into this module except through the transition listener, which only touches its own queue,
    /// so the borrow is never re-entered.
    #[inline]
    fn with<R>(&self, id: u32, f: impl FnOnce(&mut Entry, ThreadSlot) -> R) -> std::result::Result<R, Failure> {
        let mut registry = self.registry.try_borrow_mut().map_err(|_| c"circuit: re-entrant native call")?;
        let slot = match self.slot.get() {
            Some(slot) => slot,
            None => {
                let slot = ThreadSlot::current();
                self.slot.set(Some(slot));
                slot
            }
        };
        match registry.entries.get_mut(id as usize) {
            Some(Some(entry)) => Ok(f(entry, slot)),
            _ => Err(c"circuit: unknown breaker id"),
        }
    }
}

/// Runs `f` on the breaker `id` (the slow path: metrics, control, events).
fn with_entry<R>(id: u32, f: impl FnOnce(&mut Entry) -> R) -> Result<R> {
    LOCAL
        .with(|local| local.with(id, |entry, _| f(entry)))
        .map_err(|e| Error::new(Status::GenericFailure, e.to_string_lossy().into_owned()))
}

/// The owner of a breaker id; when the JS object is collected, the breaker is freed.
#[napi]
pub struct NativeBreaker {
    id: u32,
    deferrable: bool,
}

impl Drop for NativeBreaker {
    fn drop(&mut self) {
        // A thread-local is gone only at thread exit, when there is nothing left to free.
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut registry) = local.registry.try_borrow_mut()
                && let Some(slot) = registry.entries.get_mut(self.id as usize)
                && slot.take().is_some()
            {
                registry.free.push(self.id);
            }
        });
    }
}

/// Creates a breaker, or says which option is invalid (nothing is created then).
#[napi(catch_unwind)]
pub fn create_breaker(options: NativeOptions, clock: Option<&NativeClock>) -> Either<NativeBreaker, ConfigProblem> {
    let config = match build_config(options) {
        Ok(config) => config,
        Err(problem) => return Either::B(problem),
    };
    // A success can trip nothing and reads no clock when there is no rate rule and no slow-call
    // rule: only then may `index.js` defer recording successes (see `settle`).
    let deferrable = config.failure_rate_threshold().is_none()
        && config.slow_call_rate_threshold().is_none()
        && config.slow_call_duration().is_none();
    let breaker = Arc::new(match clock {
        Some(clock) => CircuitBreaker::with_clock(config, clock.clock.clone()),
        None => CircuitBreaker::new(config),
    });
    let queue = Arc::new(Queue::default());
    let sink = Arc::clone(&queue);
    breaker.on_transition(move |t| sink.push(t));
    let entry = Entry { breaker, queue, rejection: None };
    let id = LOCAL.with(|local| {
        let mut registry = local.registry.borrow_mut();
        match registry.free.pop() {
            Some(id) => {
                registry.entries[id as usize] = Some(entry);
                id
            }
            None => {
                registry.entries.push(Some(entry));
                (registry.entries.len() - 1) as u32
            }
        }
    });
    Either::A(NativeBreaker { id, deferrable })
}

/// A rejection, for `CircuitOpenError`.
#[napi(object)]
pub struct NativeRejection {
    pub state: String,
    pub reason: String,
    pub retry_after: Option<f64>,
}

#[napi]
impl NativeBreaker {
    /// The id the fast-path functions take.
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether successes of ordinary closed-state permits may be recorded late (`settle`): true
    /// in consecutive-failure mode without a slow-call rule.
    #[napi(getter, catch_unwind)]
    pub fn deferrable(&self) -> bool {
        self.deferrable
    }

    /// The last rejection of `allow`.
    #[napi(catch_unwind)]
    pub fn take_rejection(&self) -> Result<Option<NativeRejection>> {
        with_entry(self.id, |e| {
            e.rejection.take().map(|r| NativeRejection {
                state: r.state().as_str().to_owned(),
                reason: r.reason().as_str().to_owned(),
                retry_after: r.retry_after().map(ms),
            })
        })
    }

    /// The queued transitions, flattened as `[from, to, reason, at_ms, ...]` (codes), oldest
    /// first; empty when none is queued.
    #[napi(catch_unwind)]
    pub fn drain(&self) -> Result<Vec<f64>> {
        let queue = with_entry(self.id, |e| Arc::clone(&e.queue))?;
        if !queue.pending.swap(false, Ordering::AcqRel) {
            return Ok(Vec::new());
        }
        let taken = std::mem::take(&mut *queue.transitions.lock().unwrap_or_else(PoisonError::into_inner));
        let mut out = Vec::with_capacity(taken.len() * 4);
        for t in taken {
            out.extend([f64::from(t.from.code()), f64::from(t.to.code()), f64::from(t.reason.code()), ms(t.at)]);
        }
        Ok(out)
    }

    /// The metrics snapshot, flattened in the order of `metrics()` in `index.js`; the state as
    /// its code, durations in milliseconds, `-1` for an absent `retry_after`.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Result<Vec<f64>> {
        let m = with_entry(self.id, |e| e.breaker.metrics())?;
        Ok(vec![
            f64::from(m.state.code()),
            m.generation as f64,
            m.consecutive_failures as f64,
            m.window_calls as f64,
            m.window_failures as f64,
            m.window_slow as f64,
            m.failure_rate,
            m.slow_rate,
            m.admitted as f64,
            m.rejected as f64,
            m.successes as f64,
            m.failures as f64,
            m.ignored as f64,
            m.slow as f64,
            m.stale as f64,
            m.opened as f64,
            ms(m.time_in_state),
            m.retry_after.map_or(-1.0, ms),
        ])
    }

    /// When the next time-driven transition is due (ms on the breaker's clock), or `null`.
    #[napi(catch_unwind)]
    pub fn next_transition_at(&self) -> Result<Option<f64>> {
        with_entry(self.id, |e| e.breaker.next_transition_at().map(ms))
    }

    /// The current instant on the breaker's clock, in milliseconds.
    #[napi(catch_unwind)]
    pub fn now(&self) -> Result<f64> {
        with_entry(self.id, |e| ms(e.breaker.now()))
    }

    /// To `closed`: new generation, empty window, zero failure run, backoff reset.
    #[napi(catch_unwind)]
    pub fn reset(&self) -> Result<()> {
        with_entry(self.id, |e| e.breaker.reset())
    }

    /// To `forced_open`.
    #[napi(catch_unwind)]
    pub fn force_open(&self) -> Result<()> {
        with_entry(self.id, |e| e.breaker.force_open())
    }

    /// To `disabled`.
    #[napi(catch_unwind)]
    pub fn disable(&self) -> Result<()> {
        with_entry(self.id, |e| e.breaker.disable())
    }
}

/// Breakers of this thread not freed yet (for the memory test).
#[napi(catch_unwind)]
pub fn live_breakers() -> u32 {
    LOCAL.with(|local| local.registry.borrow().entries.iter().filter(|e| e.is_some()).count() as u32)
}

// ------------------------------------------------------------------------------------------------
// Fast path: raw N-API functions
// ------------------------------------------------------------------------------------------------

/// Result bit 1 of `fastRecord`/`fastRecordParts`: the outcome counted (it was not stale).
const COUNTED: i32 = 2;
/// `fastRecord*`: the permit was already recorded (nothing changed).
const ALREADY_RECORDED: i32 = -2;
const NO_TIME: u64 = u64::MAX;
const NO_TICKET: u32 = u32::MAX;
/// `fastSettle`/`fastSettleAllow` pack `successes * 2^30 + generation` into one number.
const PACK: u64 = 1 << 30;

type Raw = sys::napi_value;
type Failure = &'static CStr;

/// Runs a callback body; an error or a panic becomes a thrown JS `Error` (and a null return).
fn guard(env: sys::napi_env, body: impl FnOnce() -> std::result::Result<Raw, Failure>) -> Raw {
    let message = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return value,
        Ok(Err(message)) => message,
        Err(_) => c"circuit: panic in native code",
    };
    // SAFETY: `env` is the live environment of the current callback; both strings are
    // NUL-terminated and outlive the call.
    unsafe { sys::napi_throw_error(env, c"ERR_CIRCUIT_NATIVE".as_ptr(), message.as_ptr()) };
    ptr::null_mut()
}

/// The first `N` arguments (missing ones fail the number checks), the breaker id (the first
/// argument) and the thread's `Local`, which every fast-path function receives as callback data.
fn args<'a, const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> std::result::Result<([Raw; N], u32, &'a Local), Failure> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    // SAFETY: `argv` holds `argc` slots, as N-API requires.
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || argc < N || data.is_null() {
        return Err(c"circuit: missing argument");
    }
    let id = get_u32(env, argv[0])?;
    // SAFETY: `data` is the address of the `LOCAL` of the thread that created the function
    // (`register_fast_path`). A JS function runs only on the thread of its environment, and a
    // thread-local lives until its thread exits, after its environment is torn down.
    Ok((argv, id, unsafe { &*(data as *const Local) }))
}

fn get_u32(env: sys::napi_env, value: Raw) -> std::result::Result<u32, Failure> {
    let mut out = 0;
    // SAFETY: `value` is an argument handle of the current callback.
    match unsafe { sys::napi_get_value_uint32(env, value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        _ => Err(c"circuit: expected a number"),
    }
}

/// A whole number in [0, 2^53), passed as a JS number.
fn get_whole(env: sys::napi_env, value: Raw) -> std::result::Result<u64, Failure> {
    let mut out = 0.0;
    // SAFETY: as in `get_u32`.
    match unsafe { sys::napi_get_value_double(env, value, &mut out) } {
        sys::Status::napi_ok if (0.0..9_007_199_254_740_992.0).contains(&out) && (out as u64) as f64 == out => {
            Ok(out as u64)
        }
        _ => Err(c"circuit: expected a whole number"),
    }
}

fn int32(env: sys::napi_env, value: i32) -> std::result::Result<Raw, Failure> {
    let mut out = ptr::null_mut();
    // SAFETY: `out` receives a handle valid for the rest of the callback.
    match unsafe { sys::napi_create_int32(env, value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        _ => Err(c"circuit: cannot create a number"),
    }
}

fn double(env: sys::napi_env, value: f64) -> std::result::Result<Raw, Failure> {
    let mut out = ptr::null_mut();
    // SAFETY: as in `int32`.
    match unsafe { sys::napi_create_double(env, value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        _ => Err(c"circuit: cannot create a number"),
    }
}

fn array(env: sys::napi_env, values: &[f64]) -> std::result::Result<Raw, Failure> {
    let mut out = ptr::null_mut();
    // SAFETY: as in `int32`; every element handle is created in the same scope.
    unsafe {
        if sys::napi_create_array_with_length(env, values.len(), &mut out) != sys::Status::napi_ok {
            return Err(c"circuit: cannot create an array");
        }
        for (i, v) in values.iter().enumerate() {
            let element = double(env, *v)?;
            if sys::napi_set_element(env, out, i as u32, element) != sys::Status::napi_ok {
                return Err(c"circuit: cannot create an array");
            }
        }
    }
    Ok(out)
}

fn outcome(code: u64) -> std::result::Result<Outcome, Failure> {
    u8::try_from(code).ok().and_then(Outcome::from_code).ok_or(c"circuit: unknown outcome")
}

/// `fastAllow(id)`: asks to make a call.
/// * `generation * 2 + events` (a number >= 0): admitted, an ordinary closed-state permit;
/// * `[generation, admittedHigh, admittedLow, ticket, events]`: admitted, a probe or a permit
///   stamped with its admission time (halves of `u32::MAX` mean "no time", `u32::MAX` "no ticket");
/// * `-1 - events`: rejected; `takeRejection()` has the details.
extern "C" fn fast_allow(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let (_, id, local) = args::<1>(env, info)?;
        allow(env, local, id)
    })
}

/// `fastSettleAllow(id, successes * 2^30 + generation)`: `fastSettle` then `fastAllow`, in one
/// call.
extern "C" fn fast_settle_allow(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, packed], id, local) = args::<2>(env, info)?;
        settle(local, id, get_whole(env, packed)?)?;
        allow(env, local, id)
    })
}

/// `fastSettle(id, successes * 2^30 + generation)`: records `successes` successes of ordinary
/// closed-state permits of `generation`, whose recording `index.js` deferred (see the comment of
/// `CircuitBreaker` there: only in consecutive-failure mode without a slow-call rule, while no
/// transition happened since the admission, where a success can neither trip the breaker nor
/// depend on when it is recorded). Returns the events bit.
extern "C" fn fast_settle(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, packed], id, local) = args::<2>(env, info)?;
        let events = settle(local, id, get_whole(env, packed)?)?;
        int32(env, events)
    })
}

fn settle(local: &Local, id: u32, packed: u64) -> std::result::Result<i32, Failure> {
    let permit = RawPermit::from_parts(packed % PACK, NO_TIME, NO_TICKET);
    local.with(id, |e, slot| {
        for _ in 0..packed / PACK {
            let _ = e.breaker.record_raw_on(slot, permit, Outcome::Success);
        }
        e.queue.pending_bit()
    })
}

fn allow(env: sys::napi_env, local: &Local, id: u32) -> std::result::Result<Raw, Failure> {
    let (result, events) = local.with(id, |e, slot| {
        let result = e.breaker.allow_raw_on(slot);
        let events = e.queue.pending_bit();
        match result {
            Ok(permit) => (Ok(permit), events),
            Err(rejected) => {
                e.rejection = Some(rejected);
                (Err(()), events)
            }
        }
    })?;
    let Ok(permit) = result else {
        return int32(env, -1 - events);
    };
    let (generation, admitted_at, ticket) = permit.to_parts();
    if admitted_at == NO_TIME && ticket == NO_TICKET {
        if generation < (1 << 30) {
            return int32(env, (generation as i32) << 1 | events);
        }
        if generation < (1 << 52) {
            return double(env, (generation * 2 + events as u64) as f64);
        }
    }
    array(
        env,
        &[
            generation as f64,
            f64::from((admitted_at >> 32) as u32),
            f64::from(admitted_at as u32),
            f64::from(ticket),
            f64::from(events),
        ],
    )
}

#[inline]
fn record(local: &Local, id: u32, outcome: Outcome, permit: RawPermit) -> std::result::Result<i32, Failure> {
    local.with(id, |e, slot| match e.breaker.record_raw_on(slot, permit, outcome) {
        Ok(Recorded::Counted) => COUNTED | e.queue.pending_bit(),
        Ok(Recorded::Stale) => e.queue.pending_bit(),
        Err(_) => ALREADY_RECORDED,
    })
}

/// `fastRecord(id, generation * 4 + outcome)`: records an ordinary closed-state permit. Returns
/// `counted << 1 | events`, or `-2` when refused as already recorded.
extern "C" fn fast_record(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, token], id, local) = args::<2>(env, info)?;
        let token = get_whole(env, token)?;
        let permit = RawPermit::from_parts(token / 4, NO_TIME, NO_TICKET);
        int32(env, record(local, id, outcome(token % 4)?, permit)?)
    })
}

/// `fastRecordParts(id, outcome, generation, admittedHigh, admittedLow, ticket)`: records any
/// permit, as returned in array form by `fastAllow`. Same result as `fastRecord`.
extern "C" fn fast_record_parts(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let ([_, code, generation, high, low, ticket], id, local) = args::<6>(env, info)?;
        let outcome = outcome(get_whole(env, code)?)?;
        let generation = get_whole(env, generation)?;
        let admitted_at = (u64::from(get_u32(env, high)?) << 32) | u64::from(get_u32(env, low)?);
        let ticket = get_u32(env, ticket)?;
        int32(env, record(local, id, outcome, RawPermit::from_parts(generation, admitted_at, ticket))?)
    })
}

/// `fastState(id)`: the state code with due transitions applied, `code << 1 | events`.
extern "C" fn fast_state(env: sys::napi_env, info: sys::napi_callback_info) -> Raw {
    guard(env, || {
        let (_, id, local) = args::<1>(env, info)?;
        let value = local.with(id, |e, _| (i32::from(e.breaker.state().code()) << 1) | e.queue.pending_bit())?;
        int32(env, value)
    })
}

/// Adds the raw fast-path functions to the module's exports. They are plain N-API callbacks taking
/// and returning numbers only: napi-rs 3.16's generated callbacks track borrows per call, which
/// costs about 100 ns for a no-op function and 270 ns for a method on this machine, more than the
/// rest of `breaker.execute`. Module-level functions (rather than functions bound to each breaker)
/// keep every call site in `index.js` monomorphic, whatever the number of breakers.
#[napi(module_exports)]
pub fn register_fast_path(exports: Object, env: Env) -> Result<()> {
    type Callback = extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Raw;
    let functions: [(&CStr, Callback); 6] = [
        (c"fastAllow", fast_allow),
        (c"fastSettleAllow", fast_settle_allow),
        (c"fastSettle", fast_settle),
        (c"fastRecord", fast_record),
        (c"fastRecordParts", fast_record_parts),
        (c"fastState", fast_state),
    ];
    let local = LOCAL.with(|local| local as *const Local as *mut c_void);
    for (name, callback) in functions {
        let mut function = ptr::null_mut();
        // SAFETY: `env` and `exports` are live for the module initialisation; `name` is
        // NUL-terminated (length -1 = NAPI_AUTO_LENGTH); the callback has the N-API signature.
        let status = unsafe {
            let created = sys::napi_create_function(env.raw(), name.as_ptr(), -1, Some(callback), local, &mut function);
            if created == sys::Status::napi_ok {
                sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr() as *const c_char, function)
            } else {
                created
            }
        };
        if status != sys::Status::napi_ok {
            return Err(Error::new(Status::GenericFailure, format!("cannot register {}", name.to_string_lossy())));
        }
    }
    Ok(())
}
