//! Node binding of the circuit engine (napi-rs).
//!
//! This module is the private native layer (`binding.js`); the public API is the hand-written
//! `index.js`, which validates types, names options in camelCase, builds the error classes and
//! turns queued transitions into `EventEmitter` events. Every state decision is the core's: this
//! file only converts values and hands permits back and forth.
//!
//! Conventions of the native layer:
//! * Durations cross as `f64` milliseconds; the core converts them with `duration_from_f64`.
//! * The hot path (`execute`) keeps its permits in a slab owned by the breaker and passes slot
//!   numbers, so an admitted call costs two napi calls with number arguments and no object.
//! * Transitions are queued by a core listener (called synchronously on the JS thread that caused
//!   them) and drained by `index.js` right after the call that reports them; every call that can
//!   cause one returns an "events pending" bit, so no extra call is made when nothing happened.
//! * Nothing here starts a thread, a timer or a threadsafe function: the addon never keeps the
//!   event loop alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use circuit::{
    CircuitBreaker, Config, ConfigError, ManualClock, Outcome, OwnedPermit, RawPermit, Reason, Recorded, RejectReason,
    Rejected, State, Transition, count_from_i64, duration_from_f64,
};
use napi::bindgen_prelude::*;
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

fn outcome_from(code: u32) -> Result<Outcome> {
    u8::try_from(code)
        .ok()
        .and_then(Outcome::from_code)
        .ok_or_else(|| Error::new(Status::InvalidArg, format!("unknown outcome code {code}")))
}

// ------------------------------------------------------------------------------------------------
// Clock
// ------------------------------------------------------------------------------------------------

/// A manual clock (`ManualClock` in `index.js`); clones share one time line.
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

    /// Moves the clock forward by `ms` milliseconds; returns the new instant in milliseconds.
    #[napi(catch_unwind)]
    pub fn advance(&self, ms_value: f64) -> Result<f64> {
        let by = duration_from_f64("ms", ms_value, NANOS_PER_MS).map_err(config_error)?;
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

/// The engine options, already type-checked by `index.js` (numbers are numbers, the seed is a
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

fn config_error(e: ConfigError) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}

fn count(option: &'static str, value: f64) -> std::result::Result<u32, ConfigProblem> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e18 {
        return count_from_i64(option, value as i64).map_err(ConfigProblem::from);
    }
    Err(ConfigProblem { option: option.to_owned(), reason: format!("must be a whole number, got {value}") })
}

fn duration(option: &'static str, value: f64) -> std::result::Result<Duration, ConfigProblem> {
    duration_from_f64(option, value, NANOS_PER_MS).map_err(ConfigProblem::from)
}

