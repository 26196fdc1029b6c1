'use strict';
// `CircuitBreaker`: runs the caller's functions through the engine's admission and records their
// outcomes with the hot-path native functions (lib/protocol.js says how their numbers read),
// shapes rejections and emits events. The state machine is the Rust engine's; this file never
// keeps a timer or handle of its own except the per-call timer of a call with `timeout`.

const { EventEmitter } = require('node:events');
const native = require('../binding.js');
const {
  EVENTS,
  COUNTED,
  ALREADY_RECORDED,
  REJECTED,
  PERMIT_SCALE,
  SMALL_PERMIT_MAX,
  PERMIT_PARTS,
  FRAME_BREAKER,
  FRAME_ARGS,
  FRAME_RESULT,
  PARTS,
  TRIVIAL_PAGE_CELLS,
  PART_GENERATION,
  PART_ADMITTED_HIGH,
  PART_ADMITTED_LOW,
  PART_TICKET,
  PART_EVENTS,
  PART_FLEET_EPOCH,
  PART_FLEET_ID,
  NO_FLEET_PROBE,
  OUTCOME_SCALE,
  STATE_SCALE,
  MAX_SETTLE,
  NO_TIME_HALF,
  NO_TICKET,
} = require('./protocol.js');
const { STATES, SUCCESS, FAILURE, IGNORED } = require('./schema.js');
const { CircuitOpenError, TimeoutError, PermitError, argumentError } = require('./errors.js');
const { documentText, wallInstant, stateError } = require('./state.js');
const { parseOptions, configError } = require('./options.js');
const { clockNative } = require('./clock.js');
const { regionNative, regionError } = require('./region.js');
const { ATTACH } = require('./fleet.js');
const { Permit, ISSUE, spendPermit, permitGeneration, permitParts } = require('./permit.js');
const { CallOptions, abortCall } = require('./timeout.js');
const { isThenable, abortedByCaller, mayHoldSignal } = require('./classify.js');
const { emit, emitTransitions, warnListener } = require('./events.js');
const { toMetrics, POINTS } = require('./metrics.js');

const { fastAllow, fastSettle, fastRecord, fastRecordParts, fastState, trivialView } = native;
/** This thread's call frame: the fast-path functions read the breaker id and their arguments
 * from it and write their result into it (see lib/protocol.js). */
const frame = native.frameView();

/** The constructor's first argument when `adoptBreaker` wraps a handle it already has. */
const ADOPT = Symbol('adopt');

/** The trivial-generation "cell" of a family member and of a breaker in a host region: no
 * generation equals NaN, so none of its successes is held back. A member outlives its
 * `CircuitBreaker` object (the family keeps it), and successes held back by an object that is
 * then garbage-collected would never reach the engine. */
const NEVER_TRIVIAL = new Float64Array([Number.NaN]);

/** `args` of a call without arguments. */
const NO_ARGS = Object.freeze([]);
/** `args` of a call with exactly one argument, which goes along on its own (`arg`): the hot path
 * then allocates no array for the arguments and calls `fn` directly rather than spreading one,
 * which saves about a tenth of `execute` (most calls have none or one). */
const ONE_ARG = Object.freeze([]);

/** The arguments of a call as an array (for the paths that need one). */
function argsArray(args, arg) {
  return args === ONE_ARG ? [arg] : args;
}

/** `fn.apply(thisArg, args)`, with `args` and `arg` as in `#run`. */
function invoke(fn, thisArg, args, arg) {
  if (thisArg !== undefined) return fn.apply(thisArg, argsArray(args, arg));
  if (args === ONE_ARG) return fn(arg);
  return args === NO_ARGS ? fn() : fn(...args);
}

