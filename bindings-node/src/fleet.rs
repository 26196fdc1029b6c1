//! Fleet breakers (docs/fleet.md, docs/node.md "Fleet breakers (Redis)"): the native half of
//! `redisFleet` (`lib/fleet.js`). `NativeFleet` is the core's sans-IO fleet breaker of one breaker
//! name (`engine::fleet::Fleet`); the JavaScript side runs its round trips with an ioredis or
//! node-redis client on the event loop. A breaker created with a fleet (`createBreaker`'s `fleet`
//! argument) keeps it in its registry entry, and the fast-path functions admit through
//! `Fleet::allow_call` and record through `Fleet::record_call` (`fast_path.rs`): no I/O on the call
//! path. A fleet probe lease travels in the permit's parts (`PART_FLEET_EPOCH`, `PART_FLEET_ID`).

use std::sync::Arc;

use engine::Clock;
use engine::fleet::{Fleet, FleetConfig, FleetEvent, FleetPermit, FleetState, Refused, Reply};
use engine::{OptionInfo, OptionKind, OptionValue};
use napi::ValueType;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::clock::ms;
use crate::options::ConfigProblem;
use crate::protocol::NO_FLEET_PROBE;
use crate::schema::camel_case;

/// The host's monotonic clock, the time line of every fleet of this process (a breaker's own
/// clock, manual or not, is never the fleet's: the fleet's instants are turned from the store's
/// remaining durations on receipt).
#[inline]
pub(crate) fn now() -> u64 {
    engine::MonotonicClock.now_nanos()
}

/// The core's fleet breaker of one breaker name (`redisFleet` holds one per name attached).
#[napi]
pub struct NativeFleet {
    pub(crate) inner: Arc<ClockedFleet>,
}

/// The core's fleet breaker and the clock it runs on: the host's monotonic clock, or a manual
/// clock (tests, simulations: the conformance vectors). Derefs to the core's `Fleet`.
#[derive(Debug)]
pub(crate) struct ClockedFleet {
    fleet: Fleet,
    clock: Option<engine::ManualClock>,
}

impl ClockedFleet {
    /// This fleet's instant now.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.clock {
            Some(clock) => clock.now_nanos(),
            None => now(),
        }
    }
}

impl AsRef<Fleet> for ClockedFleet {
    fn as_ref(&self) -> &Fleet {
        &self.fleet
    }
}

impl ClockedFleet {
    /// The fleet `config` on `clock` (None: the host's monotonic clock).
    pub(crate) fn new(
        config: FleetConfig,
        clock: Option<engine::ManualClock>,
    ) -> std::result::Result<Self, engine::ConfigError> {
        let created = clock.as_ref().map_or_else(now, engine::Clock::now_nanos);
        Ok(Self { fleet: Fleet::new(config, created)?, clock })
    }
}

impl std::ops::Deref for ClockedFleet {
    type Target = Fleet;

    fn deref(&self) -> &Fleet {
        &self.fleet
    }
}

/// What a sync sends: `EVALSHA sha 1 key ...args` (or `EVAL script 1 key ...args`).
#[napi(object)]
pub struct FleetRequest {
    pub key: String,
    pub args: Vec<String>,
}

/// One fleet event: `kind` is `transition` (with `from`, `to`, `epoch`), `store_degraded`,
/// `store_recovered` or `mismatch` (with `stored`, the stored options' fingerprint).
#[napi(object)]
pub struct NativeFleetEvent {
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub epoch: Option<f64>,
    pub stored: Option<String>,
}

/// The fleet level's state, for `status()`.
#[napi(object)]
pub struct NativeFleetStatus {
    pub state: String,
    pub epoch: f64,
    pub degraded: bool,
    /// Milliseconds since the last successful sync, or `null` before the first.
    pub staleness: Option<f64>,
    pub syncs: f64,
    pub sync_failures: f64,
}

fn event_of(event: FleetEvent) -> NativeFleetEvent {
    let (kind, from, to, epoch, stored) = match event {
        FleetEvent::Transition { from, to, epoch } => {
            ("transition", Some(from.as_str()), Some(to.as_str()), Some(epoch as f64), None)
        }
        FleetEvent::StoreDegraded => ("store_degraded", None, None, None, None),
        FleetEvent::StoreRecovered => ("store_recovered", None, None, None, None),
        FleetEvent::Mismatch { stored } => ("mismatch", None, None, None, Some(stored)),
    };
    NativeFleetEvent { kind: kind.to_owned(), from: from.map(str::to_owned), to: to.map(str::to_owned), epoch, stored }
}

