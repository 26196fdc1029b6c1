//! `NativeFleetSet` (docs/fleet.md "Families and fleet sets"): the fleet breakers of one
//! `redisFleet`, made on demand by name from one set of options (`engine::fleet::FleetSet`). A
//! breaker attached to the fleet gets the set's fleet of its name (`fleet`); a family created
//! with the set (`createFamily`'s `fleets` argument) gives each member the fleet of the member's
//! name. `lib/fleet.js` syncs them by name (`names` sweeps the idle ones first, then `poll`,
//! `complete`, `fail`, `events`, `status`), so JavaScript holds no fleet object of its own and
//! an idle fleet no breaker holds is forgotten after `idleTtl` (10 minutes unless given).

use std::sync::Arc;

use engine::fleet::{DEFAULT_FLEET_IDLE_TTL, FleetConfig, FleetSet};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::fleet::{ClockedFleet, FleetRequest, NativeFleet, NativeFleetEvent, NativeFleetStatus};
use crate::options::ConfigProblem;

/// The fleets of one `redisFleet`, by breaker name.
#[napi]
pub struct NativeFleetSet {
    pub(crate) source: FleetSource,
}

/// Creates a fleet set with the fleet options (camelCase, durations in ms, as `createFleet` takes
/// them), or says which option is invalid. `clock`: a manual clock for its fleets (tests).
#[napi(
    catch_unwind,
    ts_args_type = "options: Record<string, string | number | null | undefined>, idleTtl?: number | undefined | null, clock?: NativeClock | undefined | null"
)]
pub fn create_fleet_set(
    options: Object,
    idle_ttl: Option<f64>,
    clock: Option<&crate::clock::NativeClock>,
) -> Result<Either<NativeFleetSet, ConfigProblem>> {
    let template = match crate::fleet::config("fleet-set".to_owned(), &options)? {
        Ok(config) => config,
        Err(problem) => return Ok(Either::B(problem)),
    };
    let idle_ttl = match idle_ttl.map(|ms| engine::duration_from_f64("idleTtl", ms, crate::protocol::NANOS_PER_MS)) {
        None => DEFAULT_FLEET_IDLE_TTL,
        Some(Ok(d)) => d,
        Some(Err(e)) => return Ok(Either::B(ConfigProblem { option: "idleTtl".into(), reason: e.reason().into() })),
    };
    match FleetSet::new(template, idle_ttl) {
        Ok(set) => Ok(Either::A(NativeFleetSet {
            source: FleetSource { set: Arc::new(set), clock: clock.map(|c| c.clock.clone()) },
        })),
        Err(e) => Ok(Either::B(e.into())),
    }
}

/// A fleet set and the clock its fleets run on (a family keeps a clone).
#[derive(Clone)]
pub(crate) struct FleetSource {
    set: Arc<FleetSet<ClockedFleet>>,
    clock: Option<engine::ManualClock>,
}

impl FleetSource {
    /// The fleet of the breaker `name`, made on first use.
    pub(crate) fn member(&self, name: &str) -> Result<Arc<ClockedFleet>> {
        let clock = &self.clock;
        self.set
            .get_or_make(name, |config: FleetConfig| ClockedFleet::new(config, clock.clone()).map(Arc::new))
            .map_err(|e| Error::new(Status::InvalidArg, format!("circuit: fleet `{name}`: {e}")))
    }

    fn now(&self) -> u64 {
        self.clock.as_ref().map_or_else(crate::fleet::now, engine::Clock::now_nanos)
    }
}

#[napi]
impl NativeFleetSet {
    /// The fleet breaker `name` (made on first use), to attach to a breaker (`createBreaker`).
    #[napi(catch_unwind)]
    pub fn fleet(&self, name: String) -> Result<NativeFleet> {
        Ok(NativeFleet { inner: self.source.member(&name)? })
    }

    /// The sync interval of every fleet of the set, ms.
    #[napi(getter, catch_unwind)]
    pub fn sync_interval(&self) -> f64 {
        crate::clock::ms(self.source.set.template().sync_interval)
    }

    /// The names of the set's fleets, after forgetting the idle ones no breaker holds.
    #[napi(catch_unwind)]
    pub fn names(&self) -> Vec<String> {
        let set = &self.source.set;
        drop(set.sweep(self.source.now(), 0));
        set.all().into_iter().map(|(name, _)| name).collect()
    }

    /// What to send for `name` if its sync is due now, or `null` (also for a name the set lacks).
    #[napi(catch_unwind)]
    pub fn poll(&self, name: String) -> Option<FleetRequest> {
        crate::fleet::request_of(&*self.source.set.get(&name)?)
    }

    /// Applies the script's reply to the sync in flight of `name`.
    #[napi(catch_unwind)]
    pub fn complete(&self, name: String, reply: Vec<Either<f64, String>>) -> Vec<NativeFleetEvent> {
        self.source.set.get(&name).map(|f| crate::fleet::answer(&f, Ok(reply))).unwrap_or_default()
    }

    /// The sync in flight of `name` failed (`message`: the store error or time-out).
    #[napi(catch_unwind)]
    pub fn fail(&self, name: String, message: String) -> Vec<NativeFleetEvent> {
        self.source.set.get(&name).map(|f| crate::fleet::answer(&f, Err(message))).unwrap_or_default()
    }

    /// What changed for `name` without a sync (the store became stale).
    #[napi(catch_unwind)]
    pub fn events(&self, name: String) -> Vec<NativeFleetEvent> {
        self.source.set.get(&name).map(|f| crate::fleet::events_of(f.events(f.now()))).unwrap_or_default()
    }

    /// The fleet level of `name`, or `null` when the set has no fleet of that name.
    #[napi(catch_unwind)]
    pub fn status(&self, name: String) -> Option<NativeFleetStatus> {
        self.source.set.get(&name).map(|f| crate::fleet::status_of(&f))
    }
}
