//! Fleet breakers (docs/fleet.md, docs/c-api.md "Fleet breakers"): the C ABI of the core's sans-IO
//! fleet breaker (`engine::fleet::Fleet`).
//!
//! * `circuit_fleet_config` is an opaque builder (one setter per option, like `circuit_config`);
//!   `circuit_fleet_new` makes a `circuit_fleet` handle from it (validated on every call, never
//!   reused, refused once freed: `handle.rs`).
//! * `circuit_config_set_fleet` attaches a fleet to the breakers created from a config: their
//!   `circuit_allow` and `circuit_record_*` go through both levels (`Fleet::allow_call`,
//!   `Fleet::record_call`, `Fleet::record_call_retry_after`). No I/O happens there.
//! * The host runs the round trips: `circuit_fleet_poll` gives a `circuit_fleet_request` when a
//!   sync is due, the host sends it (`EVALSHA`, `EVAL` on `NOSCRIPT`) and hands the reply to
//!   `circuit_fleet_complete` (or the error to `circuit_fleet_fail`). Events go to a callback
//!   (`circuit_fleet_on_event`, called with no lock held) or, without one, to a queue read with
//!   `circuit_fleet_next_event`.

use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use engine::fleet::{Fleet, FleetConfig, FleetEvent, FleetState, Refused, Reply, StoreFailure};
use engine::{CircuitBreaker, Clock, ManualClock, MonotonicClock, Outcome, RawPermit};

use crate::breaker::with_fleet_breaker;
use crate::clock::CLOCKS;
use crate::config::{circuit_clock, circuit_config};
use crate::handle::Table;
use crate::permit::{
    CIRCUIT_PERMIT_FLEET, CIRCUIT_PERMIT_FLEET_PROBE, CIRCUIT_PERMIT_PROBE, circuit_permit, finish, read_permit,
};
use crate::status::*;
use crate::types::*;

/// A fleet breaker handle (see `circuit_fleet_new`). 0 is never a valid handle; values are never
/// reused.
#[allow(non_camel_case_types)]
pub type circuit_fleet = u64;

/// `circuit_fleet_config_set_on_store_failure`: the local breaker alone decides (the default).
pub const CIRCUIT_FLEET_DEGRADED_LOCAL: u32 = 0;
/// `circuit_fleet_config_set_on_store_failure`: the fleet level rejects every call.
pub const CIRCUIT_FLEET_DEGRADED_OPEN: u32 = 1;
/// `circuit_fleet_config_set_on_store_failure`: the fleet level admits every call.
pub const CIRCUIT_FLEET_DEGRADED_CLOSED: u32 = 2;

/// `circuit_fleet_reply.kind`: an integer reply (`integer`).
pub const CIRCUIT_FLEET_REPLY_INT: u32 = 0;
/// `circuit_fleet_reply.kind`: a bulk or simple string reply (`bytes`, `len`; UTF-8).
pub const CIRCUIT_FLEET_REPLY_BYTES: u32 = 1;

/// `circuit_fleet_event.kind`: the fleet breaker moved (`from`, `to`, `epoch`).
pub const CIRCUIT_FLEET_EVENT_TRANSITION: u32 = 0;
/// `circuit_fleet_event.kind`: the store has not answered for longer than `max_staleness`; the
/// degraded mode decides.
pub const CIRCUIT_FLEET_EVENT_STORE_DEGRADED: u32 = 1;
/// `circuit_fleet_event.kind`: the store answered again after a degraded period.
pub const CIRCUIT_FLEET_EVENT_STORE_RECOVERED: u32 = 2;
/// `circuit_fleet_event.kind`: the store holds this breaker with other options (`stored` is the
/// stored fingerprint); nothing was written, and this instance behaves as in the degraded mode.
pub const CIRCUIT_FLEET_EVENT_MISMATCH: u32 = 3;

/// Events kept for `circuit_fleet_next_event` when no callback is set (the oldest are dropped).
const QUEUE_CAP: usize = 256;

/// Options for `circuit_fleet_new`. Create with `circuit_fleet_config_new`, free with
/// `circuit_fleet_config_free`. Not thread-safe; reusable. Values are checked by
/// `circuit_fleet_new`, which names a refused option.
pub struct circuit_fleet_config {
    pub(crate) config: FleetConfig,
    pub(crate) clock: Option<ManualClock>,
}

/// A byte string owned by the library (not NUL-terminated): `len` bytes at `ptr`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct circuit_fleet_bytes {
    /// The first byte (never NULL, even when `len` is 0).
    pub ptr: *const u8,
    /// The length in bytes.
    pub len: usize,
}

/// One item of the script's reply, as the host's Redis client gave it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct circuit_fleet_reply {
    /// `CIRCUIT_FLEET_REPLY_INT` or `CIRCUIT_FLEET_REPLY_BYTES`.
    pub kind: u32,
    /// The integer (`CIRCUIT_FLEET_REPLY_INT`).
    pub integer: i64,
    /// The bytes (`CIRCUIT_FLEET_REPLY_BYTES`; may be NULL when `len` is 0).
    pub bytes: *const u8,
    /// Their length.
    pub len: usize,
}

/// Something the host should tell its listeners or logs about.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct circuit_fleet_event {
    /// `CIRCUIT_FLEET_EVENT_TRANSITION`, `_STORE_DEGRADED`, `_STORE_RECOVERED` or `_MISMATCH`.
    pub kind: u32,
    /// The state left (transitions; `CIRCUIT_STATE_CLOSED` otherwise).
    pub from: circuit_breaker_state,
    /// The state entered (transitions; `CIRCUIT_STATE_CLOSED` otherwise).
    pub to: circuit_breaker_state,
    /// The store's epoch after the move (transitions; 0 otherwise).
    pub epoch: u64,
    /// The stored fingerprint (mismatch; empty otherwise), NUL-terminated, truncated to 63 bytes.
    pub stored: [c_char; 64],
}