pub(crate) fn events_of(events: Vec<FleetEvent>) -> Vec<NativeFleetEvent> {
    events.into_iter().map(event_of).collect()
}

/// One fleet option's JavaScript value as the core's value: `None` when not given (absent or
/// `undefined`), `null` turning a rate rule off, anything else converted by its kind as an engine
/// option is (`options::option_value`: durations in ms; a wrong type is a problem naming it).
fn fleet_value(
    info: &'static OptionInfo,
    value: Unknown,
) -> Result<Option<std::result::Result<OptionValue, ConfigProblem>>> {
    Ok(match (info.kind, value.get_type()?) {
        (_, ValueType::Undefined) => None,
        (OptionKind::Number, ValueType::Null) => Some(Ok(OptionValue::Text("none".to_owned()))),
        _ => Some(crate::options::option_value(info, value)?),
    })
}

/// The fleet options (camelCase, durations in ms) as the core's `FleetConfig`, validated: one
/// option of the core's schema after the other, set by name.
pub(crate) fn config(name: String, options: &Object) -> Result<std::result::Result<FleetConfig, ConfigProblem>> {
    let mut c = FleetConfig::new(name);
    for info in engine::fleet::FLEET_OPTIONS {
        let Some(value) = options.get::<Unknown>(&camel_case(info.name))? else { continue };
        let value = match fleet_value(info, value)? {
            None => continue,
            Some(Ok(value)) => value,
            Some(Err(problem)) => return Ok(Err(problem)),
        };
        if let Err(e) = c.set(info.name, value) {
            return Ok(Err(e.into()));
        }
    }
    Ok(c.validate().map(|()| c).map_err(ConfigProblem::from))
}

/// Creates the fleet breaker `name` with its options (camelCase, durations in ms; `lib/fleet.js`
/// has checked their types), or says which option is invalid (nothing is created then). `clock`:
/// a manual clock to run on instead of the host's monotonic clock (tests).
#[napi(
    catch_unwind,
    ts_args_type = "name: string, options: Record<string, string | number | null | undefined>, clock?: NativeClock | undefined | null"
)]
pub fn create_fleet(
    name: String,
    options: Object,
    clock: Option<&crate::clock::NativeClock>,
) -> Result<Either<NativeFleet, ConfigProblem>> {
    let config = match config(name, &options)? {
        Ok(config) => config,
        Err(problem) => return Ok(Either::B(problem)),
    };
    match ClockedFleet::new(config, clock.map(|c| c.clock.clone())) {
        Ok(fleet) => Ok(Either::A(NativeFleet { inner: Arc::new(fleet) })),
        Err(e) => Ok(Either::B(e.into())),
    }
}

/// The fleet state machine's script (Lua, for `EVAL`).
#[napi(catch_unwind)]
pub fn fleet_script() -> &'static str {
    engine::fleet::SCRIPT
}

/// The SHA-1 of the script, hex (for `EVALSHA`).
#[napi(catch_unwind)]
pub fn fleet_script_sha1() -> String {
    engine::fleet::script_sha1()
}

