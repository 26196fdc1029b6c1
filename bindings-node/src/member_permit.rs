//! `NativeMemberPermit`, a permit of a family member issued by the call-scoped family API
//! (`NativeFamily.allow`, `family.allow(key)` in `lib/family.js`). It owns the core's
//! `OwnedPermit`, whose `Arc` of the member pins it (the core never evicts a breaker referenced
//! outside the family) only until the permit is recorded: recording takes the permit out and drops
//! it, so nothing pins the member afterwards even while the JavaScript object lives on. A permit
//! garbage-collected unrecorded is dropped by the core as `ignored` (which frees a probe's slot).

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use engine::fleet::FleetPermit;
use engine::{CircuitBreaker, Outcome, OwnedPermit, PermitError, Recorded};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::fleet::ClockedFleet;
use crate::protocol::{ALREADY_RECORDED, COUNTED, NANOS_PER_MS};

/// An admitted call on a family member (or on the overflow breaker), recorded once.
#[napi]
pub struct NativeMemberPermit {
    permit: Cell<Option<Held>>,
    generation: f64,
    probe: bool,
    overflow: bool,
}

/// What a permit holds until it is recorded: the member's own permit, or (in a family with a
/// fleet set) the member, its fleet and the two-level permit.
enum Held {
    Local(OwnedPermit),
    Fleet(FleetHeld),
}

/// A two-level permit of a member; dropped unrecorded, it is recorded as ignored on both levels.
struct FleetHeld {
    breaker: Arc<CircuitBreaker>,
    fleet: Arc<ClockedFleet>,
    permit: Option<FleetPermit>,
}

impl FleetHeld {
    fn record(
        &mut self,
        outcome: Outcome,
        retry_after: Option<Duration>,
    ) -> std::result::Result<Recorded, PermitError> {
        let Some(permit) = self.permit.take() else { return Err(PermitError::AlreadyRecorded) };
        match retry_after {
            Some(after) => self.fleet.record_call_retry_after(&self.breaker, permit, after),
            None => self.fleet.record_call(&self.breaker, permit, outcome),
        }
    }
}

impl Drop for FleetHeld {
    fn drop(&mut self) {
        let _ = self.record(Outcome::Ignored, None);
    }
}

impl NativeMemberPermit {
    pub(crate) fn new(permit: OwnedPermit, overflow: bool) -> Self {
        let raw = permit.raw();
        Self {
            generation: raw.generation() as f64,
            probe: raw.is_probe(),
            overflow,
            permit: Cell::new(Some(Held::Local(permit))),
        }
    }

    /// A permit admitted by both levels (`Fleet::allow_call`) on `breaker` and `fleet`.
    pub(crate) fn with_fleet(
        breaker: Arc<CircuitBreaker>,
        fleet: Arc<ClockedFleet>,
        permit: FleetPermit,
        overflow: bool,
    ) -> Self {
        Self {
            generation: permit.local().generation() as f64,
            probe: permit.local().is_probe(),
            overflow,
            permit: Cell::new(Some(Held::Fleet(FleetHeld { breaker, fleet, permit: Some(permit) }))),
        }
    }
}

#[napi]
impl NativeMemberPermit {
    /// The breaker generation the permit was admitted in.
    #[napi(getter, catch_unwind)]
    pub fn generation(&self) -> f64 {
        self.generation
    }

    /// Whether the permit is a half-open probe.
    #[napi(getter, catch_unwind)]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Whether the family answered with its overflow breaker.
    #[napi(getter, catch_unwind)]
    pub fn overflow(&self) -> bool {
        self.overflow
    }

    /// Records `outcome` (the core's code) or, with `retry_after_ms` (> 0, checked by
    /// `lib/family.js`), a failure with that retry time, and releases the member. Gives `COUNTED`,
    /// 0 (stale) or `ALREADY_RECORDED`; the family's queue says whether a transition followed.
    #[napi(catch_unwind)]
    pub fn record(&self, outcome: u32, retry_after_ms: Option<f64>) -> Result<i32> {
        let outcome = u8::try_from(outcome)
            .ok()
            .and_then(Outcome::from_code)
            .ok_or_else(|| Error::new(Status::InvalidArg, "circuit: unknown outcome"))?;
        let Some(permit) = self.permit.take() else {
            return Ok(ALREADY_RECORDED);
        };
        let retry_after = match retry_after_ms {
            Some(after) if outcome == Outcome::Failure && after > 0.0 => {
                Some(Duration::from_nanos((after * NANOS_PER_MS).round().min(u64::MAX as f64) as u64))
            }
            _ => None,
        };
        let recorded = match permit {
            Held::Local(permit) => match retry_after {
                Some(after) => permit.record_failure_retry_after(after),
                None => permit.record(outcome),
            },
            Held::Fleet(mut held) => held.record(outcome, retry_after),
        };
        Ok(match recorded {
            Ok(Recorded::Counted) => COUNTED,
            Ok(Recorded::Stale) => 0,
            Err(_) => ALREADY_RECORDED,
        })
    }

    /// Whether an outcome was recorded with this permit.
    #[napi(getter, catch_unwind)]
    pub fn recorded(&self) -> bool {
        let permit = self.permit.take();
        let recorded = permit.is_none();
        self.permit.set(permit);
        recorded
    }
}