/// The fleet level's state, for metrics (`circuit_fleet_status`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct circuit_fleet_status_snapshot {
    /// `CIRCUIT_STATE_CLOSED`, `_OPEN` or `_HALF_OPEN`, as last learned from the store.
    pub state: circuit_breaker_state,
    /// Whether the degraded mode (`on_store_failure`) decides now.
    pub degraded: bool,
    /// The store's epoch as last learned.
    pub epoch: u64,
    /// Nanoseconds since the last successful sync, or `CIRCUIT_NO_TIME` before the first.
    pub staleness_ns: u64,
    /// Syncs completed (successful or not), lifetime.
    pub syncs: u64,
    /// Syncs that failed (store error, time-out, unreadable reply), lifetime.
    pub sync_failures: u64,
}

/// The event callback: called with the event (valid during the call only) and the `userdata`
/// given to `circuit_fleet_on_event`.
#[allow(non_camel_case_types)]
pub type circuit_fleet_event_fn =
    Option<unsafe extern "C" fn(event: *const circuit_fleet_event, userdata: *mut c_void)>;

#[derive(Clone, Copy)]
struct Callback {
    function: unsafe extern "C" fn(*const circuit_fleet_event, *mut c_void),
    userdata: *mut c_void,
}

// SAFETY: the caller of `circuit_fleet_on_event` promises the callback may be called from any
// thread with its userdata (docs/c-api.md "Fleet breakers").
unsafe impl Send for Callback {}

#[derive(Default)]
struct Sink {
    callback: Option<Callback>,
    queue: VecDeque<circuit_fleet_event>,
}

/// A live fleet: the core's fleet breaker, its clock and its event sink.
pub(crate) struct FleetEntry {
    pub(crate) fleet: Fleet,
    clock: Option<ManualClock>,
    sink: Mutex<Sink>,
    /// Whether a fleet set made it (`circuit_fleet_set_*`): the set frees it, not the host.
    pub(crate) in_set: bool,
    /// Its handle, once registered (0 before).
    pub(crate) handle: std::sync::atomic::AtomicU64,
}

impl AsRef<Fleet> for FleetEntry {
    fn as_ref(&self) -> &Fleet {
        &self.fleet
    }
}

impl FleetEntry {
    /// An entry for `fleet` on `clock` (None: the host's monotonic clock).
    pub(crate) fn new(fleet: Fleet, clock: Option<ManualClock>, in_set: bool) -> Self {
        Self { fleet, clock, sink: Mutex::new(Sink::default()), in_set, handle: std::sync::atomic::AtomicU64::new(0) }
    }

    /// Registers the entry in the fleet table; its handle, or None when the table is full.
    pub(crate) fn register(entry: &Arc<Self>) -> Option<circuit_fleet> {
        let handle = FLEETS.insert(Arc::clone(entry))?;
        entry.handle.store(handle, Ordering::Release);
        Some(handle)
    }

    /// Takes the entry out of the fleet table (its breakers keep it; no host syncs it any more).
    pub(crate) fn unregister(&self) {
        let handle = self.handle.load(Ordering::Acquire);
        if handle != 0 && FLEETS.remove(handle).is_some() {
            let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
            sink.callback = None;
            sink.queue.clear();
        }
    }

    #[inline]
    fn now(&self) -> u64 {
        match &self.clock {
            Some(clock) => clock.now_nanos(),
            None => MonotonicClock.now_nanos(),
        }
    }

    /// Hands `events` to the callback (no lock held during the calls) or queues them.
    fn deliver(&self, events: Vec<FleetEvent>) {
        if events.is_empty() {
            return;
        }
        let converted: Vec<circuit_fleet_event> = events.into_iter().map(event_of).collect();
        let callback = {
            let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
            match sink.callback {
                Some(callback) => callback,
                None => {
                    for event in converted {
                        if sink.queue.len() == QUEUE_CAP {
                            sink.queue.pop_front();
                        }
                        sink.queue.push_back(event);
                    }
                    return;
                }
            }
        };
        for event in &converted {
            // SAFETY: the callback and userdata the host registered; the event lives for the call.
            unsafe { (callback.function)(event, callback.userdata) };
        }
    }
}

fn state_code(state: FleetState) -> circuit_breaker_state {
    match state {
        FleetState::Closed => circuit_breaker_state::CIRCUIT_STATE_CLOSED,
        FleetState::Open => circuit_breaker_state::CIRCUIT_STATE_OPEN,
        FleetState::HalfOpen => circuit_breaker_state::CIRCUIT_STATE_HALF_OPEN,
    }
}

fn event_of(event: FleetEvent) -> circuit_fleet_event {
    let mut out = circuit_fleet_event {
        kind: CIRCUIT_FLEET_EVENT_TRANSITION,
        from: circuit_breaker_state::CIRCUIT_STATE_CLOSED,
        to: circuit_breaker_state::CIRCUIT_STATE_CLOSED,
        epoch: 0,
        stored: [0; 64],
    };
    match event {
        FleetEvent::Transition { from, to, epoch } => {
            out.from = state_code(from);
            out.to = state_code(to);
            out.epoch = epoch;
        }
        FleetEvent::StoreDegraded => out.kind = CIRCUIT_FLEET_EVENT_STORE_DEGRADED,
        FleetEvent::StoreRecovered => out.kind = CIRCUIT_FLEET_EVENT_STORE_RECOVERED,
        FleetEvent::Mismatch { stored } => {
            out.kind = CIRCUIT_FLEET_EVENT_MISMATCH;
            for (slot, byte) in out.stored.iter_mut().zip(stored.bytes().filter(|&b| b != 0).take(63)) {
                *slot = byte as c_char;
            }
        }
    }
    out
}

static FLEETS: Table<FleetEntry> = Table::new();

/// A breaker with a fleet, as its handle holds it (`breaker::FLEET_BREAKERS`).
pub(crate) struct FleetBreaker {
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) fleet: Arc<FleetEntry>,
}

