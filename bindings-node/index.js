'use strict';
// The public API of the `circuit` package. The state machine is the Rust engine's (through the
// generated loader `binding.js`); this file validates arguments, runs the caller's functions,
// shapes errors and events, and never keeps a timer or handle of its own except the per-call
// timeout timer while a call with `timeout` is in flight.

const { EventEmitter } = require('node:events');
const native = require('./binding.js');

const { fastAllow, fastSettleAllow, fastSettle, fastRecord, fastRecordParts, fastState } = native;

/** The core's public surface: options, metrics fields and spellings (see `schema()` in src/lib.rs). */
const schema = native.schema();
/** State, transition-reason and outcome spellings, by the core's integer codes. */
const STATES = Object.freeze(schema.states);
const REASONS = Object.freeze(schema.reasons);
const SUCCESS = schema.outcomes.indexOf('success');
const FAILURE = schema.outcomes.indexOf('failure');
const IGNORED = schema.outcomes.indexOf('ignored');
/** The fields of `metrics()`, from the core's schema, in the order the native snapshot has them:
 * `{ key, kind }` with the camelCase key (`state` comes as a state code, an absent
 * `optional_duration` as -1). */
const METRIC_FIELDS = Object.freeze(schema.metrics.map((m) => Object.freeze({ key: m.jsName, kind: m.kind })));
/** The event emitted, besides 'stateChange', when a state is entered. */
const STATE_EVENTS = STATES.map((s) => ({ open: 'open', half_open: 'halfOpen', closed: 'close' })[s]);
/** `u32::MAX`: "no ticket" and each half of "no admission time" in a raw permit. */
const NONE = 0xffffffff;
const MAX_TIMER_MS = 0x7fffffff;

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/** Thrown (or used to reject) when the breaker refuses a call. */
class CircuitOpenError extends Error {
  constructor(breakerName, state, reason, retryAfter) {
    const who = breakerName === undefined ? 'circuit' : `circuit \`${breakerName}\``;
    const after = retryAfter === undefined ? '' : `; retry after ${retryAfter} ms`;
    super(`${who} rejected the call (${reason})${after}`);
    this.code = 'ECIRCUITOPEN';
    this.breakerName = breakerName;
    this.state = state;
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}
CircuitOpenError.prototype.name = 'CircuitOpenError';

/** Rejects a call that did not settle within the breaker's `timeout`. */
class TimeoutError extends Error {
  constructor(breakerName, timeout) {
    const who = breakerName === undefined ? 'circuit' : `circuit \`${breakerName}\``;
    super(`${who}: the call timed out after ${timeout} ms`);
    this.code = 'ETIMEDOUT';
    this.breakerName = breakerName;
    this.timeout = timeout;
  }
}
TimeoutError.prototype.name = 'TimeoutError';

/** A permit was misused: recorded twice (`EALREADYRECORDED`) or given to another breaker (`EFOREIGNPERMIT`). */
class PermitError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
PermitError.prototype.name = 'PermitError';

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return value.constructor?.name ? `an instance of ${value.constructor.name}` : 'an object';
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 28 ? `${value.slice(0, 25)}...` : value)})`;
  return `type ${typeof value} (${String(value)})`;
}

function typeError(option, expected, value, code = 'ERR_INVALID_ARG_TYPE') {
  const err = new TypeError(`option \`${option}\` must be ${expected}, got ${describe(value)}`);
  err.code = code;
  err.option = option;
  return err;
}

function rangeError(option, reason) {
  const err = new RangeError(`invalid option \`${option}\`: ${reason}`);
  err.code = 'ERR_OUT_OF_RANGE';
  err.option = option;
  return err;
}