fn build_config(o: NativeOptions) -> std::result::Result<Config, ConfigProblem> {
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

/// Creates a breaker, or says which option is invalid (nothing is created then).
#[napi(catch_unwind)]
pub fn create_breaker(options: NativeOptions, clock: Option<&NativeClock>) -> Either<NativeBreaker, ConfigProblem> {
    match build_config(options) {
        Ok(config) => Either::A(NativeBreaker::new(config, clock.map(|c| c.clock.clone()))),
        Err(problem) => Either::B(problem),
    }
}

// ------------------------------------------------------------------------------------------------
// Permit
// ------------------------------------------------------------------------------------------------

/// A permit of the two-step API (`allow()`), holding the core's `OwnedPermit`. A permit that is
/// garbage-collected unrecorded is recorded as ignored by the core (its probe slot is returned).
#[napi]
pub struct Permit {
    permit: OwnedPermit,
}

#[napi]
impl Permit {
    /// The breaker generation the permit was admitted in.
    #[napi(getter, catch_unwind)]
    pub fn generation(&self) -> f64 {
        self.permit.raw().generation() as f64
    }

    /// Whether the permit is a half-open probe.
    #[napi(getter, catch_unwind)]
    pub fn is_probe(&self) -> bool {
        self.permit.raw().is_probe()
    }

    /// Admission instant on the breaker's clock in milliseconds, when the clock was read.
    #[napi(getter, catch_unwind)]
    pub fn admitted_at(&self) -> Option<f64> {
        self.permit.raw().admitted_at().map(ms)
    }

    /// Whether an outcome was recorded with this permit.
    #[napi(getter, catch_unwind)]
    pub fn recorded(&self) -> bool {
        self.permit.is_spent()
    }
}

// ------------------------------------------------------------------------------------------------
// Breaker
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

/// Result bits shared by the native calls: bit 0 says transitions are waiting to be drained.
const EVENTS: i32 = 1;
/// `record*` bit 1: the outcome counted (it was not stale).
const COUNTED: i32 = 2;
/// `recordPermit` errors (negative, nothing changed).
const ALREADY_RECORDED: i32 = -2;
const FOREIGN_PERMIT: i32 = -4;
/// `allow` could not admit: the rejection waits in `take_rejection`.
const REJECTED: i32 = -1;

/// A rejection, for `CircuitOpenError`.
#[napi(object)]
pub struct NativeRejection {
    pub state: String,
    pub reason: String,
    pub retry_after: Option<f64>,
}

/// The breaker (`CircuitBreaker` in `index.js`).
#[napi]
pub struct NativeBreaker {
    breaker: Arc<CircuitBreaker>,
    queue: Arc<Queue>,
    /// Permits of calls in flight through `execute`, by slot; `None` marks a free slot.
    slots: Vec<Option<RawPermit>>,
    free: Vec<u32>,
    rejection: Option<Rejected>,
}

impl NativeBreaker {
    fn new(config: Config, clock: Option<ManualClock>) -> Self {
        let breaker = Arc::new(match clock {
            Some(clock) => CircuitBreaker::with_clock(config, clock),
            None => CircuitBreaker::new(config),
        });
        let queue = Arc::new(Queue::default());
        let sink = Arc::clone(&queue);
        breaker.on_transition(move |t| sink.push(t));
        Self { breaker, queue, slots: Vec::new(), free: Vec::new(), rejection: None }
    }

    fn admitted(&mut self, raw: RawPermit) -> i32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(raw);
                slot
            }
            None => {
                self.slots.push(Some(raw));
                (self.slots.len() - 1) as u32
            }
        };
        ((slot as i32) << 1) | self.queue.pending_bit()
    }

    fn recorded(&self, result: Recorded) -> i32 {
        (if result.counted() { COUNTED } else { 0 }) | self.queue.pending_bit()
    }
}

#[napi]
impl NativeBreaker {
    /// Asks to make a call (the `execute` path). Returns `slot << 1 | events` when admitted, or
    /// `-1` when rejected (details in `take_rejection`).
    #[napi(catch_unwind)]
    pub fn allow(&mut self) -> i32 {
        match self.breaker.allow_raw() {
            Ok(raw) => self.admitted(raw),
            Err(rejected) => {
                self.rejection = Some(rejected);
                REJECTED
            }
        }
    }

    /// Records the outcome of the call admitted in `slot` (0 success, 1 failure, 2 ignored).
    /// Returns `counted << 1 | events`.
    #[napi(catch_unwind)]
    pub fn record(&mut self, slot: u32, outcome: u32) -> Result<i32> {
        let outcome = outcome_from(outcome)?;
        let raw = self
            .slots
            .get_mut(slot as usize)
            .and_then(Option::take)
            .ok_or_else(|| Error::new(Status::InvalidArg, format!("no call in flight in slot {slot}")))?;
        self.free.push(slot);
        let result =
            self.breaker.record_raw(raw, outcome).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
        Ok(self.recorded(result))
    }