/// The live fleet named by `fleet`, for `circuit_config_set_fleet`.
pub(crate) fn get(fleet: circuit_fleet) -> Option<Arc<FleetEntry>> {
    FLEETS.get(fleet)
}

fn invalid(function: &str, fleet: circuit_fleet) -> circuit_status {
    fail(CIRCUIT_ERR_INVALID_HANDLE, format!("{function}: {fleet} is not a live fleet handle"))
}

/// `circuit_allow` for a breaker with a fleet: both levels, the fleet's refusals as
/// `CIRCUIT_REJECTED_FLEET_*` (`out_permit` checked by the caller).
#[inline(always)]
pub(crate) fn allow(
    breaker: circuit_breaker,
    out_permit: *mut circuit_permit,
    out_retry_after_ns: *mut u64,
) -> circuit_status {
    with_fleet_breaker("circuit_allow", breaker, (out_permit, out_retry_after_ns), |held, slot, breaker, args| {
        // The closed path, with no call in it (a call here would make this frame keep every
        // value across it); everything else is one call out of line.
        if let Some(local) = held.fleet.fleet.allow_own_on(&held.breaker, slot) {
            // SAFETY: non-null (checked by circuit_allow) and writable per the contract.
            unsafe { write_own(args.0, breaker, local) };
            return CIRCUIT_OK;
        }
        allow_held(held, slot, breaker, args)
    })
}

/// Writes the local breaker's own permit (the closed path) as the plain breaker's is, with the
/// fleet flag.
///
/// # Safety
/// `out_permit` is non-null and writable.
#[inline(always)]
unsafe fn write_own(out_permit: *mut circuit_permit, breaker: circuit_breaker, local: RawPermit) {
    let (generation, admitted_at_ns, ticket) = local.to_parts();
    let flags = CIRCUIT_PERMIT_FLEET | if local.is_probe() { CIRCUIT_PERMIT_PROBE } else { 0 };
    let permit = circuit_permit { breaker, generation, admitted_at_ns, ticket, flags, fleet_epoch: 0, fleet_probe: 0 };
    // SAFETY: per the function's contract.
    unsafe { out_permit.write(permit) };
}

/// [`allow`] off its closed path: both levels in full.
#[inline(never)]
fn allow_held(
    held: &FleetBreaker,
    slot: engine::host::ThreadSlot,
    breaker: circuit_breaker,
    (out_permit, out_retry_after_ns): (*mut circuit_permit, *mut u64),
) -> circuit_status {
    let (b, entry) = (&*held.breaker, &*held.fleet);
    let (status, retry) = match entry.fleet.allow_call_on(b, slot, || entry.now()) {
        Ok(permit) => {
            // The carried ticket (possibly marked by the fleet, `FleetPermit::carried`): the record
            // path gives it back as it is.
            let (generation, admitted_at_ns, ticket) = permit.carried().to_parts();
            let (fleet_epoch, fleet_probe) = permit.probe_parts().unwrap_or((0, 0));
            let flags = CIRCUIT_PERMIT_FLEET
                | if permit.is_local_probe() { CIRCUIT_PERMIT_PROBE } else { 0 }
                | if fleet_probe != 0 { CIRCUIT_PERMIT_FLEET_PROBE } else { 0 };
            let permit =
                circuit_permit { breaker, generation, admitted_at_ns, ticket, flags, fleet_epoch, fleet_probe };
            // SAFETY: non-null (checked by circuit_allow) and writable per the contract.
            unsafe { out_permit.write(permit) };
            return CIRCUIT_OK;
        }
        Err(Refused::Local(rejected)) => (
            match rejected.reason() {
                engine::RejectReason::Open => CIRCUIT_REJECTED_OPEN,
                engine::RejectReason::HalfOpenFull => CIRCUIT_REJECTED_HALF_OPEN_FULL,
                engine::RejectReason::ForcedOpen => CIRCUIT_REJECTED_FORCED_OPEN,
            },
            rejected.retry_after(),
        ),
        Err(Refused::Fleet { state: FleetState::HalfOpen, retry_after }) => {
            (CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL, retry_after)
        }
        Err(Refused::Fleet { retry_after, .. }) => (CIRCUIT_REJECTED_FLEET_OPEN, retry_after),
    };
    if !out_retry_after_ns.is_null() {
        // SAFETY: non-null and writable per the contract.
        unsafe { out_retry_after_ns.write(retry.map_or(CIRCUIT_NO_TIME, nanos)) };
    }
    status
}

/// `circuit_record_*` for a permit from a breaker with a fleet (`CIRCUIT_PERMIT_FLEET`):
/// `retry_after` is `Some` for `circuit_record_failure_retry_after`.
pub(crate) fn record(
    function: &'static str,
    breaker: circuit_breaker,
    permit: *mut circuit_permit,
    flags: u32,
    outcome: Outcome,
    retry_after: Option<Duration>,
) -> circuit_status {
    with_fleet_breaker(function, breaker, (permit, flags), |held, slot, _, (permit, flags)| {
        record_held(function, held, slot, permit, flags, outcome, retry_after)
    })
}

/// [`record`] on the breaker found: both levels, then the permit marked spent.
#[inline(always)]
pub(crate) fn record_held(
    function: &'static str,
    held: &FleetBreaker,
    slot: engine::host::ThreadSlot,
    permit: *mut circuit_permit,
    flags: u32,
    outcome: Outcome,
    retry_after: Option<Duration>,
) -> circuit_status {
    // The closed path, inlined: the local breaker's own record of the carried permit (no fleet
    // probe). Everything else goes out of line, which reads the rest of the permit there: the
    // values it needs would otherwise be kept across this path too.
    if retry_after.is_none() && flags & CIRCUIT_PERMIT_FLEET_PROBE == 0 {
        // SAFETY: checked by the caller (`check_permit`) in the same call.
        let carried = unsafe { read_carried(permit) };
        if let Some(recorded) = held.fleet.fleet.record_fast_on(&held.breaker, slot, carried, outcome) {
            // SAFETY: as above.
            return unsafe { finish(function, permit, Ok(recorded)) };
        }
    }
    record_held_other(function, held, permit, flags, outcome, retry_after)
}

