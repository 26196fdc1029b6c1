'use strict';
// `circuit-core/undici`: an interceptor for undici's `Dispatcher#compose` (undici >= 7, whose
// interceptors receive handlers with the `onRequestStart`/`onResponseStart`/`onResponseError`
// API), one breaker per origin. The outcome is recorded when the response's headers arrive
// (`onResponseStart`) or the request fails (`onResponseError`); a rejected request fails with a
// `CircuitOpenError` through `handler.onResponseError` without reaching the network. Shared
// logic: lib/http/record.js.

const { HttpBreakers, originOf, errorKind } = require('./record.js');

/** The request's handler, with the outcome recorded on the way (each callback forwarded). */
class RecordingHandler {
  #handler;
  #breakers;
  #permit;
  #callerSignal;
  #recorded = false;

  constructor(handler, breakers, permit, callerSignal) {
    this.#handler = handler;
    this.#breakers = breakers;
    this.#permit = permit;
    this.#callerSignal = callerSignal;
  }

  onRequestStart(controller, context) {
    return this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller, statusCode, headers, socket) {
    this.#once(() => this.#breakers.recordResponse(this.#permit, statusCode, null));
    return this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller, statusCode, headers, statusMessage) {
    const retryAfter = headers?.['retry-after'];
    this.#once(() =>
      this.#breakers.recordResponse(this.#permit, statusCode, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
    );
    return this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller, chunk) {
    return this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller, trailers) {
    return this.#handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller, err) {
    // An error after the headers (a broken body) is the caller's: the exchange was recorded.
    const signal = this.#callerSignal;
    this.#once(() => this.#breakers.recordError(this.#permit, err, errorKind(err, { callerSignal: signal })));
    return this.#handler.onResponseError?.(controller, err);
  }

  #once(record) {
    if (this.#recorded) return;
    this.#recorded = true;
    record();
  }
}

/** A controller for a request that never started (rejected by its breaker). */
const NOT_STARTED = Object.freeze({
  abort() {},
  pause() {},
  resume() {},
  paused: false,
  aborted: true,
  reason: null,
});

/**
 * `interceptor(options)`: `(dispatch) => (opts, handler) => ...`, for
 * `new Agent().compose(interceptor({ failureThreshold: 5 }))`. Options as `wrapFetch`'s, without
 * `timeout` and `fallback` (undici's own `headersTimeout`/`connectTimeout` count as timeouts).
 */
function interceptor(options) {
  const breakers = new HttpBreakers(options, 'circuit-core/undici interceptor');
  if (breakers.timeout !== undefined || breakers.fallback !== undefined) {
    const err = new TypeError(
      'circuit-core/undici interceptor: `timeout` and `fallback` are not options of the interceptor (use undici\'s headersTimeout)',
    );
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  return (dispatch) =>
    function circuitDispatch(opts, handler) {
      const origin = originOf(opts.origin);
      let permit;
      try {
        permit = breakers.admit(origin);
      } catch (err) {
        queueMicrotask(() => handler.onResponseError?.(NOT_STARTED, err));
        return true;
      }
      return dispatch(opts, new RecordingHandler(handler, breakers, permit, opts.signal ?? undefined));
    };
}

module.exports = { interceptor };