/**
 * A circuit breaker. The engine is the Rust core; this object is an `EventEmitter` that reports
 * transitions ('stateChange', 'open', 'halfOpen', 'close') and calls ('reject', 'success',
 * 'failure', 'timeout').
 *
 * Successes held back. A native call costs tens of nanoseconds, about as much as the rest of
 * `execute`, so a success that changes nothing but the engine's tallies (and the failure run it
 * ends) is handed to the engine with the next native call of this breaker instead of on its own
 * (`fastAllow`, `fastSettle`), which halves the native calls of a stream of successful
 * calls. Which successes
 * qualify is the engine's decision, not this file's: the engine publishes the generation whose
 * ordinary permits have a trivial success (`CircuitBreaker::success_is_trivial` in the core: it
 * counts, trips nothing, enters no window, reads no clock) in a cell this object reads without a
 * native call (`#trivial`, a view of native memory that every native call keeps current). A
 * success of such a permit is only counted here (`#pending`); every other native call of this
 * breaker hands the held successes over first, so they are recorded before anything that follows
 * them, and everything observable (state, metrics, events) goes through such a call.
 * `recordSuccess` answers `true` for a held success because that is what the engine answers for
 * a trivial one; a transition (even one a listener causes, before it is emitted) clears the cell
 * at once, so the success of an earlier permit is then recorded at once, with the engine's answer.
 */
class CircuitBreaker extends EventEmitter {
  #handle;
  /** The breaker's id for the engine's fast-path functions. */
  #id;
  #name;
  #timeout;
  #isFailure;
  #fallback;
  /** The `RedisFleet` the calls also go through, or `undefined`. */
  #fleet;
  #flushing = false;
  /** Called after each `#flush` (a family member: its family drains its own queue then). */
  #afterFlush;
  /** The engine's trivial generation (see above): `#trivial[#trivialIndex]`, a page of such
   * cells shared by breakers. */
  #trivial;
  #trivialIndex;
  /** Successes held back (see above). */
  #pending = 0;
  /** The generation of `#onFulfilled` and `#onRejected` (see `#newReactions`). */
  #reactionsGeneration = -1;
  #onFulfilled;
  #onRejected;

