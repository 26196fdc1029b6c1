//! `NativeBreaker`, the owner of one engine breaker (`lib/breaker.js` holds it as `#handle`):
//! creation from the options, and everything off the hot path (rejection details, draining
//! transitions, metrics, manual control). The hot path is in `fast_path.rs`.

use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use engine::fleet::Refused;
use engine::{CircuitBreaker, METRICS, Metrics, RawPermit, Recorded};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::clock::{NativeClock, ms};
use crate::exposition::{MetricPoint, push_points};
use crate::fleet::NativeFleet;
use crate::options::{ConfigProblem, build_config};
use crate::protocol::{ALREADY_RECORDED, COUNTED, NANOS_PER_MS, NO_DURATION, NO_TRIVIAL_GENERATION, TRANSITION_FIELDS};
use crate::region::{NativeRegion, RegionProblem};
use crate::registry::{Entry, LOCAL, Queue, with_entry};
use crate::state::StateProblem;

/// The owner of a breaker id; when the JS object is collected, the breaker is freed.
#[napi]
pub struct NativeBreaker {
    id: u32,
}

impl Drop for NativeBreaker {
    fn drop(&mut self) {
        // A thread-local is gone only at thread exit, when there is nothing left to free.
        let _ = LOCAL.try_with(|local| local.remove(self.id));
    }
}

/// Creates a breaker from the engine options (camelCase keys, as `schema().options` names them;
/// `lib/options.js` has checked their types), or says which option is invalid (nothing is created
/// then). With `state` (a state document, see `state.rs`), the new breaker imports it at the
/// wall-clock instant `state_at` (ms since the epoch) before anything can use it; a refused
/// document is the `StateProblem` and nothing is created either.
///
/// With `region` (`region.rs`), the breaker is the region's breaker of its name, shared with every
/// process that opens the same region (it needs a name, and neither a clock nor a state: the
/// region's are used); a refusal (options mismatch, full region, no name, ...) is the
/// `RegionProblem` and nothing is created.
///
/// With `fleet` (`fleet.rs`), every call also goes through that fleet breaker: admitted by
/// `Fleet::allow_call`, recorded by `Fleet::record_call` (the breaker needs a name, which
/// `lib/options.js` checks).
#[napi(
    catch_unwind,
    ts_args_type = "options: Record<string, string | number | undefined>, clock?: NativeClock | undefined | null, state?: string | undefined | null, stateAt?: number | undefined | null, region?: NativeRegion | undefined | null, fleet?: NativeFleet | undefined | null"
)]
pub fn create_breaker(
    options: Object,
    clock: Option<&NativeClock>,
    state: Option<String>,
    state_at: Option<f64>,
    region: Option<&NativeRegion>,
    fleet: Option<&NativeFleet>,
) -> Result<Either4<NativeBreaker, ConfigProblem, StateProblem, RegionProblem>> {
    let config = match build_config(&options)? {
        Ok(config) => config,
        Err(problem) => return Ok(Either4::B(problem)),
    };
    if region.is_some() && (clock.is_some() || state.is_some()) {
        // lib/options.js refuses these combinations, naming the options.
        return Err(Error::new(Status::InvalidArg, "circuit: a breaker in a region takes neither a clock nor a state"));
    }
    let breaker = Arc::new(match (clock, region) {
        (_, Some(region)) => match in_region(region, config) {
            Ok(breaker) => breaker,
            Err(problem) => return Ok(Either4::D(problem)),
        },
        (Some(clock), None) => CircuitBreaker::with_clock(config, clock.clock.clone()),
        (None, None) => CircuitBreaker::new(config),
    });
    if let Some(document) = state {
        let at = state_at.ok_or_else(|| Error::new(Status::InvalidArg, "circuit: a state needs its stateAt"))?;
        if let Some(problem) = crate::state::import(&breaker, &document, at)? {
            return Ok(Either4::C(problem));
        }
    }
    if let Some(fleet) = fleet {
        // The fleet's deltas come from this breaker's own counters (Fleet::attach); a second
        // breaker on the same fleet keeps the fleet's tally. Family members keep it too: a fleet
        // holding one would pin it in its family.
        let _ = fleet.inner.attach(&breaker);
    }
    Ok(Either4::A(NativeBreaker::adopt_with_fleet(breaker, fleet.map(|f| Arc::clone(&f.inner)))))
}

