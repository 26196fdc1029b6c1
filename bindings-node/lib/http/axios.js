'use strict';
// `circuit-core/axios`: `attach(instance, options)` wraps the instance's adapter with one breaker per
// origin. The outcome is recorded when the adapter settles: for the default responseType that is
// once axios has buffered the body; with `responseType: 'stream'` it is when the headers arrive.
// A rejected request fails with `CircuitOpenError` (code ECIRCUITOPEN) without reaching the
// network. Shared logic: lib/http/record.js.

const { CircuitOpenError, argumentError } = require('../errors.js');
const { HttpBreakers, originOf, errorKind } = require('./record.js');

/** The absolute URL of a request's config (`url` resolved against `baseURL`). */
function urlOf(config) {
  return config.baseURL === undefined ? new URL(config.url).href : new URL(config.url ?? '', config.baseURL).href;
}

function headerOf(headers, name) {
  if (headers === undefined || headers === null) return null;
  const value = typeof headers.get === 'function' ? headers.get(name) : headers[name];
  return value === undefined || value === null ? null : String(value);
}

/**
 * Protects every request of the axios `instance` (its `defaults.adapter` is wrapped; returns
 * `instance`). Options as `wrapFetch`'s, without `timeout` (axios's own `timeout` counts as a
 * timeout); `fallback(config, err)` gives the response of a rejected request.
 */
function attach(instance, options) {
  if (instance === null || (typeof instance !== 'object' && typeof instance !== 'function') || !instance.defaults) {
    throw argumentError('instance', 'an axios instance', instance);
  }
  const breakers = new HttpBreakers(options, 'circuit-core/axios attach');
  if (breakers.timeout !== undefined) {
    const err = new TypeError('circuit-core/axios attach: `timeout` is not an option of attach (use axios\'s own `timeout`)');
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  // axios is a peer dependency: its `getAdapter` turns the instance's adapter setting (names or a
  // function) into the function the wrapper calls, per request (some adapters depend on it).
  const { getAdapter } = require('axios');
  const original = instance.defaults.adapter;
  instance.defaults.adapter = async function circuitAdapter(config) {
    const origin = originOf(urlOf(config));
    let permit;
    try {
      permit = breakers.admit(origin);
    } catch (err) {
      if (!(err instanceof CircuitOpenError) || breakers.fallback === undefined) throw err;
      return breakers.fallback(config, err);
    }
    let response;
    try {
      response = await getAdapter(original, config)(config);
    } catch (err) {
      // A status that validateStatus refused comes as an error with its response.
      if (err?.response !== undefined) {
        breakers.recordResponse(permit, err.response.status, headerOf(err.response.headers, 'retry-after'));
      } else {
        breakers.recordError(permit, err, errorKind(err, { callerSignal: config.signal }));
      }
      throw err;
    }
    breakers.recordResponse(permit, response.status, headerOf(response.headers, 'retry-after'));
    return response;
  };
  return instance;
}

module.exports = { attach };
