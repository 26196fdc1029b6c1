//! `NativeFamily`, the owner of one engine `Family` (`lib/family.js` holds it as `#native`): one
//! breaker per key with bounded memory, all of it the core's (`core/src/family.rs`). A member
//! reaches JavaScript as a `NativeBreaker` of this thread's registry whose entry holds the
//! member's `Arc`, which pins the member (the core never evicts a breaker referenced outside the
//! family) for as long as the JavaScript object lives. Family transitions come the way a
//! breaker's do: a core family listener queues them, with their key, and `lib/family.js` drains
//! the queue (`drain`) after each call that may have caused one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use engine::{Family, FamilyBuilder, Transition, duration_from_f64};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::breaker::{NativeBreaker, NativeRejection, metrics_values};
use crate::clock::{NativeClock, ms};
use crate::fleet_set::{FleetSource, NativeFleetSet};
use crate::member_permit::NativeMemberPermit;
use crate::options::{ConfigProblem, build_config};
use crate::protocol::NANOS_PER_MS;
use crate::region::{NativeRegion, RegionProblem};

/// Transitions of the members (and of the overflow breaker, key `None`) queued by the core
/// family listener until `lib/family.js` drains them.
#[derive(Default)]
struct FamilyQueue {
    events: Mutex<Vec<(Option<String>, Transition)>>,
    pending: AtomicBool,
}

/// The owner of a family; the family (and every member no JavaScript object holds) is freed
/// when the JS object is collected.
#[napi]
pub struct NativeFamily {
    family: Family,
    queue: Arc<FamilyQueue>,
    /// The fleet set each member's fleet breaker comes from (`fleet_set.rs`), by member name.
    fleets: Option<FleetSource>,
}

/// A problem with `maxKeys` or `idleTtl` (named in camelCase: they are not engine options).
fn problem(option: &str, reason: String) -> ConfigProblem {
    ConfigProblem { option: option.to_owned(), reason }
}

/// Creates a family from the engine options (as `createBreaker` takes them), `maxKeys` and
/// `idleTtl` (ms; `lib/family.js` has checked their types; undefined: the engine's defaults), or
/// says which option is invalid (nothing is created then).
///
/// With `region` (`region.rs`), the members `<name>/<key>` and the overflow breaker are the
/// region's breakers, one per key across every process that opens the region, on the region's
/// clock (so no `clock`: `lib/options.js` refuses both); when the region is full, new keys get the
/// overflow breaker. A family in a region needs a name (else the `RegionProblem`); the region's
/// refusal of the overflow breaker (full, other options) is the `ConfigProblem` of `region`.
#[napi(
    catch_unwind,
    ts_args_type = "options: Record<string, string | number | undefined>, maxKeys: number | undefined, idleTtl: number | undefined, clock?: NativeClock | undefined | null, region?: NativeRegion | undefined | null, fleets?: NativeFleetSet | undefined | null"
)]
pub fn create_family(
    options: Object,
    max_keys: Option<f64>,
    idle_ttl: Option<f64>,
    clock: Option<&NativeClock>,
    region: Option<&NativeRegion>,
    fleets: Option<&NativeFleetSet>,
) -> Result<Either3<NativeFamily, ConfigProblem, RegionProblem>> {
    let config = match build_config(&options)? {
        Ok(config) => config,
        Err(problem) => return Ok(Either3::B(problem)),
    };
    if region.is_some() && clock.is_some() {
        // lib/options.js refuses this combination, naming the option.
        return Err(Error::new(Status::InvalidArg, "circuit: a family in a region takes no clock"));
    }
    let max_keys = max_keys.unwrap_or(engine::DEFAULT_MAX_KEYS as f64);
    if !(max_keys.is_finite() && max_keys.fract() == 0.0 && (1.0..=9_007_199_254_740_991.0).contains(&max_keys)) {
        return Ok(Either3::B(problem("maxKeys", format!("must be a whole number >= 1, got {max_keys}"))));
    }
    let idle_ttl = match idle_ttl.map(|ms| duration_from_f64("idleTtl", ms, NANOS_PER_MS)) {
        None => engine::DEFAULT_IDLE_TTL,
        Some(Ok(d)) => d,
        Some(Err(e)) => return Ok(Either3::B(problem("idleTtl", e.reason().to_owned()))),
    };
    let mut builder = match region {
        Some(region) => match in_region(region, config) {
            Ok(builder) => builder,
            Err(problem) => return Ok(Either3::C(problem)),
        },
        None => Family::builder(config),
    };
    builder = builder.max_keys(max_keys as usize).idle_ttl(idle_ttl);
    if let Some(clock) = clock {
        builder = builder.clock(clock.clock.clone());
    }
    let family = match builder.build() {
        Ok(family) => family,
        Err(e) => return Ok(Either3::B(problem(&crate::schema::camel_case(e.option()), e.reason().to_owned()))),
    };
    let queue = Arc::new(FamilyQueue::default());
    let sink = Arc::clone(&queue);
    family.on_transition(move |event| {
        sink.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((event.key.map(str::to_owned), *event.transition));
        sink.pending.store(true, Ordering::Release);
    });
    if fleets.is_some() && family.config().name().is_none() {
        let reason = "a family with a fleet needs a name (each member is the fleet breaker `<name>/<key>`)";
        return Ok(Either3::B(problem("name", reason.to_owned())));
    }
    let fleets = fleets.map(|set| set.source.clone());
    Ok(Either3::A(NativeFamily { family, queue, fleets }))
}