/// The local part of a fleet permit as carried (the ticket as it is: only the breaker's own
/// record path reads it, which takes `NO_TICKET` alone; `read_permit` masks it by the flag).
///
/// # Safety
/// `permit` is non-null and valid (checked by `check_permit` in the same call).
#[inline(always)]
unsafe fn read_carried(permit: *mut circuit_permit) -> RawPermit {
    // SAFETY: per the function's contract.
    unsafe {
        RawPermit::from_parts(
            std::ptr::read_volatile(&raw const (*permit).generation),
            std::ptr::read_volatile(&raw const (*permit).admitted_at_ns),
            std::ptr::read_volatile(&raw const (*permit).ticket),
        )
    }
}

/// [`record_held`] off the closed path (the thread's counter slot looked up again).
#[inline(never)]
fn record_held_other(
    function: &'static str,
    held: &FleetBreaker,
    permit: *mut circuit_permit,
    flags: u32,
    outcome: Outcome,
    retry_after: Option<Duration>,
) -> circuit_status {
    let (b, entry) = (&*held.breaker, &*held.fleet);
    // The ticket only with `CIRCUIT_PERMIT_PROBE`, as for any permit (a host may have cleared it
    // otherwise); the fleet marks the permit again as its admission did.
    // SAFETY: checked by the caller (`check_permit`) in the same call.
    let raw = unsafe { read_permit(permit, flags) };
    let probe = (flags & CIRCUIT_PERMIT_FLEET_PROBE != 0).then(|| {
        // SAFETY: as above.
        unsafe {
            (
                std::ptr::read_volatile(&raw const (*permit).fleet_epoch),
                std::ptr::read_volatile(&raw const (*permit).fleet_probe),
            )
        }
    });
    let permit_parts = entry.fleet.permit_from_parts(b, raw, probe);
    let recorded = match retry_after {
        Some(retry) => entry.fleet.record_call_retry_after(b, permit_parts, retry),
        None => entry.fleet.record_call(b, permit_parts, outcome),
    };
    // SAFETY: as above.
    unsafe { finish(function, permit, recorded) }
}

/// Allocates a fleet config with every option at its default (docs/fleet.md): sync_interval
/// 250 ms, on_store_failure local, window 10 s in 10 buckets, minimum_calls 20,
/// failure_rate_threshold 0.5, no slow-call rule, reset_timeout 30 s, backoff_multiplier 2,
/// max_reset_timeout 300 s, half_open_max_calls 1, success_threshold 1, probe_lease 10 s,
/// max_staleness 2 s, key_expiry 24 h; the host's monotonic clock. Returns NULL only if memory is
/// exhausted. Free it with `circuit_fleet_config_free`.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_fleet_config_new() -> *mut circuit_fleet_config {
    std::panic::catch_unwind(|| {
        Box::into_raw(Box::new(circuit_fleet_config { config: FleetConfig::new(String::new()), clock: None }))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Frees a fleet config. NULL is accepted and ignored. Fleets made from it are not affected.
///
/// # Safety
/// `config` is NULL or a pointer from `circuit_fleet_config_new`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_free(config: *mut circuit_fleet_config) {
    if !config.is_null() {
        // SAFETY: the caller passes a pointer from circuit_fleet_config_new, freed only here.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(unsafe { Box::from_raw(config) })));
    }
}

fn update(
    function: &'static str,
    config: *mut circuit_fleet_config,
    apply: impl FnOnce(&mut circuit_fleet_config) -> circuit_status,
) -> circuit_status {
    guard(function, || {
        if config.is_null() {
            return fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `config` is NULL"));
        }
        // SAFETY: non-null; the caller guarantees it is live and not used concurrently.
        apply(unsafe { &mut *config })
    })
}

/// How often an instance syncs, in nanoseconds (default 250 ms; also the response timeout,
/// at least 50 ms).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_sync_interval_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_sync_interval_ns", config, |c| {
        let v = value;
        c.config.sync_interval = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// The window the fleet's rates are measured over, in nanoseconds (default 10 s).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_window_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_window_ns", config, |c| {
        let v = value;
        c.config.window = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// Buckets of the window (default 10).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_buckets(
    config: *mut circuit_fleet_config,
    value: u32,
) -> circuit_status {
    update("circuit_fleet_config_set_buckets", config, |c| {
        let v = value;
        c.config.buckets = v;
        CIRCUIT_OK
    })
}

/// Calls the window must hold, fleet-wide, before a rate can trip it (default 20).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_minimum_calls(
    config: *mut circuit_fleet_config,
    value: u32,
) -> circuit_status {
    update("circuit_fleet_config_set_minimum_calls", config, |c| {
        let v = value;
        c.config.minimum_calls = v;
        CIRCUIT_OK
    })
}

/// Failure rate over the fleet's window that opens it, in (0, 1] (default 0.5); a negative
/// value turns the rule off.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_failure_rate_threshold(
    config: *mut circuit_fleet_config,
    value: f64,
) -> circuit_status {
    update("circuit_fleet_config_set_failure_rate_threshold", config, |c| {
        let v = value;
        c.config.failure_rate_threshold = if v < 0.0 { None } else { Some(v) };
        CIRCUIT_OK
    })
}

/// Slow-call rate that opens it, in (0, 1] (default: off); a negative value turns it off.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_slow_call_rate_threshold(
    config: *mut circuit_fleet_config,
    value: f64,
) -> circuit_status {
    update("circuit_fleet_config_set_slow_call_rate_threshold", config, |c| {
        let v = value;
        c.config.slow_call_rate_threshold = if v < 0.0 { None } else { Some(v) };
        CIRCUIT_OK
    })
}

