'use strict';
// What a call's result and error are: a thenable or not, and the default classification of an
// error (`isFailure` unset): an abort the caller asked for is ignored, anything else (a timeout
// included) is a failure.

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

/** Whether an argument can be (or carry, as `{ signal }`) an `AbortSignal`: only an object can;
 * `abortedByCaller` looks at no other argument. */
function mayHoldSignal(arg) {
  return arg !== null && typeof arg === 'object';
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
    if (!mayHoldSignal(arg)) continue;
    const signal = arg instanceof AbortSignal ? arg : arg.signal instanceof AbortSignal ? arg.signal : undefined;
    if (signal === undefined || !signal.aborted || isTimeout(signal.reason)) continue;
    if (err === signal.reason || isAbortError(err)) return true;
  }
  return false;
}

module.exports = { isThenable, abortedByCaller, mayHoldSignal };