impl NativeFamily {
    /// A `NativeBreaker` holding `member`, through the member's fleet in a family with a fleet set.
    fn adopt(&self, member: Arc<engine::CircuitBreaker>) -> Result<NativeBreaker> {
        let fleet = match &self.fleets {
            Some(fleets) => Some(fleets.member(member.name().unwrap_or_default())?),
            None => None,
        };
        Ok(NativeBreaker::adopt_with_fleet(member, fleet))
    }
}

/// The call-scoped `allow` in a family with a fleet set: both levels (`Fleet::allow_call`), the
/// member's and its fleet's (named as the member).
fn allow_with_fleet(
    fleets: &FleetSource,
    breaker: Arc<engine::CircuitBreaker>,
    overflow: bool,
) -> Result<Either<NativeMemberPermit, MemberRejection>> {
    let fleet = fleets.member(breaker.name().unwrap_or_default())?;
    let admitted = fleet.allow_call(&breaker, || fleet.now());
    Ok(match admitted {
        Ok(permit) => Either::A(NativeMemberPermit::with_fleet(breaker, fleet, permit, overflow)),
        Err(refused) => Either::B(MemberRejection {
            name: breaker.name().map(str::to_owned),
            overflow,
            rejection: NativeRejection::of(&refused),
        }),
    })
}

/// The family builder of the region (`circuit_shm::HostRegion::family`: it sets the region's
/// manual clock on it for a manual-clock region).
#[cfg(target_os = "linux")]
fn in_region(region: &NativeRegion, config: engine::Config) -> std::result::Result<FamilyBuilder, RegionProblem> {
    region.region.family(config).map_err(|e| crate::region::region_problem(&e))
}

#[cfg(not(target_os = "linux"))]
fn in_region(_region: &NativeRegion, _config: engine::Config) -> std::result::Result<FamilyBuilder, RegionProblem> {
    unreachable!("no region opens on this platform")
}

/// Transitions drained from a family: `keys[i]` (`null` for the overflow breaker) goes with
/// `transitions[4 i .. 4 i + 4]`, laid out as `NativeBreaker.drain()` lays them out.
#[napi(object)]
pub struct FamilyBatch {
    pub keys: Vec<Option<String>>,
    pub transitions: Vec<f64>,
}

/// The family's metrics view: `members[i]` (one number per field of `schema().metrics`, as
/// `NativeBreaker.metrics()` gives them) is the snapshot of the member `keys[i]`.
#[napi(object)]
pub struct FamilyMetricsValues {
    pub keys: Vec<String>,
    pub members: Vec<Vec<f64>>,
    pub overflow: Vec<f64>,
    pub evicted: f64,
    pub overflowed: f64,
}

/// A member as `inspect` reads it: its name, its state and whether it is the overflow breaker.
#[napi(object)]
pub struct MemberInfo {
    pub name: Option<String>,
    pub state: String,
    pub overflow: bool,
}

/// A rejection of the call-scoped `allow`, with the breaker that refused (a member's name, or the
/// overflow breaker's).
#[napi(object)]
pub struct MemberRejection {
    pub name: Option<String>,
    pub overflow: bool,
    pub rejection: NativeRejection,
}

