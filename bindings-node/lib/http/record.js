'use strict';
// What every HTTP integration (fetch.js, undici.js, axios.js) shares: the family of breakers,
// one per origin, the integration's options, and the recording of an exchange's outcome through
// the call-scoped family API (a request pins its origin's breaker only while it is in flight).
// The outcome of a response or an error is the core's classifier (lib/http/classify.js); only
// the translation of a client's errors into the classifier's kinds is here.

const { BreakerFamily } = require('../family.js');
const { argumentError } = require('../errors.js');
const { classifyResponse, classifyError } = require('./classify.js');

/** Error codes (on an error or its `cause`) of a connection that could not be made or broke. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);
/** Error codes of a client's own timeouts (undici's, axios's `timeout`). */
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The integration's own options; the rest go to the `BreakerFamily`. */
const OWN_OPTIONS = ['family', 'fallback', 'timeout', 'isFailure'];

/** The origin (`scheme://host:port`) a request goes to: its breaker's key. */
function originOf(url) {
  return new URL(url).origin;
}

/** The kind (for `classifyError`) of an error a client threw for a request that got no response:
 * `cancelled` when the caller's signal aborted, `timeout` for the integration's own timeout or
 * a client timeout, `connect` for a connection error, else `other`. */
function errorKind(err, { callerSignal, timedOut = false } = {}) {
  if (timedOut) return 'timeout';
  if (callerSignal?.aborted) return 'cancelled';
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; e = e.cause, depth++) {
    if (TIMEOUT_CODES.has(e.code) || e.name === 'TimeoutError') return 'timeout';
    if (CONNECT_CODES.has(e.code)) return 'connect';
    // axios's cancel, and an abort that reached the client through its own controller (undici's
    // `fetch` aborts the dispatch without passing the caller's signal down).
    if (e.code === 'ERR_CANCELED' || e.code === 'UND_ERR_ABORTED' || e.name === 'AbortError') return 'cancelled';
    if (Array.isArray(e.errors) && e.errors.some((inner) => CONNECT_CODES.has(inner?.code))) return 'connect';
  }
  return 'other';
}

/**
 * One integration's breakers and options: `options.family` (a `BreakerFamily`) or the options of
 * a new one (breaker options, `maxKeys`, `idleTtl`, `clock`), plus `fallback`, `timeout` (ms) and
 * `isFailure({ status, error })` (`true`: a failure; `false`: a success for a response, ignored
 * for an error; `undefined`: the core's classification).
 */
class HttpBreakers {
  constructor(options, what) {
    if (options === undefined) options = {};
    if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
    const { family, fallback, timeout, isFailure } = options;
    const familyOptions = Object.fromEntries(Object.entries(options).filter(([k]) => !OWN_OPTIONS.includes(k)));
    if (family !== undefined) {
      if (!(family instanceof BreakerFamily)) throw argumentError('family', 'a BreakerFamily', family);
      if (Object.keys(familyOptions).length !== 0) {
        const err = new TypeError(
          `${what}: give either \`family\` or the options of a new one, not both (got ${Object.keys(familyOptions).join(', ')})`,
        );
        err.code = 'ERR_INVALID_ARG_VALUE';
        throw err;
      }
    }
    if (fallback !== undefined && typeof fallback !== 'function') throw argumentError('fallback', 'a function', fallback);
    if (isFailure !== undefined && typeof isFailure !== 'function') throw argumentError('isFailure', 'a function', isFailure);
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0 && timeout <= 2 ** 31 - 1))) {
      const err = new RangeError(`\`timeout\` must be a number of milliseconds from 1 to ${2 ** 31 - 1}, got ${timeout}`);
      err.code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
    this.family = family ?? new BreakerFamily(familyOptions);
    this.fallback = fallback;
    this.timeout = timeout;
    this.isFailure = isFailure;
  }

  /** A permit for a request to `origin`, or throws `CircuitOpenError` (with `key`). */
  admit(origin) {
    return this.family.allow(origin);
  }

  /** Records a response (its headers arrived): the core's verdict, with its `Retry-After`. */
  recordResponse(permit, status, retryAfterHeader) {
    const verdict = () => {
      const v = classifyResponse(status, retryAfterHeader ?? null, Date.now());
      return this.#record(permit, v.outcome, v.retryAfter);
    };
    const override = this.#override({ status }, verdict);
    if (override !== undefined) {
      return override ? this.family.recordFailure(permit) : this.family.recordSuccess(permit);
    }
    return verdict();
  }

  /** Records an exchange that ended without a response, with the error's `kind` (`errorKind`). */
  recordError(permit, error, kind) {
    const verdict = () => this.#record(permit, classifyError(kind), null);
    const override = this.#override({ error }, verdict);
    if (override !== undefined) {
      return override ? this.family.recordFailure(permit) : this.family.recordIgnored(permit);
    }
    return verdict();
  }

  /** The user's `isFailure` answer; if it throws, the core's `verdict` is recorded first (the
   * permit never stays out) and the error goes on to the caller. */
  #override(exchange, verdict) {
    if (this.isFailure === undefined) return undefined;
    let answer;
    try {
      answer = this.isFailure(exchange);
    } catch (err) {
      verdict();
      throw err;
    }
    return answer === undefined ? undefined : Boolean(answer);
  }

  #record(permit, outcome, retryAfter) {
    if (outcome === 'success') return this.family.recordSuccess(permit);
    if (outcome === 'ignored') return this.family.recordIgnored(permit);
    return this.family.recordFailure(permit, retryAfter === null ? undefined : { retryAfter });
  }
}

module.exports = { HttpBreakers, originOf, errorKind };