    /// Asks to make a call (the two-step API): a `Permit`, or `null` when rejected (details in
    /// `take_rejection`).
    #[napi(catch_unwind)]
    pub fn allow_permit(&mut self) -> Option<Permit> {
        match self.breaker.allow_owned() {
            Ok(permit) => Some(Permit { permit }),
            Err(rejected) => {
                self.rejection = Some(rejected);
                None
            }
        }
    }

    /// Records a `Permit`. Returns `counted << 1 | events`, `-2` if it was already recorded or
    /// `-4` if another breaker issued it (nothing changes then).
    #[napi(catch_unwind)]
    pub fn record_permit(&self, permit: &Permit, outcome: u32) -> Result<i32> {
        let outcome = outcome_from(outcome)?;
        if !Arc::ptr_eq(permit.permit.breaker(), &self.breaker) {
            return Ok(FOREIGN_PERMIT);
        }
        Ok(match permit.permit.record(outcome) {
            Ok(result) => self.recorded(result),
            Err(_) => ALREADY_RECORDED,
        })
    }

    /// The last rejection of `allow`/`allow_permit`.
    #[napi(catch_unwind)]
    pub fn take_rejection(&mut self) -> Option<NativeRejection> {
        self.rejection.take().map(|r| NativeRejection {
            state: r.state().as_str().to_owned(),
            reason: r.reason().as_str().to_owned(),
            retry_after: r.retry_after().map(ms),
        })
    }

    /// The state code, with due transitions applied: `code << 1 | events`.
    #[napi(catch_unwind)]
    pub fn state(&self) -> i32 {
        (i32::from(self.breaker.state().code()) << 1) | self.queue.pending_bit()
    }

    /// Whether transitions wait to be drained.
    #[napi(catch_unwind)]
    pub fn has_events(&self) -> bool {
        self.queue.pending.load(Ordering::Acquire)
    }

    /// The queued transitions, flattened as `[from, to, reason, at_ms, ...]` (codes), oldest first.
    #[napi(catch_unwind)]
    pub fn drain(&self) -> Vec<f64> {
        if !self.queue.pending.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let taken = std::mem::take(&mut *self.queue.transitions.lock().unwrap_or_else(PoisonError::into_inner));
        let mut out = Vec::with_capacity(taken.len() * 4);
        for t in taken {
            out.extend([f64::from(t.from.code()), f64::from(t.to.code()), f64::from(t.reason.code()), ms(t.at)]);
        }
        out
    }

    /// The metrics snapshot, flattened in the order of `METRICS` in `index.js`; durations in
    /// milliseconds, `-1` for an absent `retry_after`.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Vec<f64> {
        let m = self.breaker.metrics();
        vec![
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
        ]
    }

    /// When the next time-driven transition is due (ms on the breaker's clock), or `null`.
    #[napi(catch_unwind)]
    pub fn next_transition_at(&self) -> Option<f64> {
        self.breaker.next_transition_at().map(ms)
    }

    /// The current instant on the breaker's clock, in milliseconds.
    #[napi(catch_unwind)]
    pub fn now(&self) -> f64 {
        ms(self.breaker.now())
    }

    /// To `closed`, new generation, empty window.
    #[napi(catch_unwind)]
    pub fn reset(&self) {
        self.breaker.reset();
    }

    /// To `forced_open`.
    #[napi(catch_unwind)]
    pub fn force_open(&self) {
        self.breaker.force_open();
    }

    /// To `disabled`.
    #[napi(catch_unwind)]
    pub fn disable(&self) {
        self.breaker.disable();
    }

    /// Calls in flight through `execute` and the slab's capacity (for the memory test).
    #[napi(catch_unwind)]
    pub fn slab_size(&self) -> Vec<u32> {
        vec![(self.slots.len() - self.free.len()) as u32, self.slots.len() as u32]
    }
}

#[napi]
pub fn probe_noop(x: u32) -> i32 {
    x as i32
}

#[napi(catch_unwind)]
pub fn probe_noop_cu(x: u32, y: u32) -> i32 {
    (x + y) as i32
}
