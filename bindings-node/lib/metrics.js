'use strict';
// The metrics snapshot: the native snapshot's numbers (one per field of the core's schema, in
// its order) as the object `metrics()` returns, with camelCase keys.

const { STATES, METRIC_FIELDS } = require('./schema.js');
const { NO_DURATION } = require('./protocol.js');

/** The object of `breaker.metrics()` from `NativeBreaker.metrics()`. */
function toMetrics(values) {
  const m = {};
  for (let i = 0; i < METRIC_FIELDS.length; i++) {
    const { key, kind } = METRIC_FIELDS[i];
    const value = values[i];
    m[key] = kind === 'state' ? STATES[value] : kind === 'optional_duration' && value === NO_DURATION ? undefined : value;
  }
  return m;
}

module.exports = { toMetrics };