/// First open duration in nanoseconds (default 30 s).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_reset_timeout_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_reset_timeout_ns", config, |c| {
        let v = value;
        c.config.reset_timeout = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// Growth of the open duration per re-opening from half-open (default 2, finite, >= 1).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_backoff_multiplier(
    config: *mut circuit_fleet_config,
    value: f64,
) -> circuit_status {
    update("circuit_fleet_config_set_backoff_multiplier", config, |c| {
        let v = value;
        c.config.backoff_multiplier = v;
        CIRCUIT_OK
    })
}

/// Cap of the open duration in nanoseconds (default 300 s).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_max_reset_timeout_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_max_reset_timeout_ns", config, |c| {
        let v = value;
        c.config.max_reset_timeout = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// Probes admitted fleet-wide per half-open epoch (default 1).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_half_open_max_calls(
    config: *mut circuit_fleet_config,
    value: u32,
) -> circuit_status {
    update("circuit_fleet_config_set_half_open_max_calls", config, |c| {
        let v = value;
        c.config.half_open_max_calls = v;
        CIRCUIT_OK
    })
}

/// Probe successes that close it (default 1, at most half_open_max_calls).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_success_threshold(
    config: *mut circuit_fleet_config,
    value: u32,
) -> circuit_status {
    update("circuit_fleet_config_set_success_threshold", config, |c| {
        let v = value;
        c.config.success_threshold = v;
        CIRCUIT_OK
    })
}

/// How long a granted probe may take before its slot is given back, ns (default 10 s).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_probe_lease_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_probe_lease_ns", config, |c| {
        let v = value;
        c.config.probe_lease = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// How old the last successful sync may be before the degraded mode applies, ns (default 2 s).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_max_staleness_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_max_staleness_ns", config, |c| {
        let v = value;
        c.config.max_staleness = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// Expiry of an abandoned breaker's key in the store, ns (default 24 h).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`; `circuit_fleet_new` checks the value
/// (`CIRCUIT_ERR_INVALID_CONFIG` naming the option).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_key_expiry_ns(
    config: *mut circuit_fleet_config,
    value: u64,
) -> circuit_status {
    update("circuit_fleet_config_set_key_expiry_ns", config, |c| {
        let v = value;
        c.config.key_expiry = Duration::from_nanos(v);
        CIRCUIT_OK
    })
}

/// What decides when the store is unreachable for longer than max_staleness:
/// `CIRCUIT_FLEET_DEGRADED_LOCAL` (default), `CIRCUIT_FLEET_DEGRADED_OPEN` or
/// `CIRCUIT_FLEET_DEGRADED_CLOSED`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_ARGUMENT` (another
/// value; nothing changed).
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_on_store_failure(
    config: *mut circuit_fleet_config,
    mode: u32,
) -> circuit_status {
    update("circuit_fleet_config_set_on_store_failure", config, |c| {
        c.config.on_store_failure = match mode {
            CIRCUIT_FLEET_DEGRADED_LOCAL => StoreFailure::Local,
            CIRCUIT_FLEET_DEGRADED_OPEN => StoreFailure::Open,
            CIRCUIT_FLEET_DEGRADED_CLOSED => StoreFailure::Closed,
            _ => {
                return fail(
                    CIRCUIT_ERR_INVALID_ARGUMENT,
                    format!(
                        "circuit_fleet_config_set_on_store_failure: `mode` must be CIRCUIT_FLEET_DEGRADED_LOCAL (0), _OPEN (1) or _CLOSED (2), got {mode}"
                    ),
                );
            }
        };
        CIRCUIT_OK
    })
}

/// Makes fleets created from this config run on the given manual clock (tests, simulations)
/// instead of the host's monotonic clock: staleness, open durations and back-off are measured on
/// it. The fleet keeps the clock alive.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_fleet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_config_set_manual_clock(
    config: *mut circuit_fleet_config,
    clock: circuit_clock,
) -> circuit_status {
    update("circuit_fleet_config_set_manual_clock", config, |c| match CLOCKS.get(clock) {
        Some(manual) => {
            c.clock = Some((*manual).clone());
            CIRCUIT_OK
        }
        None => fail(
            CIRCUIT_ERR_INVALID_HANDLE,
            format!("circuit_fleet_config_set_manual_clock: {clock} is not a live clock handle"),
        ),
    })
}