  constructor(options, adopted) {
    super();
    let parsed;
    let created;
    if (options === ADOPT) {
      // A family member (lib/family.js): the handle holds the member's engine breaker.
      ({ parsed, handle: created, afterFlush: this.#afterFlush } = adopted);
      this.#name = created.name() ?? undefined;
      this.#fleet = parsed.fleet; // the family's: the handle goes through the member's fleet
    } else {
      parsed = parseOptions(options);
      const clock = parsed.clock === undefined ? null : clockNative(parsed.clock);
      const region = parsed.region === undefined ? null : regionNative(parsed.region);
      const fleet = parsed.fleet === undefined ? null : parsed.fleet[ATTACH](parsed.engine.name);
      created = native.createBreaker(parsed.engine, clock, parsed.state ?? null, parsed.stateAt ?? null, region, fleet);
      if (!(created instanceof native.NativeBreaker)) {
        // Nothing was created: an invalid option, a refused `state` document, or the region's refusal.
        if (Object.hasOwn(created, 'option')) throw configError(created);
        throw Object.hasOwn(created, 'kind') ? regionError(created, parsed.region.path) : stateError(created);
      }
      this.#name = parsed.engine.name;
      this.#fleet = parsed.fleet;
    }
    this.#handle = created;
    this.#id = created.id;
    frame[FRAME_BREAKER] = created.id;
    // A breaker in a host region holds no success back either (the engine never calls one trivial:
    // another process's failure run depends on it): every call reaches the engine. A breaker with
    // a fleet does: the held successes reach both levels with the next native call (at most
    // MAX_SETTLE of them, so a sync misses at most those few successes, never a failure).
    const own = options !== ADOPT && parsed.region === undefined;
    this.#trivial = own ? trivialView() : NEVER_TRIVIAL;
    this.#trivialIndex = own ? created.id % TRIVIAL_PAGE_CELLS : 0;
    this.#timeout = parsed.timeout;
    this.#isFailure = parsed.isFailure;
    this.#fallback = parsed.fallback;
  }

  /** The breaker's name, or `undefined`. */
  get name() {
    return this.#name;
  }

  /** The `RedisFleet` the breaker's calls also go through, or `undefined`. */
  get fleet() {
    return this.#fleet;
  }

  /** The fleet level's state (`RedisFleet#status`), or `undefined` for a breaker without a fleet. */
  fleetStatus() {
    return this.#fleet === undefined ? undefined : this.#fleet.status(this.#name);
  }

  /** The current state, with any due time-driven transition applied first. */
  get state() {
    this.#settle();
    frame[FRAME_BREAKER] = this.#id;
    fastState();
    const r = frame[FRAME_RESULT];
    const events = r & EVENTS;
    if (events !== 0) this.#flush();
    return STATES[(r - events) / STATE_SCALE];
  }

  // --- run a function -----------------------------------------------------------------------

  /**
   * Runs `fn(...args)` if the breaker admits it and records the outcome. Returns a promise of
   * its result, for synchronous and asynchronous functions alike.
   */
  execute(fn) {
    // execute(fn, ...args), read from `arguments` by length and index only, so that a call with
    // at most one argument allocates nothing for them (see `ONE_ARG`).
    const argc = arguments.length - 1;
    if (argc === 1) return this.#run(fn, undefined, ONE_ARG, arguments[1]);
    if (argc <= 0) return this.#run(fn, undefined, NO_ARGS, undefined);
    const args = new Array(argc);
    for (let i = 0; i < argc; i++) args[i] = arguments[i + 1];
    return this.#run(fn, undefined, args, undefined);
  }

  /** Returns a function with `fn`'s parameters that runs `fn` through `execute` (keeping `this`). */
  wrap(fn) {
    if (typeof fn !== 'function') throw argumentError('fn', 'a function', fn);
    const breaker = this;
    // (...args), read as in `execute`.
    const wrapped = function () {
      const argc = arguments.length;
      if (argc === 1) return breaker.#run(fn, this, ONE_ARG, arguments[0]);
      if (argc === 0) return breaker.#run(fn, this, NO_ARGS, undefined);
      const args = new Array(argc);
      for (let i = 0; i < argc; i++) args[i] = arguments[i];
      return breaker.#run(fn, this, args, undefined);
    };
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
    const arity = this.#timeout === 0 ? fn.length : Math.max(0, fn.length - 1);
    Object.defineProperty(wrapped, 'length', { value: arity, configurable: true });
    return wrapped;
  }

  // The hot path: an admitted ordinary call, no timeout, nothing to emit. Everything else (a
  // probe or time-stamped permit, a rejection, pending events, a timeout) takes #runOther. The
  // call's arguments are `args`, or the single `arg` when `args` is `ONE_ARG`.
  #run(fn, thisArg, args, arg) {
    if (typeof fn !== 'function') return Promise.reject(argumentError('fn', 'a function', fn));
    const r = this.#admit();
    if (typeof r !== 'number' || r < 0 || r > SMALL_PERMIT_MAX || (r & EVENTS) !== 0 || this.#timeout !== 0) {
      return this.#runOther(r, fn, thisArg, argsArray(args, arg));
    }
    const generation = r / PERMIT_SCALE;
    let value;
    try {
      value = invoke(fn, thisArg, args, arg);
    } catch (err) {
      this.#failed(generation, undefined, err, argsArray(args, arg));
      return Promise.reject(err);
    }
    if (!(value instanceof Promise)) return this.#settleOther(generation, undefined, value, argsArray(args, arg));
    if (args === NO_ARGS || (args === ONE_ARG && !mayHoldSignal(arg)) || this.#isFailure !== undefined) {
      // Nothing of this call's own is needed to record its outcome: the reactions of its
      // generation serve every such call (no closure per call).
      if (generation !== this.#reactionsGeneration) this.#newReactions(generation);
      return value.then(this.#onFulfilled, this.#onRejected);
    }
    return value.then(
      (result) => this.#fulfilled(generation, result),
      (err) => {
        this.#failed(generation, undefined, err, argsArray(args, arg));
        throw err;
      },
    );
  }

  /** The hot path's reactions for the calls of `generation` that need nothing of their own. */
  #newReactions(generation) {
    this.#reactionsGeneration = generation;
    this.#onFulfilled = (result) => this.#fulfilled(generation, result);
    this.#onRejected = (err) => {
      this.#failed(generation, undefined, err, NO_ARGS);
      throw err;
    };
  }

  /** The success of a hot-path call: held back when trivial (see the class comment). */
  #fulfilled(generation, result) {
    if (generation === this.#trivial[this.#trivialIndex]) {
      if (++this.#pending === MAX_SETTLE) this.#settle();
      if (this._eventsCount !== 0) emit(this, 'success', result);
    } else {
      this.#succeeded(generation, undefined, result);
    }
    return result;
  }

  #runOther(r, fn, thisArg, args) {
    let generation;
    let parts;
    if (typeof r === 'number') {
      if (r < 0) return this.#rejectedAsync(r, thisArg, args);
      const events = r % PERMIT_SCALE;
      generation = (r - events) / PERMIT_SCALE;
      if (events !== 0) this.#flush();
    } else {
      generation = r[PART_GENERATION];
      parts = r;
      if (r[PART_EVENTS] !== 0) this.#flush();
    }
    if (this.#timeout !== 0) return this.#runTimed(generation, parts, fn, thisArg, args);
    let value;
    try {
      value = thisArg === undefined ? fn(...args) : fn.apply(thisArg, args);
    } catch (err) {
      this.#failed(generation, parts, err, args);
      return Promise.reject(err);
    }
    return this.#settleOther(generation, parts, value, args);
  }

  /** The result of a call whose `fn` did not return a native promise (or took the slow path). */
  #settleOther(generation, parts, value, args) {
    if (!isThenable(value)) {
      this.#succeeded(generation, parts, value);
      return Promise.resolve(value);
    }
    return Promise.resolve(value).then(
      (result) => {
        this.#succeeded(generation, parts, result);
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
      emit(this, 'timeout', err);
      emit(this, 'failure', err);
      if ((r & EVENTS) !== 0) this.#flush();
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
        this.#succeeded(generation, parts, result);
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
      const events = r % PERMIT_SCALE;
      generation = (r - events) / PERMIT_SCALE;
      if (events !== 0) this.#flush();
    } else {
      generation = r[PART_GENERATION];
      parts = r;
      if (r[PART_EVENTS] !== 0) this.#flush();
    }
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
      if ((r & EVENTS) !== 0) this.#flush();
      throw argumentError('fn', 'a synchronous function (it returned a promise: use execute())', fn);
    }
    this.#succeeded(generation, parts, value);
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
    if (r !== REJECTED) this.#flush();
    const err = new CircuitOpenError(this.#name, rejected.state, rejected.reason, rejected.retryAfter ?? undefined, rejected.fleet);
    emit(this, 'reject', err);
    return err;
  }

  // --- the engine calls ---------------------------------------------------------------------

  /** `fastAllow`, handing the held successes over first: a number, or a permit's parts. */
  #admit() {
    frame[FRAME_BREAKER] = this.#id;
    frame[FRAME_ARGS] = this.#pending;
    this.#pending = 0;
    fastAllow();
    const r = frame[FRAME_RESULT];
    return r === PERMIT_PARTS ? Array.from(frame.subarray(FRAME_ARGS, FRAME_ARGS + PARTS)) : r;
  }