#[napi]
impl NativeFamily {
    /// The call-scoped use of `key`: asks the member for `key` (created on first use, or the
    /// overflow breaker) to admit a call, holding no handle on it. An admitted call's permit pins
    /// the member until it is recorded (see `member_permit.rs`).
    #[napi(catch_unwind)]
    pub fn allow(&self, key: String) -> Result<Either<NativeMemberPermit, MemberRejection>> {
        let breaker = self.family.get(&key);
        let overflow = Arc::ptr_eq(&breaker, self.family.overflow());
        if let Some(fleets) = &self.fleets {
            return allow_with_fleet(fleets, breaker, overflow);
        }
        match breaker.allow_owned() {
            Ok(permit) => Ok(Either::A(NativeMemberPermit::new(permit, overflow))),
            Err(r) => Ok(Either::B(MemberRejection {
                name: r.name().map(str::to_owned),
                overflow,
                rejection: NativeRejection {
                    state: r.state().as_str().to_owned(),
                    reason: r.reason().as_str().to_owned(),
                    retry_after: r.retry_after().map(ms),
                    fleet: false,
                },
            })),
        }
    }

    /// The member for `key` as `get` finds it (created on first use, or the overflow breaker):
    /// its name and current state, holding no handle on it.
    #[napi(catch_unwind)]
    pub fn inspect(&self, key: String) -> MemberInfo {
        let breaker = self.family.get(&key);
        MemberInfo {
            name: breaker.name().map(str::to_owned),
            state: breaker.state().as_str().to_owned(),
            overflow: Arc::ptr_eq(&breaker, self.family.overflow()),
        }
    }

    /// The member for `key` (created on first use), as a new `NativeBreaker` holding it, or `null`
    /// when the family answered with its overflow breaker (see `overflow`).
    #[napi(catch_unwind)]
    pub fn get(&self, key: String) -> Result<Option<NativeBreaker>> {
        let breaker = self.family.get(&key);
        if Arc::ptr_eq(&breaker, self.family.overflow()) {
            return Ok(None);
        }
        self.adopt(breaker).map(Some)
    }

    /// The same use of `key` as `get` (it refreshes the member's last use and may evict idle
    /// ones), without a new handle, for a key whose member JavaScript already holds; `false` if
    /// the answer was the overflow breaker.
    #[napi(catch_unwind)]
    pub fn touch(&self, key: String) -> bool {
        let breaker = self.family.get(&key);
        !Arc::ptr_eq(&breaker, self.family.overflow())
    }

    /// A handle on the overflow breaker.
    #[napi(catch_unwind)]
    pub fn overflow(&self) -> Result<NativeBreaker> {
        self.adopt(Arc::clone(self.family.overflow()))
    }

    /// How many members the family holds (not counting the overflow breaker).
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.family.len()).unwrap_or(u32::MAX)
    }

    /// Whether `key` has a member now (creates nothing, counts as no use).
    #[napi(catch_unwind)]
    pub fn has(&self, key: String) -> bool {
        self.family.contains(&key)
    }

    /// The members' keys, in no particular order.
    #[napi(catch_unwind)]
    pub fn keys(&self) -> Vec<String> {
        self.family.keys().iter().map(|k| k.to_string()).collect()
    }

    /// Every member's metrics, the overflow breaker's, and the family's counts.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Result<FamilyMetricsValues> {
        let view = self.family.metrics();
        let mut keys = Vec::with_capacity(view.members.len());
        let mut members = Vec::with_capacity(view.members.len());
        for (key, metrics) in view.members {
            keys.push(key.to_string());
            members.push(metrics_values(metrics)?);
        }
        Ok(FamilyMetricsValues {
            keys,
            members,
            overflow: metrics_values(view.overflow)?,
            evicted: view.evicted as f64,
            overflowed: view.overflowed as f64,
        })
    }

    /// One snapshot's samples of the metric set for every member (by key) and the overflow
    /// breaker (key `(overflow)`), labelled with the family's name (`exposition.rs`).
    #[napi(catch_unwind)]
    pub fn points(&self) -> Vec<crate::exposition::MetricPoint> {
        crate::exposition::family_points(&self.family)
    }

    /// The queued transitions with their keys, oldest first, or `null` when none is queued.
    #[napi(catch_unwind)]
    pub fn drain(&self) -> Option<FamilyBatch> {
        if !self.queue.pending.swap(false, Ordering::AcqRel) {
            return None;
        }
        let taken = std::mem::take(&mut *self.queue.events.lock().unwrap_or_else(PoisonError::into_inner));
        let mut keys = Vec::with_capacity(taken.len());
        let mut transitions = Vec::with_capacity(taken.len() * crate::protocol::TRANSITION_FIELDS);
        for (key, t) in taken {
            keys.push(key);
            transitions.extend([
                f64::from(t.from.code()),
                f64::from(t.to.code()),
                f64::from(t.reason.code()),
                ms(t.at),
                f64::from(u8::from(t.remote)),
                t.generation as f64,
            ]);
        }
        Some(FamilyBatch { keys, transitions })
    }
}