/// Creates this instance's side of the fleet breaker `name` (its store key is `circuit:{name}`)
/// with the options of `config` (NULL: every default; not consumed) and writes its handle to
/// `*out_fleet`. Free it with `circuit_fleet_free`.
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_CONFIG` (the message names the option and the
/// reason, e.g. "invalid option `sync_interval`: ..."; nothing is created);
/// `CIRCUIT_ERR_NULL_POINTER` (`name` or `out_fleet`); `CIRCUIT_ERR_INVALID_ARGUMENT` (`name`
/// not UTF-8, too many live fleets).
///
/// # Safety
/// `name` is NULL or NUL-terminated; `config` is NULL or live; `out_fleet` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_new(
    name: *const c_char,
    config: *const circuit_fleet_config,
    out_fleet: *mut circuit_fleet,
) -> circuit_status {
    guard("circuit_fleet_new", || {
        non_null!("circuit_fleet_new", name, out_fleet);
        // SAFETY: non-null and NUL-terminated per the contract.
        let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else {
            return fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_fleet_new: `name` is not valid UTF-8");
        };
        let (mut options, clock) = if config.is_null() {
            (FleetConfig::new(String::new()), None)
        } else {
            // SAFETY: non-null and live per the contract.
            let config = unsafe { &*config };
            (config.config.clone(), config.clock.clone())
        };
        options.name = name.to_owned();
        let now = clock.as_ref().map_or_else(|| MonotonicClock.now_nanos(), Clock::now_nanos);
        let fleet = match Fleet::new(options, now) {
            Ok(fleet) => fleet,
            Err(e) => {
                return fail(
                    CIRCUIT_ERR_INVALID_CONFIG,
                    format!("circuit_fleet_new: invalid option `{}`: {}", e.option(), e.reason()),
                );
            }
        };
        let entry = Arc::new(FleetEntry::new(fleet, clock, false));
        match FleetEntry::register(&entry) {
            Some(handle) => {
                // SAFETY: non-null and writable per the contract.
                unsafe { out_fleet.write(handle) };
                CIRCUIT_OK
            }
            None => fail(CIRCUIT_ERR_INVALID_ARGUMENT, "circuit_fleet_new: too many live fleets"),
        }
    })
}

/// Releases a fleet handle. 0 is accepted and ignored (`CIRCUIT_OK`); a freed or forged handle
/// gives `CIRCUIT_ERR_INVALID_HANDLE`. Breakers created with it keep their fleet level, which no
/// host syncs any more: it goes stale and the degraded mode decides. Free the fleet after
/// destroying its breakers. No event callback is called once it returns (except one in progress
/// on another thread).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_fleet_free(fleet: circuit_fleet) -> circuit_status {
    guard("circuit_fleet_free", || {
        if fleet == 0 {
            return CIRCUIT_OK;
        }
        if get(fleet).is_some_and(|entry| entry.in_set) {
            return fail(
                CIRCUIT_ERR_INVALID_ARGUMENT,
                format!("circuit_fleet_free: {fleet} belongs to a fleet set (circuit_fleet_set_free frees it)"),
            );
        }
        match FLEETS.remove(fleet) {
            Some(entry) => {
                let mut sink = entry.sink.lock().unwrap_or_else(PoisonError::into_inner);
                sink.callback = None;
                sink.queue.clear();
                CIRCUIT_OK
            }
            None => invalid("circuit_fleet_free", fleet),
        }
    })
}

fn with_fleet(
    function: &'static str,
    fleet: circuit_fleet,
    f: impl FnOnce(&Arc<FleetEntry>) -> circuit_status,
) -> circuit_status {
    match FLEETS.get(fleet) {
        Some(entry) => f(&entry),
        None => invalid(function, fleet),
    }
}

/// Attaches the fleet to the breakers created from `config` (`circuit_create`): their
/// `circuit_allow` admits a call only if the local breaker and the fleet both admit it (a fleet
/// refusal is `CIRCUIT_REJECTED_FLEET_OPEN` or `CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL`), and
/// `circuit_record_*` records on both. A fleet is meant for one breaker (of the fleet's name).
/// `fleet` 0 detaches. It replaces a fleet set (`circuit_config_set_fleet_set`). Families refuse a
/// config with a fleet: give them a fleet set.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_NULL_POINTER` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `config` is NULL or a live pointer from `circuit_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_config_set_fleet(config: *mut circuit_config, fleet: circuit_fleet) -> circuit_status {
    guard("circuit_config_set_fleet", || {
        non_null!("circuit_config_set_fleet", config);
        let entry = if fleet == 0 {
            None
        } else {
            match get(fleet) {
                Some(entry) => Some(entry),
                None => return invalid("circuit_config_set_fleet", fleet),
            }
        };
        // SAFETY: non-null; the caller guarantees it is live and not used concurrently.
        unsafe {
            if entry.is_some() {
                (*config).fleet_set = None;
            }
            (*config).fleet = entry;
        }
        CIRCUIT_OK
    })
}

/// A sync to send: `EVALSHA <circuit_fleet_script_sha1()> 1 <key> <args...>` (or `EVAL` with the
/// script after `NOSCRIPT`). From `circuit_fleet_poll`; answer it with `circuit_fleet_complete`
/// or `circuit_fleet_fail`, then free it with `circuit_fleet_request_free`.
pub struct circuit_fleet_request {
    fleet: circuit_fleet,
    entry: Arc<FleetEntry>,
    key: String,
    /// Owns the bytes `views` point to.
    _args: Vec<String>,
    views: Vec<circuit_fleet_bytes>,
    done: AtomicBool,
}

// SAFETY: the views point into `args`, owned by the request and never changed after creation.
unsafe impl Send for circuit_fleet_request {}
// SAFETY: as above; `done` is atomic.
unsafe impl Sync for circuit_fleet_request {}

/// Writes the request of a sync that is due now to `*out_request`, or NULL when none is (one is in
/// flight, or it is not time yet; it is time every `sync_interval` and at once after a would-trip,
/// a probe verdict or a wanted probe). Without a request it also delivers what changed without a
/// sync (`CIRCUIT_FLEET_EVENT_STORE_DEGRADED`), like `circuit_fleet_tick`. Cheap: call it every
/// few milliseconds from the host's sync thread.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_request` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_poll(
    fleet: circuit_fleet,
    out_request: *mut *mut circuit_fleet_request,
) -> circuit_status {
    guard("circuit_fleet_poll", || {
        non_null!("circuit_fleet_poll", out_request);
        with_fleet("circuit_fleet_poll", fleet, |entry| {
            let now = entry.now();
            match entry.fleet.poll(now) {
                Some(request) => {
                    let key = request.keys()[0].to_owned();
                    let args = request.args().to_vec();
                    let views = args.iter().map(|a| circuit_fleet_bytes { ptr: a.as_ptr(), len: a.len() }).collect();
                    let request = Box::new(circuit_fleet_request {
                        fleet,
                        entry: Arc::clone(entry),
                        key,
                        _args: args,
                        views,
                        done: AtomicBool::new(false),
                    });
                    // SAFETY: non-null and writable per the contract.
                    unsafe { out_request.write(Box::into_raw(request)) };
                }
                None => {
                    // SAFETY: non-null and writable per the contract.
                    unsafe { out_request.write(std::ptr::null_mut()) };
                    entry.deliver(entry.fleet.events(now));
                }
            }
            CIRCUIT_OK
        })
    })
}

