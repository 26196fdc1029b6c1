'use strict';
// `BreakerFamily`: one `CircuitBreaker` per key (a downstream host, endpoint or tenant) sharing one
// configuration, with bounded memory. The family, its eviction and its overflow breaker are the
// engine's (`circuit::Family`, src/family.rs); this file validates the family's own options,
// wraps members in `CircuitBreaker` objects and emits the family's 'stateChange' events, drained
// from the engine's queue as `CircuitBreaker` drains its own (lib/breaker.js `#flush`).

const { EventEmitter } = require('node:events');
const native = require('../binding.js');
const { TRANSITION_FIELDS, COUNTED, ALREADY_RECORDED } = require('./protocol.js');
const { STATES, REASONS, SUCCESS, FAILURE, IGNORED } = require('./schema.js');
const { CircuitOpenError, PermitError, typeError, argumentError } = require('./errors.js');
const { FamilyPermit, ISSUE, spendFamilyPermit } = require('./family-permit.js');
const { executeInFamily } = require('./family-execute.js');
const { parseOptions, configError } = require('./options.js');
const { clockNative } = require('./clock.js');
const { regionNative, regionError } = require('./region.js');
const { adoptBreaker } = require('./breaker.js');
const { emit } = require('./events.js');
const { FLEET_SET } = require('./fleet.js');
const { toMetrics, POINTS } = require('./metrics.js');

/** Misspellings of the family's own options (`max_keys`, `idleTTL`, ...), for "did you mean". */
const FAMILY_SPELLINGS = { maxkeys: 'maxKeys', idlettl: 'idleTtl' };

/**
 * The family's own options (types only: the engine checks their ranges and applies its defaults,
 * 1024 keys and 10 minutes, when they are undefined), then the breaker options (`parseOptions`).
 */
function parseFamilyOptions(options) {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
  const { maxKeys, idleTtl, ...breakerOptions } = options;
  if (maxKeys !== undefined && typeof maxKeys !== 'number') throw typeError('maxKeys', 'a number', maxKeys);
  if (idleTtl !== undefined && typeof idleTtl !== 'number') {
    throw typeError('idleTtl', 'a number of milliseconds', idleTtl);
  }
  for (const key of Object.keys(breakerOptions)) {
    const guess = FAMILY_SPELLINGS[key.toLowerCase().replace(/_/g, '')];
    if (guess !== undefined) {
      const err = new TypeError(`unknown option \`${key}\`; did you mean \`${guess}\`?`);
      err.code = 'ERR_INVALID_ARG_VALUE';
      err.option = key;
      throw err;
    }
  }
  const breaker = parseOptions(breakerOptions);
  if (breaker.state !== undefined) {
    const err = new TypeError('option `state` is not an option of a family: restore each breaker with its own document');
    err.code = 'ERR_INVALID_ARG_VALUE';
    err.option = 'state';
    throw err;
  }
  return { maxKeys, idleTtl, breaker };
}

/**
 * A family of circuit breakers, one per key, created on the first `get` of that key and named
 * `<name>/<key>`. At most `maxKeys` members: idle ones (`idleTtl` ms without a `get`, on the
 * family's clock) and, when full, the least recently used one are evicted lazily, on `get`,
 * unless pinned (open, half-open, forced open, disabled, or held by a `CircuitBreaker` object of
 * this family that is still alive). When full with every member pinned, `get` answers with the
 * family's one shared `overflow` breaker. An `EventEmitter`: 'stateChange' carries every
 * member's transitions with their `key` (`null` for the overflow breaker).
 *
 * With `region` (a `HostRegion`; the family needs a `name` and takes no `clock`), every member and
 * the overflow breaker are the region's breakers of their names, one breaker per key across every
 * process that opens the region; their 'stateChange' events include other processes' transitions
 * (`remote: true`), at this process's next operation on the member. A full region answers new
 * keys with the overflow breaker.
 *
 * Call-scoped API: `allow(key)` + `recordSuccess`/`recordFailure`/`recordIgnored`,
 * `execute(key, fn, ...args)` and `inspect(key)` hold no `CircuitBreaker` object, so they pin a
 * member only while a call is in flight (until its permit is recorded), whatever the garbage
 * collector does: what integrations with one key per request (an origin, a tenant) use.
 *
 * Identity: while the `CircuitBreaker` returned for a key is alive, `get` of that key returns that
 * same object (it pins the member, so the member cannot have changed). Once it is
 * garbage-collected, the member is unpinned (and may be evicted) and a later `get` returns a new
 * object, around the same engine breaker if the member is still there.
 */