  /** Hands the held successes over; called before every engine call but `#admit`. */
  #settle() {
    const pending = this.#pending;
    if (pending === 0) return;
    this.#pending = 0;
    frame[FRAME_BREAKER] = this.#id;
    frame[FRAME_ARGS] = pending;
    fastSettle();
    if ((frame[FRAME_RESULT] & EVENTS) !== 0) this.#flush();
  }

  #record(generation, parts, outcome) {
    this.#settle();
    frame[FRAME_BREAKER] = this.#id;
    if (parts === undefined) {
      frame[FRAME_ARGS] = generation * OUTCOME_SCALE + outcome;
      fastRecord();
    } else {
      frame[FRAME_ARGS] = outcome;
      frame[FRAME_ARGS + 1] = generation;
      frame[FRAME_ARGS + 2] = parts[PART_ADMITTED_HIGH];
      frame[FRAME_ARGS + 3] = parts[PART_ADMITTED_LOW];
      frame[FRAME_ARGS + 4] = parts[PART_TICKET];
      frame[FRAME_ARGS + 5] = parts[PART_FLEET_EPOCH];
      frame[FRAME_ARGS + 6] = parts[PART_FLEET_ID];
      fastRecordParts();
    }
    return frame[FRAME_RESULT];
  }

  /** Whether the success of an ordinary permit of `generation` is trivial now (the engine's
   * answer, see the class comment): then it is held back, counted in `#pending`. */
  #holdBack(generation) {
    if (generation !== this.#trivial[this.#trivialIndex]) return false;
    if (++this.#pending === MAX_SETTLE) this.#settle();
    return true;
  }

  /** A success: held back when trivial (see the class comment), else recorded. */
  #succeeded(generation, parts, value) {
    if (parts === undefined && this.#holdBack(generation)) {
      if (this._eventsCount !== 0) emit(this, 'success', value);
      return;
    }
    const recorded = this.#record(generation, parts, SUCCESS);
    if (this._eventsCount !== 0) emit(this, 'success', value);
    if ((recorded & EVENTS) !== 0) this.#flush();
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
    if (outcome === FAILURE) emit(this, 'failure', err);
    if ((r & EVENTS) !== 0) this.#flush();
  }

  // --- two-step API -------------------------------------------------------------------------

  /** Asks to make a call: returns a `Permit`, or throws `CircuitOpenError`. */
  allow() {
    const r = this.#admit();
    if (typeof r === 'number') {
      if (r < 0) throw this.#rejection(r);
      const events = r % PERMIT_SCALE;
      if (events !== 0) this.#flush();
      return new Permit(ISSUE, this, (r - events) / PERMIT_SCALE, undefined);
    }
    if (r[PART_EVENTS] !== 0) this.#flush();
    return new Permit(ISSUE, this, r[PART_GENERATION], r);
  }

  /** Records a success; `true` if it counted, `false` if the permit was stale. */
  recordSuccess(permit) {
    return this.#recordPermit(permit, SUCCESS);
  }

  /** Records a failure; `true` if it counted, `false` if the permit was stale. `retryAfter` (ms)
   * is the dependency's own retry time: if this failure opens the breaker, it stays open at least
   * that long (capped by `maxResetTimeout`); `undefined` or 0 is an ordinary failure. */
  recordFailure(permit, options) {
    if (options === undefined) return this.#recordPermit(permit, FAILURE);
    return this.#recordFailureRetryAfter(permit, options);
  }

  #recordFailureRetryAfter(permit, options) {
    if (typeof options !== 'object' || options === null) {
      throw argumentError('options', 'an object', options);
    }
    const { retryAfter } = options;
    if (retryAfter === undefined) return this.#recordPermit(permit, FAILURE);
    if (typeof retryAfter !== 'number') throw argumentError('retryAfter', 'a number of milliseconds', retryAfter);
    if (!(retryAfter >= 0 && retryAfter !== Infinity)) {
      const err = new RangeError(`\`retryAfter\` must be a finite number >= 0, got ${retryAfter}`);
      err.code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
    if (retryAfter === 0) return this.#recordPermit(permit, FAILURE);
    spendPermit(permit, this);
    const generation = permitGeneration(permit);
    const parts = permitParts(permit);
    this.#settle();
    const r =
      parts === undefined
        ? this.#handle.recordFailureRetryAfter(generation, NO_TIME_HALF, NO_TIME_HALF, NO_TICKET, retryAfter, NO_FLEET_PROBE, NO_FLEET_PROBE)
        : this.#handle.recordFailureRetryAfter(
            generation,
            parts[PART_ADMITTED_HIGH],
            parts[PART_ADMITTED_LOW],
            parts[PART_TICKET],
            retryAfter,
            parts[PART_FLEET_EPOCH],
            parts[PART_FLEET_ID],
          );
    if (r === ALREADY_RECORDED) {
      throw new PermitError('EALREADYRECORDED', 'permit already recorded: each permit takes exactly one outcome');
    }
    if ((r & EVENTS) !== 0) this.#flush();
    return (r & COUNTED) !== 0;
  }

  /** Records a neutral outcome (a probe's slot is returned); `true` if current, `false` if stale. */
  recordIgnored(permit) {
    return this.#recordPermit(permit, IGNORED);
  }

  #recordPermit(permit, outcome) {
    spendPermit(permit, this);
    const generation = permitGeneration(permit);
    const parts = permitParts(permit);
    if (outcome === SUCCESS && parts === undefined && this.#holdBack(generation)) {
      return true; // what the engine answers for a trivial success
    }
    const r = this.#record(generation, parts, outcome);
    if (r === ALREADY_RECORDED) {
      throw new PermitError('EALREADYRECORDED', 'permit already recorded: each permit takes exactly one outcome');
    }
    if ((r & EVENTS) !== 0) this.#flush();
    return (r & COUNTED) !== 0;
  }

  /** Records a probe permit that was garbage-collected unrecorded as ignored. */
  [ISSUE](dropped) {
    const r = this.#record(dropped.generation, dropped.parts, IGNORED);
    if (r !== ALREADY_RECORDED && (r & EVENTS) !== 0) this.#flush();
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
    const values = this.#handle.metrics();
    this.#flush();
    return toMetrics(values);
  }

  /** This object's own counts (`{ admitted, rejectedOpen, successes, failures, ignored, slow,
   * stale }`): for a breaker in a host region, what this process did (`metrics()` is
   * region-wide); for any other breaker, the same counts as `metrics()`. `null` when it has none
   * of its own (a region breaker whose sixteen process entries are all held by live objects). */
  processCounts() {
    this.#settle();
    const counts = this.#handle.processCounts();
    this.#flush();
    return counts === null ? null : { ...counts };
  }

  /** One snapshot's samples of the metric set (`{ family, labels, value }`), for lib/observe/. */
  [POINTS]() {
    this.#settle();
    const points = this.#handle.points();
    this.#flush();
    return points;
  }

  // --- portable state -----------------------------------------------------------------------

  /** The state document (docs/observability.md) as an object, exported at the wall-clock
   * instant `at` (ms since the epoch or a `Date`; default `Date.now()`). */
  exportState(at) {
    const ms = wallInstant(at, 'at');
    this.#settle();
    const text = this.#handle.exportState(ms);
    this.#flush();
    return JSON.parse(text);
  }

  /** The state document as an object, exported now: `JSON.stringify(breaker)` writes it. */
  toJSON() {
    return this.exportState();
  }

  /** Takes on the state of `document` (a string or an object), imported at the wall-clock
   * instant `at` (default `Date.now()`). Only a breaker not used yet imports (the `state` option
   * restores at construction); a refused document throws a `StateError` and changes nothing. */
  importState(document, at) {
    const text = documentText(document, 'document');
    const ms = wallInstant(at, 'at');
    this.#settle();
    const problem = this.#handle.importState(text, ms);
    this.#flush();
    if (problem !== null) throw stateError(problem);
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
   * Emits the transitions queued by the engine, in order. A transition caused by a listener is
   * emitted after that listener returns, by the loop already running.
   */
  #flush() {
    // Called from a listener: the transition is emitted by the loop below once it returns.
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (let batch = this.#handle.drain(); batch.length !== 0; batch = this.#handle.drain()) {
        emitTransitions(this, batch);
      }
    } finally {
      this.#flushing = false;
    }
    if (this.#afterFlush !== undefined) this.#afterFlush();
  }
}

/**
 * A `CircuitBreaker` around `handle`, a `NativeBreaker` the native layer already made (a family
 * member's), with the JavaScript options `parsed` (`parseOptions`) and `afterFlush`, called
 * after each delivery of its transitions.
 */
function adoptBreaker(handle, parsed, afterFlush) {
  return new CircuitBreaker(ADOPT, { handle, parsed, afterFlush });
}

module.exports = { CircuitBreaker, adoptBreaker };