/// Delivers what changed without a sync (the store became stale: `_STORE_DEGRADED`, once).
/// `circuit_fleet_poll` does this itself when it has nothing to send.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_INVALID_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_fleet_tick(fleet: circuit_fleet) -> circuit_status {
    guard("circuit_fleet_tick", || {
        with_fleet("circuit_fleet_tick", fleet, |entry| {
            entry.deliver(entry.fleet.events(entry.now()));
            CIRCUIT_OK
        })
    })
}

/// The request's key (`circuit:{name}`), valid until `circuit_fleet_request_free`.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `request` is NULL or live; `out_key` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_request_key(
    request: *const circuit_fleet_request,
    out_key: *mut circuit_fleet_bytes,
) -> circuit_status {
    guard("circuit_fleet_request_key", || {
        non_null!("circuit_fleet_request_key", request, out_key);
        // SAFETY: non-null and live per the contract.
        let request = unsafe { &*request };
        // SAFETY: non-null and writable per the contract.
        unsafe { out_key.write(circuit_fleet_bytes { ptr: request.key.as_ptr(), len: request.key.len() }) };
        CIRCUIT_OK
    })
}

/// The script's arguments: `*out_count` byte strings at `*out_args`, valid until
/// `circuit_fleet_request_free`.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `request` is NULL or live; `out_args` and `out_count` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_request_args(
    request: *const circuit_fleet_request,
    out_args: *mut *const circuit_fleet_bytes,
    out_count: *mut usize,
) -> circuit_status {
    guard("circuit_fleet_request_args", || {
        non_null!("circuit_fleet_request_args", request, out_args, out_count);
        // SAFETY: non-null and live per the contract.
        let request = unsafe { &*request };
        // SAFETY: non-null and writable per the contract.
        unsafe {
            out_args.write(request.views.as_ptr());
            out_count.write(request.views.len());
        }
        CIRCUIT_OK
    })
}

/// Frees a request. NULL is ignored. A request freed without `circuit_fleet_complete` or
/// `circuit_fleet_fail` counts as a failed sync (so the fleet is never left waiting for it).
///
/// # Safety
/// `request` is NULL or a pointer from `circuit_fleet_poll`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_request_free(request: *mut circuit_fleet_request) {
    if request.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: from circuit_fleet_poll, freed only here.
        let request = unsafe { Box::from_raw(request) };
        if !request.done.swap(true, Ordering::AcqRel) {
            let entry = &request.entry;
            entry.deliver(entry.fleet.complete(entry.now(), Err("the request was freed without a reply".to_owned())));
        }
    }));
}

fn take_request<'a>(
    function: &'static str,
    fleet: circuit_fleet,
    request: *const circuit_fleet_request,
) -> Result<&'a circuit_fleet_request, circuit_status> {
    if request.is_null() {
        return Err(fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `request` is NULL")));
    }
    if FLEETS.get(fleet).is_none() {
        return Err(invalid(function, fleet));
    }
    // SAFETY: non-null and live per the contract.
    let request = unsafe { &*request };
    if request.fleet != fleet {
        return Err(fail(
            CIRCUIT_ERR_INVALID_ARGUMENT,
            format!("{function}: the request belongs to fleet {}, not {fleet}", request.fleet),
        ));
    }
    if request.done.swap(true, Ordering::AcqRel) {
        return Err(fail(CIRCUIT_ERR_INVALID_ARGUMENT, format!("{function}: the request was already answered")));
    }
    Ok(request)
}

fn replies_of(replies: *const circuit_fleet_reply, count: usize) -> Result<Vec<Reply>, String> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if replies.is_null() {
        return Err(format!("`replies` is NULL with count {count}"));
    }
    if count > 20_000 {
        return Err("reply too long".to_owned());
    }
    // SAFETY: non-null with `count` items per the contract.
    let items = unsafe { std::slice::from_raw_parts(replies, count) };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.kind {
            CIRCUIT_FLEET_REPLY_INT => Ok(Reply::Int(item.integer)),
            CIRCUIT_FLEET_REPLY_BYTES => {
                if item.len == 0 {
                    return Ok(Reply::Text(String::new()));
                }
                if item.bytes.is_null() {
                    return Err(format!("reply item {i}: `bytes` is NULL with length {}", item.len));
                }
                // SAFETY: non-null with `len` bytes per the contract.
                let bytes = unsafe { std::slice::from_raw_parts(item.bytes, item.len) };
                String::from_utf8(bytes.to_vec())
                    .map(Reply::Text)
                    .map_err(|_| format!("reply item {i} is not valid UTF-8"))
            }
            other => Err(format!("reply item {i} has unknown kind {other}")),
        })
        .collect()
}

/// Applies the store's reply (the script's array: `count` items at `replies`) to `request`, then
/// delivers the events. A reply the core cannot read (malformed, an unknown state, a non-UTF-8
/// string, an unknown item kind, `replies` NULL with a nonzero count) counts as a failed sync,
/// like `circuit_fleet_fail`, and still returns `CIRCUIT_OK`. Call it from the host's sync thread,
/// with no lock of the host's held (the event callback runs inside).
///
/// Returns `CIRCUIT_OK`; `CIRCUIT_ERR_INVALID_HANDLE`; `CIRCUIT_ERR_NULL_POINTER` (`request`);
/// `CIRCUIT_ERR_INVALID_ARGUMENT` (the request is another fleet's, or was already answered).
///
/// # Safety
/// `request` is NULL or live; `replies` is NULL or points to `count` items whose `bytes` point to
/// `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_complete(
    fleet: circuit_fleet,
    request: *const circuit_fleet_request,
    replies: *const circuit_fleet_reply,
    count: usize,
) -> circuit_status {
    guard("circuit_fleet_complete", || {
        let request = match take_request("circuit_fleet_complete", fleet, request) {
            Ok(request) => request,
            Err(status) => return status,
        };
        let entry = &request.entry;
        let reply = replies_of(replies, count);
        entry.deliver(entry.fleet.complete(entry.now(), reply));
        CIRCUIT_OK
    })
}