function argumentError(name, expected, value) {
  const err = new TypeError(`\`${name}\` must be ${expected}, got ${describe(value)}`);
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

// ------------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------------

/** Engine options, from the core's schema: camelCase name -> [core (snake_case) name, kind]
 * (`text`, `count`, `number`, `duration` in ms, `seed`). */
const ENGINE_OPTIONS = Object.freeze(
  Object.fromEntries(schema.options.map((o) => [o.jsName, Object.freeze([o.name, o.kind])])),
);
/** Options handled in JavaScript. */
const JS_OPTIONS = new Set(['timeout', 'isFailure', 'fallback', 'clock']);
const CAMEL = Object.fromEntries(Object.entries(ENGINE_OPTIONS).map(([camel, [snake]]) => [snake, camel]));
/** Matches core option names inside a core message, longest first. */
const SNAKE_NAMES = new RegExp(
  `\\b(${Object.keys(CAMEL)
    .sort((a, b) => b.length - a.length)
    .join('|')})\\b`,
  'g',
);

const U64 = 2n ** 64n;

/** `jitterSeed`: a whole number in [0, 2^64 - 1], as a safe-integer number or a bigint (the
 * decimal string the native layer parses). Negative, fractional, NaN, infinite, unsafe and
 * too-large values are refused, as by the other bindings: none is silently wrapped or rounded. */
function parseSeed(value) {
  const range = 'must be a whole number in [0, 2^64 - 1] (a bigint above 2^53 - 1)';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw rangeError('jitterSeed', `${range}, got ${value}`);
    return String(value === 0 ? 0 : value); // -0 is 0
  }
  if (typeof value !== 'bigint') throw typeError('jitterSeed', 'a number or a bigint', value);
  if (value < 0n || value >= U64) throw rangeError('jitterSeed', `${range}, got ${value}n`);
  return value.toString();
}

function parseOptions(options) {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
  const engine = {};
  const parsed = { engine, timeout: 0, isFailure: undefined, fallback: undefined, clock: undefined };
  for (const key of Object.keys(options)) {
    const value = options[key];
    if (value === undefined) continue;
    const spec = Object.hasOwn(ENGINE_OPTIONS, key) ? ENGINE_OPTIONS[key] : undefined;
    if (spec !== undefined) {
      const kind = spec[1];
      if (kind === 'text') {
        if (typeof value !== 'string') throw typeError(key, 'a string', value);
        engine[key] = value;
      } else if (kind === 'seed') {
        engine[key] = parseSeed(value);
      } else {
        if (typeof value !== 'number') throw typeError(key, 'a number', value);
        engine[key] = value;
      }
      continue;
    }
    if (!JS_OPTIONS.has(key)) throw unknownOption(key);
    if (key === 'timeout') {
      if (typeof value !== 'number') throw typeError(key, 'a number of milliseconds', value);
      if (!(value > 0 && value <= MAX_TIMER_MS)) {
        throw rangeError(key, `must be a number of milliseconds in (0, ${MAX_TIMER_MS}], got ${value}`);
      }
      parsed.timeout = value;
    } else if (key === 'clock') {
      if (!(value instanceof ManualClock)) throw typeError(key, 'a ManualClock', value);
      parsed.clock = value;
    } else {
      if (typeof value !== 'function') throw typeError(key, 'a function', value);
      parsed[key] = value;
    }
  }
  return parsed;
}

/** Edit distance, for "did you mean" on a misspelt option. */
function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** opossum's option names, for people migrating (docs/node.md has the whole table). */
const OPOSSUM = {
  errorThresholdPercentage: ['failureRateThreshold', 'a fraction: 0.5 for 50%'],
  volumeThreshold: ['minimumCalls'],
  rollingCountTimeout: ['windowDuration'],
  rollingCountBuckets: ['windowBuckets'],
  errorFilter: ['isFailure', 'opposite polarity: return false to ignore an error'],
  abortController: ['timeout', 'each call gets its own signal'],
};

