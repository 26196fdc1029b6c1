//! `NativeMemberPermit`, a permit of a family member issued by the call-scoped family API
//! (`NativeFamily.allow`, `family.allow(key)` in `lib/family.js`). It owns the core's
//! `OwnedPermit`, whose `Arc` of the member pins it (the core never evicts a breaker referenced
//! outside the family) only until the permit is recorded: recording takes the permit out and drops
//! it, so nothing pins the member afterwards even while the JavaScript object lives on. A permit
//! garbage-collected unrecorded is dropped by the core as `ignored` (which frees a probe's slot).

use std::cell::Cell;
use std::time::Duration;

use engine::{Outcome, OwnedPermit, Recorded};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::protocol::{ALREADY_RECORDED, COUNTED, NANOS_PER_MS};

/// An admitted call on a family member (or on the overflow breaker), recorded once.
#[napi]
pub struct NativeMemberPermit {
    permit: Cell<Option<OwnedPermit>>,
    generation: f64,
    probe: bool,
    overflow: bool,
}

impl NativeMemberPermit {
    pub(crate) fn new(permit: OwnedPermit, overflow: bool) -> Self {
        let raw = permit.raw();
        Self { generation: raw.generation() as f64, probe: raw.is_probe(), overflow, permit: Cell::new(Some(permit)) }
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
        let recorded = match retry_after_ms {
            Some(after) if outcome == Outcome::Failure && after > 0.0 => {
                let nanos = (after * NANOS_PER_MS).round().min(u64::MAX as f64) as u64;
                permit.record_failure_retry_after(Duration::from_nanos(nanos))
            }
            _ => permit.record(outcome),
        };
        drop(permit);
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