/// The round trip of `request` failed (`message`: the store error or time-out; NULL is allowed).
/// The sync's deltas and verdicts are dropped (never counted twice) and it is retried after a
/// back-off. Then the events are delivered.
///
/// Returns as `circuit_fleet_complete`.
///
/// # Safety
/// `request` is NULL or live; `message` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_fail(
    fleet: circuit_fleet,
    request: *const circuit_fleet_request,
    message: *const c_char,
) -> circuit_status {
    guard("circuit_fleet_fail", || {
        let request = match take_request("circuit_fleet_fail", fleet, request) {
            Ok(request) => request,
            Err(status) => return status,
        };
        let message = if message.is_null() {
            "store error".to_owned()
        } else {
            // SAFETY: non-null and NUL-terminated per the contract.
            unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
        };
        let entry = &request.entry;
        entry.deliver(entry.fleet.complete(entry.now(), Err(message)));
        CIRCUIT_OK
    })
}

/// Sets the event callback (NULL removes it): called from `circuit_fleet_poll`,
/// `circuit_fleet_tick`, `circuit_fleet_complete`, `circuit_fleet_fail` and
/// `circuit_fleet_request_free`, on their thread, with no lock of the library held (it may call
/// the library, e.g. `circuit_fleet_status`). Without a callback, events are queued (the last
/// 256) for `circuit_fleet_next_event`; setting a callback does not flush the queue.
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `callback` may be called from the host's sync thread with `userdata` until it is replaced or
/// the fleet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_on_event(
    fleet: circuit_fleet,
    callback: circuit_fleet_event_fn,
    userdata: *mut c_void,
) -> circuit_status {
    guard("circuit_fleet_on_event", || {
        with_fleet("circuit_fleet_on_event", fleet, |entry| {
            entry.sink.lock().unwrap_or_else(PoisonError::into_inner).callback =
                callback.map(|function| Callback { function, userdata });
            CIRCUIT_OK
        })
    })
}

/// Takes the oldest queued event (queued while no callback is set): writes it to `*out_event` and
/// `true` to `*out_has`, or `false` to `*out_has` when the queue is empty.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_event` and `out_has` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_next_event(
    fleet: circuit_fleet,
    out_event: *mut circuit_fleet_event,
    out_has: *mut bool,
) -> circuit_status {
    guard("circuit_fleet_next_event", || {
        non_null!("circuit_fleet_next_event", out_event, out_has);
        with_fleet("circuit_fleet_next_event", fleet, |entry| {
            let next = entry.sink.lock().unwrap_or_else(PoisonError::into_inner).queue.pop_front();
            // SAFETY: non-null and writable per the contract.
            unsafe {
                if let Some(event) = next {
                    out_event.write(event);
                }
                out_has.write(next.is_some());
            }
            CIRCUIT_OK
        })
    })
}

/// Writes the fleet level's state to `*out_status`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_status` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_status(
    fleet: circuit_fleet,
    out_status: *mut circuit_fleet_status_snapshot,
) -> circuit_status {
    guard("circuit_fleet_status", || {
        non_null!("circuit_fleet_status", out_status);
        with_fleet("circuit_fleet_status", fleet, |entry| {
            let s = entry.fleet.status(entry.now());
            let snapshot = circuit_fleet_status_snapshot {
                state: state_code(s.state),
                degraded: s.degraded,
                epoch: s.epoch,
                staleness_ns: s.staleness.map_or(CIRCUIT_NO_TIME, nanos),
                syncs: s.syncs,
                sync_failures: s.sync_failures,
            };
            // SAFETY: non-null and writable per the contract.
            unsafe { out_status.write(snapshot) };
            CIRCUIT_OK
        })
    })
}

/// The fleet's `sync_interval` in nanoseconds (the host's response timeout is this, at least
/// 50 ms), written to `*out_ns`.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_ns` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_sync_interval_ns(fleet: circuit_fleet, out_ns: *mut u64) -> circuit_status {
    guard("circuit_fleet_sync_interval_ns", || {
        non_null!("circuit_fleet_sync_interval_ns", out_ns);
        with_fleet("circuit_fleet_sync_interval_ns", fleet, |entry| {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_ns.write(nanos(entry.fleet.config().sync_interval)) };
            CIRCUIT_OK
        })
    })
}

/// The fleet state machine's Lua script (for `EVAL`, and `SCRIPT LOAD`): `*out_len` bytes at
/// `*out_script` (static; also NUL-terminated).
///
/// Returns `CIRCUIT_OK` or `CIRCUIT_ERR_NULL_POINTER`.
///
/// # Safety
/// `out_script` and `out_len` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_fleet_script(out_script: *mut *const c_char, out_len: *mut usize) -> circuit_status {
    guard("circuit_fleet_script", || {
        non_null!("circuit_fleet_script", out_script, out_len);
        let script = statics().0.as_bytes();
        // SAFETY: non-null and writable per the contract.
        unsafe {
            out_script.write(statics().0.as_ptr());
            out_len.write(script.len());
        }
        CIRCUIT_OK
    })
}

/// The SHA-1 of the script, 40 lowercase hex digits, for `EVALSHA` (a static NUL-terminated
/// string; do not free).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_fleet_script_sha1() -> *const c_char {
    statics().1.as_ptr()
}

fn statics() -> &'static (CString, CString) {
    static STATICS: OnceLock<(CString, CString)> = OnceLock::new();
    STATICS.get_or_init(|| {
        (
            CString::new(engine::fleet::SCRIPT).unwrap_or_default(),
            CString::new(engine::fleet::script_sha1()).unwrap_or_default(),
        )
    })
}
