'use strict';
// The core's HTTP outcome classifier (core/src/http.rs, docs/semantics.md "HTTP outcomes"), with
// the arguments checked and named here: the addon only converts (src/http.rs). Outcomes are
// 'success', 'failure' or 'ignored'; durations are milliseconds; `now` is wall-clock
// milliseconds since the Unix epoch (default `Date.now()`), used only to measure an HTTP-date.

const native = require('../../binding.js');
const { argumentError } = require('../errors.js');

/** How an exchange can end without a response (the core's `HttpError` spellings). */
const ERROR_KINDS = Object.freeze(['connect', 'timeout', 'cancelled', 'other']);

function outOfRange(name, expected, value) {
  const err = new RangeError(`\`${name}\` must be ${expected}, got ${value}`);
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

function checkStatus(status) {
  if (typeof status !== 'number') throw argumentError('status', 'a number', status);
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw outOfRange('status', 'a whole number from 100 to 999', status);
  }
  return status;
}

function checkNow(now) {
  if (now === undefined) return Date.now();
  if (typeof now !== 'number') throw argumentError('now', 'a number of milliseconds since the Unix epoch', now);
  if (!(now >= 0 && now !== Infinity)) throw outOfRange('now', 'a finite number >= 0', now);
  return now;
}

/** The outcome a response with this status stands for: 5xx except 501, 408 and 429 fail. */
function classifyStatus(status) {
  return native.httpClassifyStatus(checkStatus(status));
}

/** The outcome of an exchange that ended without a response: `cancelled` is ignored, the rest fail. */
function classifyError(kind) {
  if (typeof kind !== 'string') throw argumentError('kind', `one of ${ERROR_KINDS.join(', ')}`, kind);
  const outcome = native.httpClassifyError(kind);
  if (outcome === null) {
    const err = new RangeError(`\`kind\` must be one of ${ERROR_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  return outcome;
}

/** `{ outcome, retryAfter }`: the response's outcome and, for a failure, the `Retry-After` retry
 * time in ms (`null` when absent, unparsable, or the response is not a failure). */
function classifyResponse(status, retryAfter, now) {
  checkStatus(status);
  if (retryAfter !== undefined && retryAfter !== null && typeof retryAfter !== 'string') {
    throw argumentError('retryAfter', 'a string (the Retry-After header), null or undefined', retryAfter);
  }
  const verdict = native.httpClassifyResponse(status, retryAfter ?? null, checkNow(now));
  return { outcome: verdict.outcome, retryAfter: verdict.retryAfter ?? null };
}

/** A `Retry-After` value (delta-seconds or an HTTP-date) in ms from `now`, or `null`. */
function parseRetryAfter(value, now) {
  if (typeof value !== 'string') throw argumentError('value', 'a string (the Retry-After header)', value);
  return native.httpParseRetryAfter(value, checkNow(now)) ?? null;
}

module.exports = { classifyStatus, classifyError, classifyResponse, parseRetryAfter, ERROR_KINDS };