function unknownOption(key) {
  let [guess, note] = Object.hasOwn(OPOSSUM, key) ? OPOSSUM[key] : [CAMEL[key.replace(/_ms$/, '')]];
  if (guess === undefined) {
    const lower = key.toLowerCase();
    const [best] = [...Object.keys(ENGINE_OPTIONS), ...JS_OPTIONS]
      .map((name) => [name, distance(lower, name.toLowerCase())])
      .sort((x, y) => x[1] - y[1]);
    if (best[1] <= Math.max(2, Math.floor(key.length / 4))) guess = best[0];
  }
  const hint = guess === undefined ? '' : `; did you mean \`${guess}\`${note === undefined ? '' : ` (${note})`}?`;
  const err = new TypeError(`unknown option \`${key}\`${hint}`);
  err.code = 'ERR_INVALID_ARG_VALUE';
  err.option = key;
  return err;
}

function configError(problem) {
  const option = CAMEL[problem.option] ?? problem.option;
  return rangeError(option, problem.reason.replace(SNAKE_NAMES, (snake) => CAMEL[snake]));
}

// ------------------------------------------------------------------------------------------------
// Clock
// ------------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------------
// Permit
// ------------------------------------------------------------------------------------------------

const ISSUE = Symbol('circuit.issuePermit');
/** Marks a permit recorded (throwing if it cannot be) and returns it. */
let spendPermit;
/** A permit's generation, raw parts (`undefined` for an ordinary closed-state permit) and the
 * breaker's transition epoch at admission. */
let permitGeneration;
let permitParts;
let permitEpoch;
/** Probe permits collected unrecorded are recorded as ignored, which frees their probe slot. */
const droppedProbes = new FinalizationRegistry((dropped) => dropped.breaker[ISSUE](dropped));

/** An admitted call of the two-step API. Record it exactly once with the breaker's `record*` methods. */
class Permit {
  #breaker;
  #generation;
  /** `[generation, admittedHigh, admittedLow, ticket]` from the engine, or `undefined` for an
   * ordinary closed-state permit (no admission time, no probe ticket). */
  #parts;
  #epoch;
  #recorded = false;

  constructor(token, breaker, generation, parts, epoch) {
    if (token !== ISSUE) throw new TypeError('Permit objects are issued by CircuitBreaker#allow()');
    this.#breaker = breaker;
    this.#generation = generation;
    this.#parts = parts;
    this.#epoch = epoch;
  }

  /** The breaker generation the permit was admitted in. */
  get generation() {
    return this.#generation;
  }

  /** Whether this permit is a half-open probe. */
  get isProbe() {
    return this.#parts !== undefined && this.#parts[3] !== NONE;
  }

  /** Admission instant on the breaker's clock (ms), or `undefined` when the clock was not read. */
  get admittedAt() {
    const parts = this.#parts;
    if (parts === undefined || (parts[1] === NONE && parts[2] === NONE)) return undefined;
    return (parts[1] * 2 ** 32 + parts[2]) / 1e6;
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
      if (permit.#parts !== undefined && permit.#parts[3] !== NONE) droppedProbes.unregister(permit);
      return permit;
    };
    permitGeneration = (permit) => permit.#generation;
    permitParts = (permit) => permit.#parts;
    permitEpoch = (permit) => permit.#epoch;
  }
}

// ------------------------------------------------------------------------------------------------
// Call options (calls with `timeout`)
// ------------------------------------------------------------------------------------------------

let abortCall;

/**
 * The last argument of a call made with `timeout`: `{ signal }`, this call's own `AbortSignal`.
 * The signal is created when first read (creating one costs microseconds on Node 20, so calls
 * that never look at it do not pay) and aborted with the `TimeoutError` when the call times out.
 */
class CallOptions {
  #controller = undefined;
  #reason = undefined;

