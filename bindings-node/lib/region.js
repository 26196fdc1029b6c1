'use strict';
// `HostRegion`: a file (typically under /dev/shm) that every process on the host maps; breakers
// created with `{ name, region }` and the same name are one breaker across those processes
// (docs/node.md, "Host-shared breakers"; docs/shared.md). The region, its validation and the shared
// state machine are the engine's (`circuit_shm::HostRegion`, src/region.rs); this file checks the
// arguments and turns the engine's refusals into `RegionError`s (`code: 'ECIRCUITREGION'`).

const native = require('../binding.js');
const { RegionError, typeError, rangeError, argumentError } = require('./errors.js');

const MAX_CAPACITY = 65536;

/** The native region of a `HostRegion`, for `createBreaker`. */
let regionNative;

/** The `RegionError` of a native `RegionProblem`, for the region at `path`. */
function regionError(problem, path) {
  const options = problem.options == null ? undefined : problem.options.map((o) => o.replace(/_([a-z])/g, (_, c) => c.toUpperCase()));
  return new RegionError(problem.kind, problem.message, path, options);
}

/**
 * A host region, opened (or created, mode 0600) at `path` with `capacity` breaker records (fixed
 * when the file is created; opening an existing region with another capacity is refused) and the
 * host's monotonic clock, or a manual clock with `manualClock: true` (tests: `advance(ms)` moves
 * it for every process). Linux only. Every process opens it by path; nothing is closed: a breaker
 * created in it keeps the mapping for the rest of the process.
 */
class HostRegion {
  #native;
  #path;

  constructor(path, options) {
    if (typeof path !== 'string') throw argumentError('path', 'a string', path);
    if (path.length === 0 || path.includes('\0')) {
      const err = new TypeError('`path` must be a non-empty file path without NUL characters');
      err.code = 'ERR_INVALID_ARG_VALUE';
      throw err;
    }
    if (options === undefined) options = {};
    if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
    const { capacity = 64, manualClock = false, ...rest } = options;
    for (const key of Object.keys(rest)) {
      const err = new TypeError(`unknown option \`${key}\` of HostRegion (its options are \`capacity\` and \`manualClock\`)`);
      err.code = 'ERR_INVALID_ARG_VALUE';
      err.option = key;
      throw err;
    }
    if (typeof capacity !== 'number') throw typeError('capacity', 'a number', capacity);
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= MAX_CAPACITY)) {
      throw rangeError('capacity', `must be a whole number in [1, ${MAX_CAPACITY}], got ${capacity}`);
    }
    if (typeof manualClock !== 'boolean') throw typeError('manualClock', 'a boolean', manualClock);
    const opened = native.openRegion(path, capacity, manualClock);
    if (!(opened instanceof native.NativeRegion)) throw regionError(opened, path);
    this.#native = opened;
    this.#path = path;
  }

  /** The path the region was opened at. */
  get path() {
    return this.#path;
  }

  /** The number of breaker records (fixed at creation). */
  get capacity() {
    return this.#native.capacity;
  }

  /** Whether the region runs on a manual clock (`manualClock: true` at creation). */
  get manualClock() {
    return this.#native.manualClock;
  }

  /** Moves a manual-clock region's clock forward by `ms` (every process sees it) and returns the
   * new instant; a host-clock region throws a `RegionError` (`kind: 'clock_not_manual'`). */
  advance(ms) {
    if (typeof ms !== 'number') throw argumentError('ms', 'a number', ms);
    if (!(ms >= 0 && ms !== Infinity)) {
      const err = new RangeError(`\`ms\` must be a finite number >= 0, got ${ms}`);
      err.code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
    const answer = this.#native.advance(ms);
    if (typeof answer !== 'number') throw regionError(answer, this.#path);
    return answer;
  }

  /** The current instant of the region's clock, ms (the host's monotonic clock, or the manual one). */
  now() {
    return this.#native.now();
  }

  static {
    regionNative = (region) => region.#native;
  }
}

module.exports = { HostRegion, regionNative, regionError };
