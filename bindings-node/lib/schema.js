'use strict';
// The core's public surface, as the addon exports it (`schema()` in src/schema.rs): the tables
// every other file builds on, so that no JavaScript file types an option name, a metrics field
// or a spelling.

const native = require('../binding.js');

const schema = native.schema();

/** State, transition-reason and outcome spellings, by the core's integer codes. */
const STATES = Object.freeze(schema.states);
const REASONS = Object.freeze(schema.reasons);
const SUCCESS = schema.outcomes.indexOf('success');
const FAILURE = schema.outcomes.indexOf('failure');
const IGNORED = schema.outcomes.indexOf('ignored');

/** The fields of `metrics()`, in the order the native snapshot has them: `{ key, kind }` with the
 * camelCase key. */
const METRIC_FIELDS = Object.freeze(schema.metrics.map((m) => Object.freeze({ key: m.jsName, kind: m.kind })));

/** Engine options: camelCase name -> [core (snake_case) name, kind] (`text`, `count`, `number`,
 * `duration` in ms, `seed`). */
const ENGINE_OPTIONS = Object.freeze(
  Object.fromEntries(schema.options.map((o) => [o.jsName, Object.freeze([o.name, o.kind])])),
);

/** Fleet breaker options (`redisFleet`): camelCase name -> [core name, kind, bounds]. */
const FLEET_OPTIONS = Object.freeze(
  Object.fromEntries(schema.fleetOptions.map((o) => [o.jsName, Object.freeze([o.name, o.kind, o.bounds])])),
);

module.exports = { STATES, REASONS, SUCCESS, FAILURE, IGNORED, METRIC_FIELDS, ENGINE_OPTIONS, FLEET_OPTIONS };