  /** This call's own `AbortSignal`: aborted (with a `TimeoutError`) if the call times out. */
  get signal() {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  static {
    abortCall = (options, reason) => {
      options.#reason = reason;
      if (options.#controller !== undefined) options.#controller.abort(reason);
    };
  }
}

// ------------------------------------------------------------------------------------------------
// Breaker
// ------------------------------------------------------------------------------------------------

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
}

function isAbortError(err) {
  return err !== null && typeof err === 'object' && (err.name === 'AbortError' || err.code === 'ABORT_ERR');
}

/** A timeout: what `AbortSignal.timeout()` aborts with (a `DOMException` named `TimeoutError`),
 * what `fetch` then rejects with, and this package's own `TimeoutError`. */
function isTimeout(value) {
  return value !== null && typeof value === 'object' && value.name === 'TimeoutError';
}

/**
 * Default classification: `true` (ignored) only for an abort the caller asked for, i.e. an
 * `AbortSignal` the caller passed in (as an argument or as `{ signal }`) aborted for a reason that
 * is not a timeout, and `err` is that reason or an `AbortError` not caused by a timeout. A timeout
 * (`AbortSignal.timeout()`, `AbortSignal.any()` with one that fired, `controller.abort(reason)`
 * with a `TimeoutError`) means the dependency did not answer in time: a failure.
 */
function abortedByCaller(err, args) {
  if (isTimeout(err) || (isAbortError(err) && isTimeout(err.cause))) return false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === null || typeof arg !== 'object') continue;
    const signal = arg instanceof AbortSignal ? arg : arg.signal instanceof AbortSignal ? arg.signal : undefined;
    if (signal === undefined || !signal.aborted || isTimeout(signal.reason)) continue;
    if (err === signal.reason || isAbortError(err)) return true;
  }
  return false;
}

function warnListener(breaker, event, err) {
  const label = breaker.name === undefined ? '' : ` \`${breaker.name}\``;
  const warning = new Error(`a '${event}' listener of circuit breaker${label} threw; the breaker carries on`, {
    cause: err,
  });
  warning.name = 'CircuitBreakerWarning';
  warning.code = 'ECIRCUITLISTENER';
  process.emitWarning(warning);
}

/**
 * A circuit breaker. The engine is the Rust core; this object is an `EventEmitter` that reports
 * transitions ('stateChange', 'open', 'halfOpen', 'close') and calls ('reject', 'success',
 * 'failure', 'timeout').
 *
 * Deferred successes. A native call costs tens of nanoseconds, about as much as the rest of
 * `execute`, so the success of an ordinary call may be handed to the engine with the next native
 * call of this breaker instead of on its own (`fastSettleAllow`, `fastSettle`), which halves the
 * native calls of a stream of successful calls. This changes nothing observable, because it is done
 * only when the engine would do exactly the same with the success later as now:
 *  - the breaker has no rate rule and no slow-call rule (`deferrable`), so a success trips nothing,
 *    enters no window and reads no clock: it resets the failure run and counts;
 *  - the permit is an ordinary closed-state (or disabled) permit, and no transition happened since
 *    it was admitted (`#epoch`), so the breaker is still in that state and generation, which has no
 *    time-driven transition. Every native call that can cause a transition reports it (the events
 *    bit, or an unconditional `#flush`); `#flush` moves `#epoch` even when it cannot emit yet (a
 *    listener is running), so a transition a listener causes makes earlier permits non-deferrable
 *    at once, and `recordSuccess` then returns the engine's own answer (stale: `false`);
 *  - every other native call of this breaker settles the deferred successes first (they are
 *    recorded before anything that follows them, in order), and everything observable (state,
 *    metrics, events) goes through such a call.
 */
class CircuitBreaker extends EventEmitter {
  #handle;
  /** The breaker's id for the engine's fast-path functions. */
  #id;
  #name;
  #timeout;
  #isFailure;
  #fallback;
  #flushing = false;
  /** Whether successes may be deferred (see above). */
  #deferrable;
  /** Moves on every transition the engine reported (drained in `#flush`, or caused while a
   * listener runs and not drained yet), and on every call that may have caused one while a
   * listener runs; a success is deferred only if it did not move since the admission. */
  #epoch = 0;
  /** Deferred successes, all of generation `#pendingGeneration`. */
  #pending = 0;
  #pendingGeneration = 0;