/// One reply value: a Redis integer (a whole JS number) or a string.
fn reply_of(items: Vec<Either<f64, String>>) -> std::result::Result<Vec<Reply>, String> {
    if items.len() > 20_000 {
        return Err("reply too long".to_owned());
    }
    items
        .into_iter()
        .map(|item| match item {
            Either::A(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.2e18 => Ok(Reply::Int(n as i64)),
            Either::A(n) => Err(format!("unexpected reply item {n}")),
            Either::B(text) => Ok(Reply::Text(text)),
        })
        .collect()
}

#[napi]
impl NativeFleet {
    /// The breaker name.
    #[napi(getter, catch_unwind)]
    pub fn name(&self) -> String {
        self.inner.config().name.clone()
    }

    /// The store key, `circuit:{name}`.
    #[napi(getter, catch_unwind)]
    pub fn key(&self) -> String {
        self.inner.config().key()
    }

    /// The sync interval, ms (the response timeout of a round trip is at least this).
    #[napi(getter, catch_unwind)]
    pub fn sync_interval(&self) -> f64 {
        ms(self.inner.config().sync_interval)
    }

    /// What to send if a sync is due now, or `null` (also while one is in flight).
    #[napi(catch_unwind)]
    pub fn poll(&self) -> Option<FleetRequest> {
        request_of(&self.inner)
    }

    /// Applies the script's reply (an array of whole numbers and strings) to the request `poll`
    /// gave; a malformed reply is a failed sync. Returns what happened.
    #[napi(catch_unwind)]
    pub fn complete(&self, reply: Vec<Either<f64, String>>) -> Vec<NativeFleetEvent> {
        answer(&self.inner, Ok(reply))
    }

    /// The request `poll` gave failed (`message`: the store error or time-out).
    #[napi(catch_unwind)]
    pub fn fail(&self, message: String) -> Vec<NativeFleetEvent> {
        answer(&self.inner, Err(message))
    }

    /// What changed without a sync (the store became stale).
    #[napi(catch_unwind)]
    pub fn events(&self) -> Vec<NativeFleetEvent> {
        events_of(self.inner.events(self.inner.now()))
    }

    /// The fleet level's state.
    #[napi(catch_unwind)]
    pub fn status(&self) -> NativeFleetStatus {
        status_of(&self.inner)
    }
}

/// The fleet level's state now.
pub(crate) fn status_of(fleet: &ClockedFleet) -> NativeFleetStatus {
    let s = fleet.status(fleet.now());
    NativeFleetStatus {
        state: s.state.as_str().to_owned(),
        epoch: s.epoch as f64,
        degraded: s.degraded,
        staleness: s.staleness.map(ms),
        syncs: s.syncs as f64,
        sync_failures: s.sync_failures as f64,
    }
}

/// What to send if a sync of `fleet` is due now.
pub(crate) fn request_of(fleet: &ClockedFleet) -> Option<FleetRequest> {
    fleet.poll(fleet.now()).map(|r| FleetRequest { key: r.keys()[0].to_owned(), args: r.args().to_vec() })
}

/// Applies a reply (`Ok`) or a failure (`Err`) to the sync in flight of `fleet`.
pub(crate) fn answer(
    fleet: &ClockedFleet,
    reply: std::result::Result<Vec<Either<f64, String>>, String>,
) -> Vec<NativeFleetEvent> {
    let reply = reply.and_then(reply_of);
    events_of(fleet.complete(fleet.now(), reply))
}

/// A fleet permit's probe lease as the two fleet parts (`NO_FLEET_PROBE` each for none).
pub(crate) fn probe_parts(permit: &FleetPermit) -> (f64, f64) {
    match permit.probe_parts() {
        Some((epoch, id)) => (epoch as f64, id as f64),
        None => (NO_FLEET_PROBE, NO_FLEET_PROBE),
    }
}

/// The probe lease of the two fleet parts of a permit (`None` for `NO_FLEET_PROBE`).
pub(crate) fn probe_of(epoch: f64, id: f64) -> std::result::Result<Option<(u64, u64)>, &'static std::ffi::CStr> {
    if epoch == NO_FLEET_PROBE && id == NO_FLEET_PROBE {
        return Ok(None);
    }
    let whole = |v: f64| (0.0..9_007_199_254_740_992.0).contains(&v) && v.fract() == 0.0;
    if whole(epoch) && whole(id) {
        Ok(Some((epoch as u64, id as u64)))
    } else {
        Err(c"circuit: expected a fleet probe lease")
    }
}

/// The state, reason and retry time (ms) of a fleet refusal, as `NativeRejection` carries them.
pub(crate) fn refusal_parts(refused: &Refused) -> Option<(&'static str, &'static str, Option<f64>)> {
    match refused {
        Refused::Local(_) => None,
        Refused::Fleet { state, retry_after } => {
            let reason = match state {
                FleetState::HalfOpen => "half_open_full",
                FleetState::Open | FleetState::Closed => "open",
            };
            Some((state.as_str(), reason, retry_after.map(ms)))
        }
    }
}
