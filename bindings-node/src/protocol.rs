//! The numeric wire protocol between `lib/*.js` and this addon: how the fast-path functions
//! (`fast_path.rs`) pack permits, outcomes, states and flags into numbers. This is its one
//! definition on the Rust side; `lib/protocol.js` is the JavaScript side, and
//! `__test__/protocol.test.js` checks that both hold the same values, which `protocol` exports.
//!
//! * **The call frame.** The fast-path functions take no JavaScript arguments and return nothing:
//!   JavaScript writes the breaker id into slot `FRAME_BREAKER` and the arguments into the slots
//!   from `FRAME_ARGS` on of the thread's `Float64Array` `frameView()` (`frame.rs`), calls the
//!   function, and reads its result from slot `FRAME_RESULT`. Below, `fastX(id, a, b)` means
//!   "with `id`, `a`, `b` in those slots".
//! * `fastAllow(id, successes)` first records `successes` (at most `MAX_SETTLE`) held-back
//!   successes of the trivial generation, as `fastSettle`, then asks to make a call. Its result
//!   is an ordinary permit (closed or disabled state, no admission time, no probe ticket) as the
//!   number `generation * PERMIT_SCALE + events` (for generations below `PACKED_GENERATIONS`),
//!   `PERMIT_PARTS` for any other permit, whose parts `[generation, admittedHigh, admittedLow,
//!   ticket, events, fleetEpoch, fleetId]` are then in the slots from `FRAME_ARGS` on (indexes `PART_*`; the
//!   admission instant in nanoseconds split in two `u32` halves, each `NO_TIME_HALF` when the
//!   clock was not read; `NO_TICKET` for a permit that is not a probe; the fleet probe lease of a
//!   breaker with a fleet, `NO_FLEET_PROBE` for none), and a rejection as
//!   `REJECTED - events`.
//! * `fastRecord(id, generation * OUTCOME_SCALE + outcome)` and `fastRecordParts(id, outcome,
//!   generation, admittedHigh, admittedLow, ticket, fleetEpoch, fleetId)` (the last two read only
//!   for a breaker with a fleet) give `counted * COUNTED + events`, or
//!   `ALREADY_RECORDED`.
//! * `fastState(id)` gives `state code * STATE_SCALE + events`.
//! * `fastSettle(id, n)` hands over `n` (at most `MAX_SETTLE`) successes of the trivial
//!   generation and gives the events bit; `trivialView(id)` returns the page of trivial-generation
//!   cells that holds breaker `id`'s, a `Float64Array` in which it is number
//!   `id % TRIVIAL_PAGE_CELLS` (`NO_TRIVIAL_GENERATION` when there is none; an empty array where
//!   external buffers are not allowed, so that no success is held back).
//! * `events` is `EVENTS` when transitions are queued (`NativeBreaker.drain()`, which returns
//!   `TRANSITION_FIELDS` numbers per transition), else 0.
//! * Durations cross in milliseconds (`NANOS_PER_MS`); an absent optional duration of the
//!   metrics snapshot is `NO_DURATION`.

use engine::RawPermit;
use napi_derive::napi;