  constructor(options) {
    super();
    const parsed = parseOptions(options);
    const created = native.createBreaker(parsed.engine, parsed.clock === undefined ? null : clockNative(parsed.clock));
    if (!(created instanceof native.NativeBreaker)) throw configError(created);
    this.#handle = created;
    this.#id = created.id;
    this.#deferrable = created.deferrable;
    this.#name = parsed.engine.name;
    this.#timeout = parsed.timeout;
    this.#isFailure = parsed.isFailure;
    this.#fallback = parsed.fallback;
  }

  /** The breaker's name, or `undefined`. */
  get name() {
    return this.#name;
  }

  /** The current state, with any due time-driven transition applied first. */
  get state() {
    this.#settle();
    const r = fastState(this.#id);
    if ((r & 1) === 1) this.#flush();
    return STATES[r >> 1];
  }

  // --- run a function -----------------------------------------------------------------------

  /**
   * Runs `fn(...args)` if the breaker admits it and records the outcome. Returns a promise of
   * its result, for synchronous and asynchronous functions alike.
   */
  execute(fn, ...args) {
    return this.#run(fn, undefined, args);
  }

  /** Returns a function with `fn`'s parameters that runs `fn` through `execute` (keeping `this`). */
  wrap(fn) {
    if (typeof fn !== 'function') throw argumentError('fn', 'a function', fn);
    const breaker = this;
    const wrapped = function (...args) {
      return breaker.#run(fn, this, args);
    };
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
    const arity = this.#timeout === 0 ? fn.length : Math.max(0, fn.length - 1);
    Object.defineProperty(wrapped, 'length', { value: arity, configurable: true });
    return wrapped;
  }

  // The hot path: an admitted ordinary call, no timeout, nothing to emit. Everything else (a
  // probe or time-stamped permit, a rejection, pending events, a timeout) takes #runOther.
  #run(fn, thisArg, args) {
    if (typeof fn !== 'function') return Promise.reject(argumentError('fn', 'a function', fn));
    const r = this.#admit();
    if (typeof r !== 'number' || r < 0 || r > 0x7fffffff || (r & 1) === 1 || this.#timeout !== 0) {
      return this.#runOther(r, fn, thisArg, args);
    }
    const generation = r >> 1;
    const epoch = this.#epoch;
    let value;
    try {
      value = thisArg === undefined ? fn(...args) : fn.apply(thisArg, args);
    } catch (err) {
      this.#failed(generation, undefined, err, args);
      return Promise.reject(err);
    }
    if (!(value instanceof Promise)) return this.#settleOther(generation, undefined, value, args, epoch);
    return value.then(
      (result) => {
        if (this.#deferrable && epoch === this.#epoch && generation === this.#pendingGeneration) {
          if (++this.#pending === 0x3fffff) this.#settle();
          if (this._eventsCount !== 0) this.#emit('success', result);
        } else {
          this.#succeeded(generation, undefined, result, epoch);
        }
        return result;
      },
      (err) => {
        this.#failed(generation, undefined, err, args);
        throw err;
      },
    );
  }

  #runOther(r, fn, thisArg, args) {
    let generation;
    let parts;
    if (typeof r === 'number') {
      if (r < 0) return this.#rejectedAsync(r, thisArg, args);
      const events = r % 2;
      generation = (r - events) / 2;
      if (events === 1) this.#flush();
    } else {
      generation = r[0];
      parts = r;
      if (r[4] === 1) this.#flush();
    }
    const epoch = this.#epoch;
    if (this.#timeout !== 0) return this.#runTimed(generation, parts, fn, thisArg, args);
    let value;
    try {
      value = thisArg === undefined ? fn(...args) : fn.apply(thisArg, args);
    } catch (err) {
      this.#failed(generation, parts, err, args);
      return Promise.reject(err);
    }
    return this.#settleOther(generation, parts, value, args, epoch);
  }

  /** The result of a call whose `fn` did not return a native promise (or took the slow path). */
  #settleOther(generation, parts, value, args, epoch) {
    if (!isThenable(value)) {
      this.#succeeded(generation, parts, value, epoch);
      return Promise.resolve(value);
    }
    return Promise.resolve(value).then(
      (result) => {
        this.#succeeded(generation, parts, result, epoch);
        return result;
      },
      (err) => {
        this.#failed(generation, parts, err, args);
        throw err;
      },
    );
  }

