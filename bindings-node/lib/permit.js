'use strict';
// `Permit`, an admitted call of the two-step API (`allow()` then one `record*`). A permit carries
// the engine's raw permit as the fast path returned it (see lib/protocol.js): the generation
// alone for an ordinary permit, the parts for a probe or a time-stamped one. The spent flag
// lives here; a probe permit collected unrecorded is recorded as ignored, which frees its slot.

const { NO_TICKET, NO_TIME_HALF, NO_FLEET_PROBE, PART_ADMITTED_HIGH, PART_ADMITTED_LOW, PART_TICKET, PART_FLEET_EPOCH, NANOS_PER_MS } = require('./protocol.js');
const { PermitError, argumentError } = require('./errors.js');

/** The key of the breaker method that issues permits and records dropped probes. */
const ISSUE = Symbol('circuit.issuePermit');
/** Marks a permit recorded (throwing if it cannot be) and returns it. */
let spendPermit;
/** A permit's generation and raw parts (`undefined` for an ordinary permit). */
let permitGeneration;
let permitParts;
/** Probe permits collected unrecorded are recorded as ignored, which frees their probe slot. */
const droppedProbes = new FinalizationRegistry((dropped) => dropped.breaker[ISSUE](dropped));

/** A local half-open probe, or the fleet's probe (a lease granted by the store). */
const isProbe = (parts) => parts !== undefined && (parts[PART_TICKET] !== NO_TICKET || parts[PART_FLEET_EPOCH] !== NO_FLEET_PROBE);

/** An admitted call of the two-step API. Record it exactly once with the breaker's `record*` methods. */
class Permit {
  #breaker;
  #generation;
  /** The engine's permit in array form, or `undefined` for an ordinary permit (no admission
   * time, no probe ticket). */
  #parts;
  #recorded = false;

  constructor(token, breaker, generation, parts) {
    if (token !== ISSUE) throw new TypeError('Permit objects are issued by CircuitBreaker#allow()');
    this.#breaker = breaker;
    this.#generation = generation;
    this.#parts = parts;
    if (isProbe(parts)) droppedProbes.register(this, { breaker, generation, parts }, this);
  }

  /** The breaker generation the permit was admitted in. */
  get generation() {
    return this.#generation;
  }

  /** Whether this permit is a half-open probe. */
  get isProbe() {
    return isProbe(this.#parts);
  }

  /** Whether this permit holds the fleet's probe lease (granted by the store; `isProbe` is true too). */
  get isFleetProbe() {
    const parts = this.#parts;
    return parts !== undefined && parts[PART_FLEET_EPOCH] !== NO_FLEET_PROBE;
  }

  /** Admission instant on the breaker's clock (ms), or `undefined` when the clock was not read. */
  get admittedAt() {
    const parts = this.#parts;
    if (parts === undefined) return undefined;
    const high = parts[PART_ADMITTED_HIGH];
    const low = parts[PART_ADMITTED_LOW];
    if (high === NO_TIME_HALF && low === NO_TIME_HALF) return undefined;
    return (high * 2 ** 32 + low) / NANOS_PER_MS;
  }

  /** Whether an outcome was recorded with this permit. */
  get recorded() {
    return this.#recorded;
  }

  static {
    spendPermit = (permit, breaker) => {
      if (typeof permit !== 'object' || permit === null || !(#breaker in permit)) {
        throw argumentError('permit', 'a Permit from allow()', permit);
      }
      if (permit.#breaker !== breaker) {
        throw new PermitError('EFOREIGNPERMIT', 'permit was issued by a different circuit breaker');
      }
      if (permit.#recorded) {
        throw new PermitError('EALREADYRECORDED', 'permit already recorded: each permit takes exactly one outcome');
      }
      permit.#recorded = true;
      if (isProbe(permit.#parts)) droppedProbes.unregister(permit);
      return permit;
    };
    permitGeneration = (permit) => permit.#generation;
    permitParts = (permit) => permit.#parts;
  }
}

module.exports = { Permit, ISSUE, spendPermit, permitGeneration, permitParts };