/// The events bit of every fast-path result: transitions are queued, drain them.
pub(crate) const EVENTS: i32 = 1;
/// The bit of a record result that says the outcome counted (it was not stale).
pub(crate) const COUNTED: i32 = 2;
/// A record result: the permit was already recorded (nothing changed).
pub(crate) const ALREADY_RECORDED: i32 = -2;
/// An admission result: rejected (minus the events bit); `takeRejection()` has the details.
pub(crate) const REJECTED: i32 = -1;
/// An ordinary permit is `generation * PERMIT_SCALE + events`.
pub(crate) const PERMIT_SCALE: i32 = 2;
/// The largest ordinary permit that is an int32 (`lib/breaker.js`'s hot path takes only those).
pub(crate) const SMALL_PERMIT_MAX: i32 = i32::MAX;
/// The admission result when the permit's parts are in the frame (from `FRAME_ARGS` on).
pub(crate) const PERMIT_PARTS: i32 = -4;
/// Generations below this come as a number for an ordinary permit (exact in a double with the
/// events bit), as parts from this one on.
pub(crate) const PACKED_GENERATIONS: u64 = 1 << 52;
/// The frame slot of the breaker id, the first of the arguments and the result; the number of
/// slots.
pub(crate) const FRAME_BREAKER: usize = 0;
pub(crate) const FRAME_ARGS: usize = 1;
pub(crate) const FRAME_RESULT: usize = 8;
pub(crate) const FRAME_SLOTS: usize = 10;
/// The indexes of a permit in array form (and in the frame, from `FRAME_ARGS` on).
pub(crate) const PART_GENERATION: usize = 0;
pub(crate) const PART_ADMITTED_HIGH: usize = 1;
pub(crate) const PART_ADMITTED_LOW: usize = 2;
pub(crate) const PART_TICKET: usize = 3;
pub(crate) const PART_EVENTS: usize = 4;
/// The fleet probe lease of a breaker with a fleet (`fleet.rs`): its epoch and id, each
/// `NO_FLEET_PROBE` when the call is not the fleet's probe.
pub(crate) const PART_FLEET_EPOCH: usize = 5;
pub(crate) const PART_FLEET_ID: usize = 6;
/// The number of elements of a permit in array form.
pub(crate) const PARTS: usize = 7;
/// The fleet parts of a permit that holds no fleet probe lease.
pub(crate) const NO_FLEET_PROBE: f64 = -1.0;
const _: () = assert!(FRAME_ARGS + PARTS <= FRAME_RESULT && FRAME_RESULT < FRAME_SLOTS);
/// The ticket of a permit that is not a half-open probe.
pub(crate) const NO_TICKET: u32 = RawPermit::NO_TICKET;
/// Each half of the admission instant of a permit admitted without reading the clock.
pub(crate) const NO_TIME_HALF: u32 = (RawPermit::NO_TIME >> 32) as u32;
const _: () = assert!(RawPermit::NO_TIME == ((NO_TIME_HALF as u64) << 32 | NO_TIME_HALF as u64));
/// A record token is `generation * OUTCOME_SCALE + outcome code`.
pub(crate) const OUTCOME_SCALE: u64 = 4;
const _: () = assert!(engine::Outcome::ALL.len() as u64 <= OUTCOME_SCALE);
/// A state result is `state code * STATE_SCALE + events`.
pub(crate) const STATE_SCALE: i32 = 2;
/// The trivial-generation cell when no generation's successes are trivial.
pub(crate) const NO_TRIVIAL_GENERATION: f64 = -1.0;
/// The cells per page of trivial-generation cells: breaker `id`'s cell is number
/// `id % TRIVIAL_PAGE_CELLS` of the `Float64Array` `trivialView(id)` returns.
pub(crate) const TRIVIAL_PAGE_CELLS: usize = 1024;
/// Generations the cell publishes: those a JS number holds exactly.
pub(crate) const EXACT_GENERATIONS: u64 = 1 << 53;
/// The most successes one `fastSettle` call hands over.
pub(crate) const MAX_SETTLE: u32 = u32::MAX;
/// Numbers per transition in `drain()`: from, to, reason (codes), the instant in ms, whether
/// another process made it (1) or this one (0), and the generation the transition started.
pub(crate) const TRANSITION_FIELDS: usize = 6;
/// An absent optional duration in the metrics snapshot.
pub(crate) const NO_DURATION: f64 = -1.0;
/// Nanoseconds (the core's unit) per millisecond (the unit of every duration in Node).
pub(crate) const NANOS_PER_MS: f64 = 1e6;

/// One constant of the protocol.
#[napi(object)]
pub struct ProtocolConstant {
    /// Its name in `lib/protocol.js`.
    pub name: String,
    pub value: f64,
}

/// The protocol's constants, so that a test can check that `lib/protocol.js` agrees.
#[napi(catch_unwind)]
pub fn protocol() -> Vec<ProtocolConstant> {
    let constants: [(&str, f64); 32] = [
        ("EVENTS", f64::from(EVENTS)),
        ("COUNTED", f64::from(COUNTED)),
        ("ALREADY_RECORDED", f64::from(ALREADY_RECORDED)),
        ("REJECTED", f64::from(REJECTED)),
        ("PERMIT_SCALE", f64::from(PERMIT_SCALE)),
        ("SMALL_PERMIT_MAX", f64::from(SMALL_PERMIT_MAX)),
        ("PERMIT_PARTS", f64::from(PERMIT_PARTS)),
        ("FRAME_BREAKER", FRAME_BREAKER as f64),
        ("FRAME_ARGS", FRAME_ARGS as f64),
        ("FRAME_RESULT", FRAME_RESULT as f64),
        ("FRAME_SLOTS", FRAME_SLOTS as f64),
        ("PACKED_GENERATIONS", PACKED_GENERATIONS as f64),
        ("PART_GENERATION", PART_GENERATION as f64),
        ("PART_ADMITTED_HIGH", PART_ADMITTED_HIGH as f64),
        ("PART_ADMITTED_LOW", PART_ADMITTED_LOW as f64),
        ("PART_TICKET", PART_TICKET as f64),
        ("PART_EVENTS", PART_EVENTS as f64),
        ("PART_FLEET_EPOCH", PART_FLEET_EPOCH as f64),
        ("PART_FLEET_ID", PART_FLEET_ID as f64),
        ("PARTS", PARTS as f64),
        ("NO_FLEET_PROBE", NO_FLEET_PROBE),
        ("NO_TICKET", f64::from(NO_TICKET)),
        ("NO_TIME_HALF", f64::from(NO_TIME_HALF)),
        ("OUTCOME_SCALE", OUTCOME_SCALE as f64),
        ("STATE_SCALE", f64::from(STATE_SCALE)),
        ("NO_TRIVIAL_GENERATION", NO_TRIVIAL_GENERATION),
        ("TRIVIAL_PAGE_CELLS", TRIVIAL_PAGE_CELLS as f64),
        ("EXACT_GENERATIONS", EXACT_GENERATIONS as f64),
        ("MAX_SETTLE", f64::from(MAX_SETTLE)),
        ("TRANSITION_FIELDS", TRANSITION_FIELDS as f64),
        ("NO_DURATION", NO_DURATION),
        ("NANOS_PER_MS", NANOS_PER_MS),
    ];
    constants.iter().map(|(name, value)| ProtocolConstant { name: (*name).to_owned(), value: *value }).collect()
}