/// The region's breaker named by `config`.
#[cfg(target_os = "linux")]
fn in_region(region: &NativeRegion, config: engine::Config) -> std::result::Result<CircuitBreaker, RegionProblem> {
    region.region.breaker(config).map_err(|e| crate::region::region_problem(&e))
}

#[cfg(not(target_os = "linux"))]
fn in_region(_region: &NativeRegion, _config: engine::Config) -> std::result::Result<CircuitBreaker, RegionProblem> {
    unreachable!("no region opens on this platform")
}

/// `breaker.processCounts()`: this breaker object's own counts (for a breaker in a region, what
/// this process did; its `metrics()` are region-wide).
#[napi(object)]
pub struct NativeProcessCounts {
    pub admitted: f64,
    pub rejected_open: f64,
    pub successes: f64,
    pub failures: f64,
    pub ignored: f64,
    pub slow: f64,
    pub stale: f64,
}

/// A rejection, for `CircuitOpenError`.
#[napi(object)]
pub struct NativeRejection {
    pub state: String,
    pub reason: String,
    pub retry_after: Option<f64>,
    /// Whether the fleet breaker refused (the local breaker admitted; `fleet.rs`).
    pub fleet: bool,
}

impl NativeRejection {
    /// The rejection of a refusal, the local breaker's or the fleet's.
    pub(crate) fn of(refused: &Refused) -> Self {
        match refused {
            Refused::Local(r) => Self {
                state: r.state().as_str().to_owned(),
                reason: r.reason().as_str().to_owned(),
                retry_after: r.retry_after().map(ms),
                fleet: false,
            },
            Refused::Fleet { .. } => {
                let (state, reason, retry_after) =
                    crate::fleet::refusal_parts(refused).unwrap_or(("open", "open", None));
                Self { state: state.to_owned(), reason: reason.to_owned(), retry_after, fleet: true }
            }
        }
    }
}

impl NativeBreaker {
    /// Registers `breaker` in this thread's registry, with the core listener that queues its
    /// transitions; the entry (and its hold on `breaker`) lives as long as the returned object.
    /// The calls also go through `fleet` if given.
    pub(crate) fn adopt_with_fleet(
        breaker: Arc<CircuitBreaker>,
        fleet: Option<Arc<crate::fleet::ClockedFleet>>,
    ) -> Self {
        let queue = Arc::new(Queue::default());
        let id = LOCAL.with(|local| {
            local.insert(|trivial| {
                let (sink, cleared) = (Arc::clone(&queue), trivial.clone());
                // A transition ends the trivial generation (see `trivial.rs`).
                let listener = breaker.on_transition(move |t| {
                    cleared.set(NO_TRIVIAL_GENERATION);
                    sink.push(t);
                });
                Entry { breaker, queue, trivial, rejection: None, fleet, listener }
            })
        });
        Self { id }
    }
}

#[napi]
impl NativeBreaker {
    /// The id the fast-path functions take.
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The last rejection of `allow`.
    #[napi(catch_unwind)]
    pub fn take_rejection(&self) -> Result<Option<NativeRejection>> {
        with_entry(self.id, |e| e.rejection.take().map(|r| NativeRejection::of(&r)))
    }

    /// The queued transitions, flattened as `[from, to, reason, at_ms, remote, generation, ...]`
    /// (codes; `remote` is 1 for a transition another process made; `generation` the one the
    /// transition started), oldest first; empty when none is queued.
    #[napi(catch_unwind)]
    pub fn drain(&self) -> Result<Vec<f64>> {
        let queue = with_entry(self.id, |e| Arc::clone(&e.queue))?;
        if !queue.pending.swap(false, Ordering::AcqRel) {
            return Ok(Vec::new());
        }
        let taken = std::mem::take(&mut *queue.transitions.lock().unwrap_or_else(PoisonError::into_inner));
        let mut out = Vec::with_capacity(taken.len() * TRANSITION_FIELDS);
        for t in taken {
            out.extend([
                f64::from(t.from.code()),
                f64::from(t.to.code()),
                f64::from(t.reason.code()),
                ms(t.at),
                f64::from(u8::from(t.remote)),
                t.generation as f64,
            ]);
        }
        Ok(out)
    }

