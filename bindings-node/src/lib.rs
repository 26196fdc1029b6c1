//! Node binding of the circuit engine (napi-rs).
//!
//! This crate is the private native layer (`binding.js`); the public API is the hand-written
//! `index.js`, which validates types, names options in camelCase, builds the error classes and
//! turns queued transitions into `EventEmitter` events. Every state decision is the core's: this
//! file converts values and hands permits back and forth, nothing more.
//!
//! * **One definition of the surface.** The options, metrics fields and spellings are the core's
//!   schema (`circuit::OPTIONS`, `METRICS`, `State::ALL`, ...), exported by [`schema`]: `index.js`
//!   builds its option table, metrics objects and spelling tables from it, [`build_config`] loops
//!   over the options converting each by its kind for `ConfigBuilder::set`, and
//!   `__test__/schema.test.js` walks it against `index.d.ts` and docs/node.md.
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
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use circuit::{
    CircuitBreaker, Config, ConfigError, METRICS, ManualClock, MetricKind, Metrics, OPTIONS, OptionInfo, OptionKind,
    OptionValue, Outcome, RawPermit, Reason, Recorded, RejectReason, Rejected, State, ThreadSlot, Transition,
    count_from_i64, duration_from_f64,
};
use napi::bindgen_prelude::*;
use napi::{JsValue, ValueType, sys};
use napi_derive::napi;

const NANOS_PER_MS: f64 = 1e6;

fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / NANOS_PER_MS
}

// ------------------------------------------------------------------------------------------------
// Schema
// ------------------------------------------------------------------------------------------------

/// One engine option, as the core's schema declares it.
#[napi(object)]
pub struct SchemaOption {
    /// The core's snake_case name (used in the core's messages).
    pub name: String,
    /// The camelCase name `createBreaker` reads and `index.js` exposes.
    pub js_name: String,
    /// `text`, `count`, `number`, `duration` (milliseconds in Node) or `seed`.
    pub kind: String,
    /// The default, as every binding's options table shows it.
    pub default: String,
    /// The valid values.
    pub bounds: String,
    /// One line of documentation.
    pub doc: String,
}

/// One field of the metrics snapshot, as the core's schema declares it.
#[napi(object)]
pub struct SchemaMetric {
    /// The core's snake_case name.
    pub name: String,
    /// The camelCase key of `metrics()` in `index.js`.
    pub js_name: String,
    /// `state`, `count`, `rate`, `duration` or `optional_duration`.
    pub kind: String,
    /// One line of documentation.
    pub doc: String,
}

/// The core's public surface: every option and metrics field, and the spellings behind the integer
/// codes the native layer returns (states, transition reasons, reject reasons, outcomes), in code
/// order.
#[napi(object)]
pub struct Schema {
    pub options: Vec<SchemaOption>,
    /// In the order of the values `NativeBreaker.metrics()` returns.
    pub metrics: Vec<SchemaMetric>,
    pub states: Vec<String>,
    pub reasons: Vec<String>,
    pub reject_reasons: Vec<String>,
    pub outcomes: Vec<String>,
}

/// `failure_threshold` -> `failureThreshold`.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn metric_kind(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::State => "state",
        MetricKind::Count => "count",
        MetricKind::Rate => "rate",
        MetricKind::Duration => "duration",
        MetricKind::OptionalDuration => "optional_duration",
    }
}