  /**
   * A call with `timeout`: `fn(...args, { signal })` (see `CallOptions`). The timer is unref'd and
   * cleared as soon as the call settles; when it fires first, the call is recorded as a failure,
   * its signal is aborted and the promise rejects with a `TimeoutError`.
   */
  #runTimed(generation, parts, fn, thisArg, args) {
    const timeout = this.#timeout;
    const epoch = this.#epoch;
    const options = new CallOptions();
    let resolve;
    let reject;
    const promise = new Promise((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      const err = new TimeoutError(this.#name, timeout);
      const r = this.#record(generation, parts, FAILURE);
      this.#emit('timeout', err);
      this.#emit('failure', err);
      if ((r & 1) === 1) this.#flush();
      abortCall(options, err);
      reject(err);
    }, timeout);
    timer.unref();
    let value;
    try {
      value = fn.apply(thisArg, [...args, options]);
    } catch (err) {
      settled = true;
      clearTimeout(timer);
      this.#failed(generation, parts, err, args);
      return Promise.reject(err);
    }
    Promise.resolve(value).then(
      (result) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#succeeded(generation, parts, result, epoch);
        resolve(result);
      },
      (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#failed(generation, parts, err, args);
        reject(err);
      },
    );
    return promise;
  }

  /** Runs synchronous `fn(...args)` if admitted and records the outcome; returns its result. */
  executeSync(fn, ...args) {
    if (typeof fn !== 'function') throw argumentError('fn', 'a function', fn);
    const r = this.#admit();
    let generation;
    let parts;
    if (typeof r === 'number') {
      if (r < 0) {
        const err = this.#rejection(r);
        if (this.#fallback === undefined) throw err;
        return this.#fallback(...args, err);
      }
      const events = r % 2;
      generation = (r - events) / 2;
      if (events === 1) this.#flush();
    } else {
      generation = r[0];
      parts = r;
      if (r[4] === 1) this.#flush();
    }
    const epoch = this.#epoch;
    let value;
    try {
      value = fn(...args);
    } catch (err) {
      this.#failed(generation, parts, err, args);
      throw err;
    }
    if (isThenable(value)) {
      // The promise is dropped: a rejection of it is not this call's to report (the TypeError
      // is), so it must not surface as an unhandled rejection either.
      if (value instanceof Promise) value.then(undefined, () => {});
      const r = this.#record(generation, parts, IGNORED);
      if ((r & 1) === 1) this.#flush();
      throw argumentError('fn', 'a synchronous function (it returned a promise: use execute())', fn);
    }
    this.#succeeded(generation, parts, value, epoch);
    return value;
  }

  #rejectedAsync(r, thisArg, args) {
    const err = this.#rejection(r);
    if (this.#fallback === undefined) return Promise.reject(err);
    try {
      return Promise.resolve(this.#fallback.apply(thisArg, [...args, err]));
    } catch (fallbackError) {
      return Promise.reject(fallbackError);
    }
  }

  #rejection(r) {
    const rejected = this.#handle.takeRejection();
    if (r === -2) this.#flush();
    const err = new CircuitOpenError(this.#name, rejected.state, rejected.reason, rejected.retryAfter ?? undefined);
    this.#emit('reject', err);
    return err;
  }

  // --- the engine calls ---------------------------------------------------------------------

  /** `fastAllow`, recording the deferred successes first. */
  #admit() {
    const pending = this.#pending;
    if (pending === 0) return fastAllow(this.#id);
    this.#pending = 0;
    return fastSettleAllow(this.#id, pending * 2 ** 30 + this.#pendingGeneration);
  }

  /** Records the deferred successes; called before every engine call but `#admit`. */
  #settle() {
    const pending = this.#pending;
    if (pending === 0) return;
    this.#pending = 0;
    if ((fastSettle(this.#id, pending * 2 ** 30 + this.#pendingGeneration) & 1) === 1) this.#flush();
  }

  #record(generation, parts, outcome) {
    this.#settle();
    return parts === undefined
      ? fastRecord(this.#id, generation * 4 + outcome)
      : fastRecordParts(this.#id, outcome, generation, parts[1], parts[2], parts[3]);
  }

  /** Whether the success of an ordinary permit admitted in `generation` at `epoch` may be deferred. */
  #canDefer(generation, epoch) {
    return this.#deferrable && epoch === this.#epoch && generation <= 0x3fffffff;
  }

  /** Defers the success of an ordinary permit of `generation` (see the class comment). */
  #defer(generation) {
    if (this.#pending !== 0 && this.#pendingGeneration !== generation) this.#settle();
    this.#pendingGeneration = generation;
    if (++this.#pending === 0x3fffff) this.#settle();
  }

  /** A success: deferred when that changes nothing (see the class comment), else recorded. */
  #succeeded(generation, parts, value, epoch) {
    if (parts === undefined && this.#canDefer(generation, epoch)) {
      this.#defer(generation);
      if (this._eventsCount !== 0) this.#emit('success', value);
      return;
    }
    const recorded = this.#record(generation, parts, SUCCESS);
    if (this._eventsCount !== 0) this.#emit('success', value);
    if ((recorded & 1) === 1) this.#flush();
  }

  #failed(generation, parts, err, args) {
    let outcome;
    if (this.#isFailure === undefined) {
      outcome = abortedByCaller(err, args) ? IGNORED : FAILURE;
    } else {
      try {
        outcome = this.#isFailure(err) ? FAILURE : IGNORED;
      } catch (classifyError) {
        outcome = FAILURE;
        warnListener(this, 'isFailure', classifyError);
      }
    }
    const r = this.#record(generation, parts, outcome);
    if (outcome === FAILURE) this.#emit('failure', err);
    if ((r & 1) === 1) this.#flush();
  }

  // --- two-step API -------------------------------------------------------------------------

  /** Asks to make a call: returns a `Permit`, or throws `CircuitOpenError`. */
  allow() {
    const r = this.#admit();
    if (typeof r === 'number') {
      if (r < 0) throw this.#rejection(r);
      if (r <= 0x7fffffff && (r & 1) === 0) return new Permit(ISSUE, this, r >> 1, undefined, this.#epoch);
      const events = r % 2;
      if (events === 1) this.#flush();
      return new Permit(ISSUE, this, (r - events) / 2, undefined, this.#epoch);
    }
    if (r[4] === 1) this.#flush();
    const permit = new Permit(ISSUE, this, r[0], r, this.#epoch);
    if (r[3] !== NONE) droppedProbes.register(permit, { breaker: this, generation: r[0], parts: r }, permit);
    return permit;
  }

  /** Records a success; `true` if it counted, `false` if the permit was stale. */
  recordSuccess(permit) {
    return this.#recordPermit(permit, SUCCESS);
  }

  /** Records a failure; `true` if it counted, `false` if the permit was stale. */
  recordFailure(permit) {
    return this.#recordPermit(permit, FAILURE);
  }

  /** Records a neutral outcome (a probe's slot is returned); `true` if current, `false` if stale. */
  recordIgnored(permit) {
    return this.#recordPermit(permit, IGNORED);
  }

  #recordPermit(permit, outcome) {
    spendPermit(permit, this);
    const generation = permitGeneration(permit);
    const parts = permitParts(permit);
    if (outcome === SUCCESS && parts === undefined && this.#canDefer(generation, permitEpoch(permit))) {
      this.#defer(generation);
      return true; // what the engine answers for a current closed-state permit
    }
    const r = this.#record(generation, parts, outcome);
    if (r < 0) {
      throw new PermitError('EALREADYRECORDED', 'permit already recorded: each permit takes exactly one outcome');
    }
    if ((r & 1) === 1) this.#flush();
    return (r & 2) !== 0;
  }

  /** Records a probe permit that was garbage-collected unrecorded as ignored. */
  [ISSUE](dropped) {
    const r = this.#record(dropped.generation, dropped.parts, IGNORED);
    if (r > 0 && (r & 1) === 1) this.#flush();
  }

  // --- control and observation --------------------------------------------------------------

  /** To `closed` from any state: new generation, empty window, zero failure run, backoff reset. */
  reset() {
    this.#settle();
    this.#handle.reset();
    this.#flush();
  }

  /** To `forced_open`: rejects every call until `reset()` or `disable()`. */
  forceOpen() {
    this.#settle();
    this.#handle.forceOpen();
    this.#flush();
  }

  /** To `disabled`: admits every call and only counts outcomes, until `reset()` or `forceOpen()`. */
  disable() {
    this.#settle();
    this.#handle.disable();
    this.#flush();
  }

  /** A metrics snapshot; durations in milliseconds. */
  metrics() {
    this.#settle();
    const v = this.#handle.metrics();
    this.#flush();
    const m = {};
    for (let i = 0; i < METRIC_FIELDS.length; i++) {
      const { key, kind } = METRIC_FIELDS[i];
      const value = v[i];
      m[key] = kind === 'state' ? STATES[value] : kind === 'optional_duration' && value < 0 ? undefined : value;
    }
    return m;
  }

  /** When the next time-driven transition is due (ms on the breaker's clock), or `undefined`. */
  nextTransitionAt() {
    this.#settle();
    const at = this.#handle.nextTransitionAt();
    this.#flush();
    return at ?? undefined;
  }

  /** The current instant on the breaker's clock, in milliseconds. */
  now() {
    return this.#handle.now();
  }

  // --- events -------------------------------------------------------------------------------

  /**
   * Calls each listener of `event`; a throwing (or rejecting) listener is reported as a warning.
   * Unlike a plain `EventEmitter.emit`, a listener removed while this event is being emitted (by
   * an earlier listener) is not called for it (SEMANTICS.md §10: once removed, never called again).
   */
  #emit(event, arg) {
    if (this._eventsCount === 0 || this.listenerCount(event) === 0) return;
    const listeners = this.rawListeners(event);
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i];
      if (i > 0 && !this.rawListeners(event).includes(listener)) continue;
      try {
        const returned = listener.call(this, arg);
        if (isThenable(returned)) returned.then(undefined, (err) => warnListener(this, event, err));
      } catch (err) {
        warnListener(this, event, err);
      }
    }
  }

  /**
   * Emits the transitions queued by the engine, in order. A transition caused by a listener is
   * emitted after that listener returns, by the loop already running.
   */
  #flush() {
    if (this.#flushing) {
      // Called from a listener, after a native call that did (or may have) changed the state:
      // the transition is emitted by the loop below once the listener returns, but it happened
      // now, so a success admitted before it may no longer be deferred (`#epoch` moves now).
      this.#epoch++;
      return;
    }
    this.#flushing = true;
    try {
      for (let batch = this.#handle.drain(); batch.length !== 0; batch = this.#handle.drain()) {
        this.#epoch++;
        for (let i = 0; i < batch.length; i += 4) {
          const transition = Object.freeze({
            from: STATES[batch[i]],
            to: STATES[batch[i + 1]],
            reason: REASONS[batch[i + 2]],
            at: batch[i + 3],
          });
          this.#emit('stateChange', transition);
          const specific = STATE_EVENTS[batch[i + 1]];
          if (specific !== undefined) this.#emit(specific, transition);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}

module.exports = {
  CircuitBreaker,
  CircuitOpenError,
  ManualClock,
  Permit,
  PermitError,
  TimeoutError,
};