    /// The metrics snapshot: one number per field of `schema().metrics`, in that order (the state
    /// as its code, durations in ms, `NO_DURATION` (-1) for an absent `retry_after`), then four
    /// per lifetime transition count: from and to state codes, reason code, count.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Result<Vec<f64>> {
        metrics_values(with_entry(self.id, |e| e.breaker.metrics())?)
    }

    /// One snapshot's samples of the metric set (`exposition.rs`), labelled with the breaker's
    /// name (empty if it has none).
    #[napi(catch_unwind)]
    pub fn points(&self) -> Result<Vec<MetricPoint>> {
        with_entry(self.id, |e| {
            let mut out = Vec::with_capacity(32);
            push_points(&mut out, e.breaker.name(), None, &e.breaker.metrics());
            out
        })
    }

    /// The state document (JSON text), exported at the wall-clock instant `at` (ms since the
    /// epoch).
    #[napi(catch_unwind)]
    pub fn export_state(&self, at: f64) -> Result<String> {
        let breaker = with_entry(self.id, |e| Arc::clone(&e.breaker))?;
        crate::state::export(&breaker, at)
    }

    /// Imports a state document at the wall-clock instant `at`: `null` when taken, else why it
    /// was refused (nothing changed then; only a breaker not used yet imports).
    #[napi(catch_unwind)]
    pub fn import_state(&self, document: String, at: f64) -> Result<Option<StateProblem>> {
        let breaker = with_entry(self.id, |e| Arc::clone(&e.breaker))?;
        crate::state::import(&breaker, &document, at)
    }

    /// When the next time-driven transition is due (ms on the breaker's clock), or `null`.
    #[napi(catch_unwind)]
    pub fn next_transition_at(&self) -> Result<Option<f64>> {
        with_entry(self.id, |e| e.breaker.next_transition_at().map(ms))
    }

    /// This breaker object's own counts (`CircuitBreaker::process_counts`), or `null` when it has
    /// none of its own (a breaker in a region whose process entries were all taken).
    #[napi(catch_unwind)]
    pub fn process_counts(&self) -> Result<Option<NativeProcessCounts>> {
        with_entry(self.id, |e| {
            e.breaker.process_counts().map(|c| NativeProcessCounts {
                admitted: c.admitted as f64,
                rejected_open: c.rejected_open as f64,
                successes: c.successes as f64,
                failures: c.failures as f64,
                ignored: c.ignored as f64,
                slow: c.slow as f64,
                stale: c.stale as f64,
            })
        })
    }

    /// Whether the breaker lives in a host region.
    #[napi(getter, catch_unwind)]
    pub fn shared(&self) -> Result<bool> {
        with_entry(self.id, |e| e.breaker.is_shared())
    }

    /// The breaker's name (a family member's is `<family name>/<key>`), or `null`.
    #[napi(catch_unwind)]
    pub fn name(&self) -> Result<Option<String>> {
        with_entry(self.id, |e| e.breaker.name().map(str::to_owned))
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

    /// Records a failure that came with the dependency's retry time (`retry_after_ms`, a finite
    /// number >= 0 that `lib/breaker.js` has checked) for the permit with these parts (as
    /// `fastRecordParts` takes them; see the core's `record_raw_retry_after`). Gives what
    /// `fastRecordParts` gives: `counted * COUNTED + events`, or `ALREADY_RECORDED`. Off the hot
    /// path: only `recordFailure(permit, { retryAfter })` calls it. For a breaker with a fleet,
    /// `fleet_epoch` and `fleet_id` are the permit's fleet parts (`Fleet::record_call_retry_after`).
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn record_failure_retry_after(
        &self,
        generation: f64,
        admitted_high: u32,
        admitted_low: u32,
        ticket: u32,
        retry_after_ms: f64,
        fleet_epoch: Option<f64>,
        fleet_id: Option<f64>,
    ) -> Result<i32> {
        if !((0.0..9_007_199_254_740_992.0).contains(&generation) && generation.fract() == 0.0) {
            return Err(Error::new(Status::InvalidArg, "circuit: expected a whole generation"));
        }
        if retry_after_ms.is_nan() || retry_after_ms < 0.0 {
            return Err(Error::new(Status::InvalidArg, "circuit: retryAfter must be a number >= 0"));
        }
        // Saturating: anything beyond u64 nanoseconds is capped by `maxResetTimeout` anyway.
        let retry_after = Duration::from_nanos((retry_after_ms * NANOS_PER_MS).round().min(u64::MAX as f64) as u64);
        let admitted_at = (u64::from(admitted_high) << 32) | u64::from(admitted_low);
        let permit = RawPermit::from_parts(generation as u64, admitted_at, ticket);
        let no = crate::protocol::NO_FLEET_PROBE;
        let probe = crate::fleet::probe_of(fleet_epoch.unwrap_or(no), fleet_id.unwrap_or(no))
            .map_err(|m| Error::new(Status::InvalidArg, m.to_string_lossy().into_owned()))?;
        with_entry(self.id, |e| {
            let recorded = match &e.fleet {
                Some(fleet) => fleet.record_call_retry_after(
                    &e.breaker,
                    fleet.permit_from_parts(&e.breaker, permit, probe),
                    retry_after,
                ),
                None => e.breaker.record_raw_retry_after(permit, retry_after),
            };
            match recorded {
                Ok(Recorded::Counted) => COUNTED | e.queue.pending_bit(),
                Ok(Recorded::Stale) => e.queue.pending_bit(),
                Err(_) => ALREADY_RECORDED,
            }
        })
    }

    /// Whether the breaker's calls also go through a fleet breaker.
    #[napi(getter, catch_unwind)]
    pub fn has_fleet(&self) -> Result<bool> {
        with_entry(self.id, |e| e.fleet.is_some())
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

/// A metrics snapshot as one number per field of `schema().metrics`, in that order: the state as
/// its code, durations in milliseconds, `NO_DURATION` (-1) for an absent `retry_after`; then the
/// non-zero lifetime transition counts (`transitions`, not a scalar field), four numbers each:
/// `from` and `to` state codes, the reason code and the count.
pub(crate) fn metrics_values(metrics: Metrics) -> Result<Vec<f64>> {
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
        rejected_open,
        rejected_half_open_full,
        rejected_forced_open,
        successes,
        failures,
        ignored,
        slow,
        stale,
        opened,
        time_in_state,
        retry_after,
        transitions,
    } = metrics;
    let scalars = METRICS
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
                "rejected_open" => rejected_open as f64,
                "rejected_half_open_full" => rejected_half_open_full as f64,
                "rejected_forced_open" => rejected_forced_open as f64,
                "successes" => successes as f64,
                "failures" => failures as f64,
                "ignored" => ignored as f64,
                "slow" => slow as f64,
                "stale" => stale as f64,
                "opened" => opened as f64,
                "time_in_state" => ms(time_in_state),
                "retry_after" => retry_after.map_or(NO_DURATION, ms),
                other => {
                    return Err(Error::new(Status::GenericFailure, format!("circuit: unknown metrics field {other}")));
                }
            })
        })
        .collect::<Result<Vec<f64>>>()?;
    let mut values = scalars;
    for (from, to, reason, count) in transitions.iter() {
        values.extend([f64::from(from.code()), f64::from(to.code()), f64::from(reason.code()), count as f64]);
    }
    Ok(values)
}

/// Breakers of this thread not freed yet (for the memory test). Only in a test build (cargo
/// feature `test-hooks`, which test.sh builds for the test run); not exported by `binding.js`.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn live_breakers() -> u32 {
    LOCAL.with(|local| local.live() as u32)
}
