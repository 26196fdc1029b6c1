'use strict';
// The numeric wire protocol between this package's JavaScript and its native addon: how the
// fast-path functions (`fastAllow`, `fastRecord`, ...) pack permits, outcomes, states and flags
// into numbers. This is its one definition on the JavaScript side; `src/protocol.rs` is the Rust
// side (read it for the layout of each call), and `__test__/protocol.test.js` checks that the
// addon's `protocol()` has exactly these values. Literals, so that the hot paths compile to
// constants.

module.exports = Object.freeze({
  /** The events bit of every fast-path result: transitions are queued, drain them. */
  EVENTS: 1,
  /** The bit of a record result that says the outcome counted (it was not stale). */
  COUNTED: 2,
  /** A record result: the permit was already recorded (nothing changed). */
  ALREADY_RECORDED: -2,
  /** An admission result: rejected (minus the events bit); `takeRejection()` has the details. */
  REJECTED: -1,
  /** An ordinary permit is the number `generation * PERMIT_SCALE + events`. */
  PERMIT_SCALE: 2,
  /** The largest ordinary permit that is an int32 (the hot path of `execute` takes only those). */
  SMALL_PERMIT_MAX: 0x7fffffff,
  /** An admission result: admitted, the permit's parts are in the frame from `FRAME_ARGS` on. */
  PERMIT_PARTS: -4,
  /** The call frame (`frameView()`): the slot of the breaker id, the first argument's, the
   * result's, and the number of slots. */
  FRAME_BREAKER: 0,
  FRAME_ARGS: 1,
  FRAME_RESULT: 8,
  FRAME_SLOTS: 10,
  /** Generations below this come as a number for an ordinary permit, as parts from this on. */
  PACKED_GENERATIONS: 2 ** 52,
  /** The indexes of a permit in array form, `[generation, admittedHigh, admittedLow, ticket,
   * events, fleetEpoch, fleetId]` (the last two: the fleet probe lease of a breaker with a
   * fleet, `NO_FLEET_PROBE` for none). */
  PART_GENERATION: 0,
  PART_ADMITTED_HIGH: 1,
  PART_ADMITTED_LOW: 2,
  PART_TICKET: 3,
  PART_EVENTS: 4,
  PART_FLEET_EPOCH: 5,
  PART_FLEET_ID: 6,
  /** The number of elements of a permit in array form. */
  PARTS: 7,
  /** The fleet parts of a permit that holds no fleet probe lease. */
  NO_FLEET_PROBE: -1,
  /** The ticket of a permit that is not a half-open probe (the core's `RawPermit::NO_TICKET`). */
  NO_TICKET: 0xffffffff,
  /** Each half of the admission instant (ns) of a permit admitted without reading the clock. */
  NO_TIME_HALF: 0xffffffff,
  /** A record token is `generation * OUTCOME_SCALE + outcome code`. */
  OUTCOME_SCALE: 4,
  /** A state result is `state code * STATE_SCALE + events`. */
  STATE_SCALE: 2,
  /** The trivial-generation cell (`trivialView`) when no generation's successes are trivial. */
  NO_TRIVIAL_GENERATION: -1,
  /** Cells per page of trivial-generation cells: breaker `id`'s is number `id % TRIVIAL_PAGE_CELLS`
   * of `trivialView(id)`. */
  TRIVIAL_PAGE_CELLS: 1024,
  /** Generations the trivial-generation cell publishes: those a JS number holds exactly. */
  EXACT_GENERATIONS: 2 ** 53,
  /** The most successes one `fastSettle` call hands over. */
  MAX_SETTLE: 0xffffffff,
  /** Numbers per transition in `drain()`: from, to, reason (codes), the instant in ms, 1 if
   * another process made it (a breaker in a host region) else 0, and the generation the
   * transition started. */
  TRANSITION_FIELDS: 6,
  /** An absent optional duration in the metrics snapshot. */
  NO_DURATION: -1,
  /** Nanoseconds (the core's unit, and that of a permit's admission instant) per millisecond. */
  NANOS_PER_MS: 1e6,
});
