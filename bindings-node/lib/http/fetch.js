'use strict';
// `circuit-core/fetch`: `wrapFetch(fetch, options)`, a `fetch` with one breaker per origin. The outcome
// is recorded when the response's headers arrive (when `fetch` resolves); the body is the
// caller's to stream, never read here. Shared logic: lib/http/record.js.

const { CircuitOpenError, TimeoutError, argumentError } = require('../errors.js');
const { HttpBreakers, originOf, errorKind } = require('./record.js');

/** The URL and the caller's `AbortSignal` of `fetch(input, init)`. */
function requestParts(input, init) {
  const isRequest = typeof Request !== 'undefined' && input instanceof Request;
  const url = isRequest ? input.url : input instanceof URL ? input.href : String(input);
  const callerSignal = init?.signal ?? (isRequest ? input.signal : undefined) ?? undefined;
  return { url, callerSignal };
}

/**
 * A `fetch` protected by one breaker per origin (a `BreakerFamily`, `options.family` or one made
 * from the other options). `options.timeout` (ms) aborts a request whose headers have not arrived
 * in time (a failure); `options.fallback(request, err)` answers a rejected request instead of the
 * `CircuitOpenError`; `options.isFailure({ status, error })` overrides the classification.
 */
function wrapFetch(fetch, options) {
  if (typeof fetch !== 'function') throw argumentError('fetch', 'a fetch function', fetch);
  const breakers = new HttpBreakers(options, 'wrapFetch');
  const { timeout, fallback } = breakers;

  async function circuitFetch(input, init) {
    const { url, callerSignal } = requestParts(input, init);
    const origin = originOf(url);
    let permit;
    try {
      permit = breakers.admit(origin);
    } catch (err) {
      if (!(err instanceof CircuitOpenError) || fallback === undefined) throw err;
      return fallback(new Request(input, init), err);
    }
    let timer;
    let timedOut = false;
    let signal = callerSignal;
    if (timeout !== undefined) {
      const ours = new AbortController();
      timer = setTimeout(() => {
        timedOut = true;
        const name = breakers.family.name;
        ours.abort(new TimeoutError(name === undefined ? origin : `${name}/${origin}`, timeout));
      }, timeout);
      signal = callerSignal === undefined ? ours.signal : AbortSignal.any([callerSignal, ours.signal]);
    }
    let response;
    try {
      response = await fetch(input, signal === callerSignal ? init : { ...init, signal });
    } catch (err) {
      clearTimeout(timer);
      breakers.recordError(permit, err, errorKind(err, { callerSignal, timedOut }));
      throw err;
    }
    // The headers are in: the timeout (of the protected call) ends here, the body is the caller's.
    clearTimeout(timer);
    breakers.recordResponse(permit, response.status, response.headers.get('retry-after'));
    return response;
  }
  return circuitFetch;
}

module.exports = { wrapFetch };
