'use strict';
// `family.execute(key, fn, ...args)`: one call on the member for `key` through the call-scoped
// API (`family.allow` + `family.record*`), so nothing is pinned once the call has settled. The
// members' JavaScript options apply as they do to `breaker.execute`: `timeout` (the call gets
// `{ signal }` as its last argument and a `TimeoutError` is a failure), `isFailure` and
// `fallback(...args, err)` for a rejection.

const { CircuitOpenError, TimeoutError, argumentError } = require('./errors.js');
const { CallOptions, abortCall } = require('./timeout.js');
const { abortedByCaller } = require('./classify.js');
const { warnListener } = require('./events.js');

/** Records the error of a call: a failure unless `isFailure` (or the default classification, the
 * caller's own abort) says it is neutral. */
function recordError(family, parsed, permit, err, args) {
  let failure;
  if (parsed.isFailure === undefined) {
    failure = !abortedByCaller(err, args);
  } else {
    try {
      failure = Boolean(parsed.isFailure(err));
    } catch (classifyError) {
      failure = true;
      warnListener(family, 'isFailure', classifyError);
    }
  }
  if (failure) family.recordFailure(permit);
  else family.recordIgnored(permit);
}

async function executeInFamily(family, parsed, key, fn, args) {
  if (typeof fn !== 'function') throw argumentError('fn', 'a function', fn);
  let permit;
  try {
    permit = family.allow(key);
  } catch (err) {
    if (!(err instanceof CircuitOpenError) || parsed.fallback === undefined) throw err;
    return parsed.fallback(...args, err);
  }
  if (parsed.timeout !== 0) return runTimed(family, parsed, permit, fn, args);
  let result;
  try {
    result = await fn(...args);
  } catch (err) {
    recordError(family, parsed, permit, err, args);
    throw err;
  }
  family.recordSuccess(permit);
  return result;
}

/** A call with `timeout`, as `breaker.execute` runs one: the timer (unref'd) records a failure,
 * aborts the call's signal and rejects with a `TimeoutError` if it fires first. */
function runTimed(family, parsed, permit, fn, args) {
  const options = new CallOptions();
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      const err = new TimeoutError(family.name === undefined ? permit.key : `${family.name}/${permit.key}`, parsed.timeout);
      family.recordFailure(permit);
      abortCall(options, err);
      reject(err);
    }, parsed.timeout);
    timer.unref();
    Promise.resolve()
      .then(() => fn(...args, options))
      .then(
        (result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          family.recordSuccess(permit);
          resolve(result);
        },
        (err) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          recordError(family, parsed, permit, err, args);
          reject(err);
        },
      );
  });
}

module.exports = { executeInFamily };
