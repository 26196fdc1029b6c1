'use strict';
// The metrics snapshot: the native snapshot's numbers (one per field of the core's schema, in
// its order, then four per non-zero lifetime transition count: from, to, reason, count; see
// `metrics_values` in src/breaker.rs) as the object `metrics()` returns, with camelCase keys and
// `transitions`, an array of `{ from, to, reason, count }`. `POINTS` names the internal method of
// a breaker and a family that gives one snapshot's samples of the metric set (lib/observe/).

const { STATES, REASONS, METRIC_FIELDS } = require('./schema.js');
const { NO_DURATION } = require('./protocol.js');

/** The numbers of one lifetime transition count in the native snapshot. */
const TRANSITION_COUNT_FIELDS = 4;

/** The method of `CircuitBreaker` and `BreakerFamily` giving one snapshot's samples (`points()`
 * of the native layer: `{ family, labels, value }`), for the exporters of lib/observe/. */
const POINTS = Symbol('circuit.points');

/** The object of `breaker.metrics()` from `NativeBreaker.metrics()`. */
function toMetrics(values) {
  const m = {};
  const scalars = METRIC_FIELDS.length;
  for (let i = 0; i < scalars; i++) {
    const { key, kind } = METRIC_FIELDS[i];
    const value = values[i];
    m[key] = kind === 'state' ? STATES[value] : kind === 'optional_duration' && value === NO_DURATION ? undefined : value;
  }
  const transitions = [];
  for (let i = scalars; i + TRANSITION_COUNT_FIELDS <= values.length; i += TRANSITION_COUNT_FIELDS) {
    transitions.push(
      Object.freeze({ from: STATES[values[i]], to: STATES[values[i + 1]], reason: REASONS[values[i + 2]], count: values[i + 3] }),
    );
  }
  m.transitions = transitions;
  return m;
}

module.exports = { toMetrics, POINTS };