class BreakerFamily extends EventEmitter {
  #native;
  #name;
  /** Every member's JavaScript options (timeout, isFailure, fallback). */
  #parsed;
  /** key -> WeakRef of the member's live `CircuitBreaker`. */
  #members = new Map();
  /** Drops the `#members` entry of a collected `CircuitBreaker`. */
  #collected = new FinalizationRegistry((key) => {
    const ref = this.#members.get(key);
    if (ref !== undefined && ref.deref() === undefined) this.#members.delete(key);
  });
  #overflow;
  #flushing = false;
  #afterFlush = () => this.#flush();

  constructor(options) {
    super();
    const { maxKeys, idleTtl, breaker } = parseFamilyOptions(options);
    const clock = breaker.clock === undefined ? null : clockNative(breaker.clock);
    // In a region (`region`), every member and the overflow breaker are the region's breakers:
    // one per key across processes, on the region's clock (`clock` was refused with it).
    const region = breaker.region === undefined ? null : regionNative(breaker.region);
    // With `fleet` (a RedisFleet), each member goes through the fleet breaker of its name.
    const fleets = breaker.fleet === undefined ? null : breaker.fleet[FLEET_SET]();
    const created = native.createFamily(breaker.engine, maxKeys, idleTtl, clock, region, fleets);
    if (!(created instanceof native.NativeFamily)) {
      throw Object.hasOwn(created, 'kind') ? regionError(created, breaker.region.path) : configError(created);
    }
    this.#native = created;
    this.#name = breaker.engine.name;
    this.#parsed = breaker;
  }

  /** The family's name (members are named `<name>/<key>`), or `undefined`. */
  get name() {
    return this.#name;
  }

  /** The breaker for `key`, created on first use; the `overflow` breaker if the family is full
   * and every member is pinned. */
  get(key) {
    if (typeof key !== 'string') throw argumentError('key', 'a string', key);
    const ref = this.#members.get(key);
    const held = ref === undefined ? undefined : ref.deref();
    let breaker;
    if (held !== undefined) {
      // Held, so pinned: the engine still has this member (this counts as a use of it).
      this.#native.touch(key);
      breaker = held;
    } else {
      const handle = this.#native.get(key);
      if (handle === null) {
        breaker = this.overflow;
      } else {
        breaker = adoptBreaker(handle, this.#parsed, this.#afterFlush);
        this.#members.set(key, new WeakRef(breaker));
        this.#collected.register(breaker, key);
      }
    }
    // No flush: the engine's `get` causes no transition (eviction reads each member's state as
    // last applied), and whatever the member's next call causes is emitted after that call.
    return breaker;
  }

  // --- the call-scoped API: nothing pinned once a call is recorded ----------------------------

  /** Asks the member for `key` (created on first use; the overflow breaker when the family is
   * full and every member is pinned) to admit a call: a `FamilyPermit`, which pins the member
   * until it is recorded, or throws `CircuitOpenError` (with `key`). */
  allow(key) {
    if (typeof key !== 'string') throw argumentError('key', 'a string', key);
    const answer = this.#native.allow(key);
    this.#flush();
    if (answer instanceof native.NativeMemberPermit) return new FamilyPermit(ISSUE, this, answer, key);
    const { name, rejection } = answer;
    const err = new CircuitOpenError(name ?? undefined, rejection.state, rejection.reason, rejection.retryAfter ?? undefined, rejection.fleet);
    err.key = key;
    throw err;
  }

  /** Records a success; `true` if it counted, `false` if the permit was stale. */
  recordSuccess(permit) {
    return this.#record(permit, SUCCESS, undefined);
  }

  /** Records a failure, optionally with the dependency's retry time (`{ retryAfter }` in ms, as
   * `breaker.recordFailure` takes it); `true` if it counted, `false` if the permit was stale. */
  recordFailure(permit, options) {
    if (options === undefined) return this.#record(permit, FAILURE, undefined);
    if (typeof options !== 'object' || options === null) throw argumentError('options', 'an object', options);
    const { retryAfter } = options;
    if (retryAfter !== undefined && typeof retryAfter !== 'number') {
      throw argumentError('retryAfter', 'a number of milliseconds', retryAfter);
    }
    if (retryAfter !== undefined && !(retryAfter >= 0 && retryAfter !== Infinity)) {
      const err = new RangeError(`\`retryAfter\` must be a finite number >= 0, got ${retryAfter}`);
      err.code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
    return this.#record(permit, FAILURE, retryAfter === 0 ? undefined : retryAfter);
  }

  /** Records a neutral outcome (a probe's slot is returned); `true` if current, `false` if stale. */
  recordIgnored(permit) {
    return this.#record(permit, IGNORED, undefined);
  }

  #record(permit, outcome, retryAfter) {
    const r = spendFamilyPermit(permit, this).record(outcome, retryAfter);
    this.#flush();
    if (r === ALREADY_RECORDED) {
      throw new PermitError('EALREADYRECORDED', 'permit already recorded: each permit takes exactly one outcome');
    }
    return r === COUNTED;
  }

  /** Runs `fn(...args)` on the member for `key` as `breaker.execute` does (the members' `timeout`,
   * `isFailure` and `fallback` apply) and holds nothing once it settles. A promise of its result. */
  execute(key, fn, ...args) {
    return executeInFamily(this, this.#parsed, key, fn, args);
  }

  /** `{ name, state, overflow }` of the member for `key` as `get` finds it (created on first use;
   * `overflow` true for the overflow breaker), holding nothing. */
  inspect(key) {
    if (typeof key !== 'string') throw argumentError('key', 'a string', key);
    const info = this.#native.inspect(key);
    this.#flush();
    return { name: info.name ?? undefined, state: info.state, overflow: info.overflow };
  }

  /** Whether `key` has a member now (creates none and counts as no use). */
  has(key) {
    if (typeof key !== 'string') throw argumentError('key', 'a string', key);
    return this.#native.has(key);
  }

  /** How many members the family holds (the overflow breaker not counted). */
  get size() {
    return this.#native.size;
  }

  /** The members' keys, in no particular order. */
  keys() {
    return this.#native.keys();
  }

  /** The shared breaker that answers `get` when the family is full and every member is pinned. */
  get overflow() {
    if (this.#overflow === undefined) {
      this.#overflow = adoptBreaker(this.#native.overflow(), this.#parsed, this.#afterFlush);
    }
    return this.#overflow;
  }

  /** `{ members: { [key]: Metrics }, overflow: Metrics, evicted, overflowed }`. */
  metrics() {
    // (Members hold no success back, see lib/breaker.js `NEVER_TRIVIAL`: the engine has them all.)
    const values = this.#native.metrics();
    this.#flush();
    const members = Object.create(null);
    for (let i = 0; i < values.keys.length; i++) members[values.keys[i]] = toMetrics(values.members[i]);
    return { members, overflow: toMetrics(values.overflow), evicted: values.evicted, overflowed: values.overflowed };
  }

  /** One snapshot's samples of the metric set for every member (by key) and the overflow breaker
   * (key `(overflow)`), labelled with the family's name, for lib/observe/. */
  [POINTS]() {
    const points = this.#native.points();
    this.#flush();
    return points;
  }

  /** Emits the transitions the engine queued for the family, in order, as `CircuitBreaker`'s
   * `#flush` does (one caused by a listener is emitted by the loop already running). */
  #flush() {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (let batch = this.#native.drain(); batch !== null; batch = this.#native.drain()) {
        const { keys, transitions } = batch;
        for (let i = 0; i < keys.length; i++) {
          const at = i * TRANSITION_FIELDS;
          const event = Object.freeze({
            key: keys[i],
            from: STATES[transitions[at]],
            to: STATES[transitions[at + 1]],
            reason: REASONS[transitions[at + 2]],
            at: transitions[at + 3],
            remote: transitions[at + 4] === 1,
            generation: transitions[at + 5],
          });
          emit(this, 'stateChange', event);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}

module.exports = { BreakerFamily };