/// The core's schema, so `index.js` never types an option name, a metrics field or a spelling.
#[napi(catch_unwind)]
pub fn schema() -> Schema {
    /// The spellings, indexed by code.
    fn names<T: Copy>(all: &[T], text: fn(T) -> &'static str, code: fn(T) -> u8) -> Vec<String> {
        let mut sorted = all.to_vec();
        sorted.sort_by_key(|v| code(*v));
        sorted.iter().map(|v| text(*v).to_owned()).collect()
    }
    Schema {
        options: OPTIONS
            .iter()
            .map(|o| SchemaOption {
                name: o.name.to_owned(),
                js_name: camel_case(o.name),
                kind: o.kind.as_str().to_owned(),
                default: o.default.to_owned(),
                bounds: o.bounds.to_owned(),
                doc: o.doc.to_owned(),
            })
            .collect(),
        metrics: METRICS
            .iter()
            .map(|m| SchemaMetric {
                name: m.name.to_owned(),
                js_name: camel_case(m.name),
                kind: metric_kind(m.kind).to_owned(),
                doc: m.doc.to_owned(),
            })
            .collect(),
        states: names(State::ALL, State::as_str, State::code),
        reasons: names(Reason::ALL, Reason::as_str, Reason::code),
        reject_reasons: names(RejectReason::ALL, RejectReason::as_str, RejectReason::code),
        outcomes: names(Outcome::ALL, Outcome::as_str, Outcome::code),
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

fn problem(option: &str, reason: String) -> ConfigProblem {
    ConfigProblem { option: option.to_owned(), reason }
}

/// A count option: a whole number, then the core's range check.
fn count(option: &'static str, value: f64) -> Checked<u32> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e18 {
        return count_from_i64(option, value as i64).map_err(ConfigProblem::from);
    }
    Err(problem(option, format!("must be a whole number, got {value}")))
}

/// A duration option in milliseconds, rounded to whole nanoseconds by the core.
fn duration(option: &'static str, value: f64) -> Checked<Duration> {
    duration_from_f64(option, value, NANOS_PER_MS).map_err(ConfigProblem::from)
}

/// The schema's options with their camelCase names, computed once.
static JS_OPTIONS: LazyLock<Vec<(String, &'static OptionInfo)>> =
    LazyLock::new(|| OPTIONS.iter().map(|o| (camel_case(o.name), o)).collect());

/// Converts one given option by its kind: text is a string, count/number/duration (ms) are
/// numbers, the seed is the decimal string of an unsigned 64-bit integer (`index.js` has already
/// type-checked everything; this refuses a wrong type too, as a problem naming the option).
fn option_value(info: &'static OptionInfo, value: Unknown) -> Result<Checked<OptionValue>> {
    let option = info.name;
    let (wanted, expected) = match info.kind {
        OptionKind::Text | OptionKind::Seed => (ValueType::String, "a string"),
        OptionKind::Count | OptionKind::Number | OptionKind::Duration => (ValueType::Number, "a number"),
    };
    if value.get_type()? != wanted {
        return Ok(Err(problem(option, format!("must be {expected}"))));
    }
    Ok(match info.kind {
        OptionKind::Text => Ok(OptionValue::Text(String::from_unknown(value)?)),
        OptionKind::Seed => {
            let text = String::from_unknown(value)?;
            text.parse::<u64>()
                .map(OptionValue::Seed)
                .map_err(|_| problem(option, format!("must be a 64-bit integer, got {text}")))
        }
        OptionKind::Count => count(option, f64::from_unknown(value)?).map(OptionValue::Count),
        OptionKind::Number => Ok(OptionValue::Number(f64::from_unknown(value)?)),
        OptionKind::Duration => duration(option, f64::from_unknown(value)?).map(OptionValue::Duration),
    })
}

/// Builds the configuration from the engine options (camelCase keys; a missing, `undefined` or
/// `null` one means the default), one schema option after the other.
fn build_config(options: &Object) -> Result<Checked<Config>> {
    let mut builder = Config::builder();
    for (js_name, info) in JS_OPTIONS.iter() {
        let Some(value) = options.get::<Unknown>(js_name)? else { continue };
        if matches!(value.get_type()?, ValueType::Undefined | ValueType::Null) {
            continue;
        }
        let value = match option_value(info, value)? {
            Ok(value) => value,
            Err(problem) => return Ok(Err(problem)),
        };
        builder = match builder.set(info.name, value) {
            Ok(builder) => builder,
            Err(e) => return Ok(Err(e.into())),
        };
    }
    Ok(builder.build().map_err(ConfigProblem::from))
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

/// Creates a breaker from the engine options (camelCase keys, as `schema().options` names them;
/// `index.js` has checked their types), or says which option is invalid (nothing is created then).
#[napi(
    catch_unwind,
    ts_args_type = "options: Record<string, string | number | undefined>, clock?: NativeClock | undefined | null"
)]
pub fn create_breaker(options: Object, clock: Option<&NativeClock>) -> Result<Either<NativeBreaker, ConfigProblem>> {
    let config = match build_config(&options)? {
        Ok(config) => config,
        Err(problem) => return Ok(Either::B(problem)),
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
    Ok(Either::A(NativeBreaker { id, deferrable }))
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

    /// The metrics snapshot, one number per field of `schema().metrics`, in that order: the state
    /// as its code, durations in milliseconds, `-1` for an absent `retry_after`.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Result<Vec<f64>> {
        // Exhaustive: a field added to the core's snapshot does not compile until it is converted
        // here (the core tests that `METRICS` lists the fields in declaration order).
        let Metrics {
            state,
            generation,
            consecutive_failures,
            window_calls,
            window_failures,
            window_slow,
            failure_rate,
            slow_rate,
            admitted,
            rejected,
            successes,
            failures,
            ignored,
            slow,
            stale,
            opened,
            time_in_state,
            retry_after,
        } = with_entry(self.id, |e| e.breaker.metrics())?;
        METRICS
            .iter()
            .map(|field| {
                Ok(match field.name {
                    "state" => f64::from(state.code()),
                    "generation" => generation as f64,
                    "consecutive_failures" => consecutive_failures as f64,
                    "window_calls" => window_calls as f64,
                    "window_failures" => window_failures as f64,
                    "window_slow" => window_slow as f64,
                    "failure_rate" => failure_rate,
                    "slow_rate" => slow_rate,
                    "admitted" => admitted as f64,
                    "rejected" => rejected as f64,
                    "successes" => successes as f64,
                    "failures" => failures as f64,
                    "ignored" => ignored as f64,
                    "slow" => slow as f64,
                    "stale" => stale as f64,
                    "opened" => opened as f64,
                    "time_in_state" => ms(time_in_state),
                    "retry_after" => retry_after.map_or(-1.0, ms),
                    other => {
                        return Err(Error::new(
                            Status::GenericFailure,
                            format!("circuit: unknown metrics field {other}"),
                        ));
                    }
                })
            })
            .collect()
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
