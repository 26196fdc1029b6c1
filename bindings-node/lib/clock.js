'use strict';
// `ManualClock`: a clock that moves only when told to, for tests and simulations; one can drive
// many breakers (the native `NativeClock` in src/clock.rs holds the time line).

const native = require('../binding.js');
const { argumentError } = require('./errors.js');

/** The native clock of a `ManualClock`, for `createBreaker`. */
let clockNative;

/** A clock that moves only when told to, starting at 0 ms; share one between many breakers. */
class ManualClock {
  #native = new native.NativeClock();

  /** Moves the clock forward by `ms` milliseconds and returns the new instant. */
  advance(ms) {
    if (typeof ms !== 'number') throw argumentError('ms', 'a number', ms);
    if (!(ms >= 0 && ms !== Infinity)) {
      const err = new RangeError(`\`ms\` must be a finite number >= 0, got ${ms}`);
      err.code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
    return this.#native.advance(ms);
  }

  /** The current instant, in milliseconds. */
  now() {
    return this.#native.now();
  }

  static {
    clockNative = (clock) => clock.#native;
  }
}

module.exports = { ManualClock, clockNative };
