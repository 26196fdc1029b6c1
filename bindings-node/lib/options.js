'use strict';
// The options of `new CircuitBreaker(options)`: engine options come from the core's schema (the
// native layer converts each by its kind), `timeout`, `isFailure`, `fallback`, `clock`, `state`
// and `stateAt` (a state document to restore, lib/state.js) and `region` (a HostRegion,
// lib/region.js) are handled in JavaScript. Misspelt and opossum-style names get a "did you mean".

const { ManualClock } = require('./clock.js');
const { HostRegion } = require('./region.js');
const { RedisFleet } = require('./fleet.js');
const { ENGINE_OPTIONS } = require('./schema.js');
const { typeError, rangeError, argumentError } = require('./errors.js');
const { documentText, wallInstant } = require('./state.js');

const MAX_TIMER_MS = 0x7fffffff;

/** Options handled in JavaScript. */
const JS_OPTIONS = new Set(['timeout', 'isFailure', 'fallback', 'clock', 'state', 'stateAt', 'region', 'fleet']);
const CAMEL = Object.fromEntries(Object.entries(ENGINE_OPTIONS).map(([camel, [snake]]) => [snake, camel]));
/** Matches core option names inside a core message, longest first. */
const SNAKE_NAMES = new RegExp(
  `\\b(${Object.keys(CAMEL)
    .sort((a, b) => b.length - a.length)
    .join('|')})\\b`,
  'g',
);

const U64 = 2n ** 64n;

/** `jitterSeed`: a whole number in [0, 2^64 - 1], as a safe-integer number or a bigint (the
 * decimal string the native layer parses). Negative, fractional, NaN, infinite, unsafe and
 * too-large values are refused, as by the other bindings: none is silently wrapped or rounded. */
function parseSeed(value) {
  const range = 'must be a whole number in [0, 2^64 - 1] (a bigint above 2^53 - 1)';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw rangeError('jitterSeed', `${range}, got ${value}`);
    return String(value === 0 ? 0 : value); // -0 is 0
  }
  if (typeof value !== 'bigint') throw typeError('jitterSeed', 'a number or a bigint', value);
  if (value < 0n || value >= U64) throw rangeError('jitterSeed', `${range}, got ${value}n`);
  return value.toString();
}

function parseOptions(options) {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
  const engine = {};
  const parsed = {
    engine,
    timeout: 0,
    isFailure: undefined,
    fallback: undefined,
    clock: undefined,
    state: undefined,
    stateAt: undefined,
    region: undefined,
    fleet: undefined,
  };
  for (const key of Object.keys(options)) {
    const value = options[key];
    if (value === undefined) continue;
    const spec = Object.hasOwn(ENGINE_OPTIONS, key) ? ENGINE_OPTIONS[key] : undefined;
    if (spec !== undefined) {
      const kind = spec[1];
      if (kind === 'text') {
        if (typeof value !== 'string') throw typeError(key, 'a string', value);
        engine[key] = value;
      } else if (kind === 'seed') {
        engine[key] = parseSeed(value);
      } else {
        if (typeof value !== 'number') throw typeError(key, 'a number', value);
        engine[key] = value;
      }
      continue;
    }
    if (!JS_OPTIONS.has(key)) throw unknownOption(key);
    if (key === 'timeout') {
      if (typeof value !== 'number') throw typeError(key, 'a number of milliseconds', value);
      if (!(value > 0 && value <= MAX_TIMER_MS)) {
        throw rangeError(key, `must be a number of milliseconds in (0, ${MAX_TIMER_MS}], got ${value}`);
      }
      parsed.timeout = value;
    } else if (key === 'clock') {
      if (!(value instanceof ManualClock)) throw typeError(key, 'a ManualClock', value);
      parsed.clock = value;
    } else if (key === 'region') {
      if (!(value instanceof HostRegion)) throw typeError(key, 'a HostRegion', value);
      parsed.region = value;
    } else if (key === 'fleet') {
      if (!(value instanceof RedisFleet)) throw typeError(key, 'a RedisFleet (redisFleet(client, options))', value);
      parsed.fleet = value;
    } else if (key === 'state') {
      parsed.state = documentText(value, key);
    } else if (key === 'stateAt') {
      parsed.stateAt = wallInstant(value, key);
    } else {
      if (typeof value !== 'function') throw typeError(key, 'a function', value);
      parsed[key] = value;
    }
  }
  if (parsed.stateAt !== undefined && parsed.state === undefined) {
    const err = new TypeError('option `stateAt` is the instant of restoring `state`, which is not given');
    err.code = 'ERR_INVALID_ARG_VALUE';
    err.option = 'stateAt';
    throw err;
  }
  if (parsed.region !== undefined) {
    // A breaker in a region runs on the region's clock and joins the region's state.
    const other = parsed.clock !== undefined ? 'clock' : parsed.state !== undefined ? 'state' : undefined;
    if (other !== undefined) {
      const why = other === 'clock' ? "it runs on the region's clock (a manual one with `manualClock: true`)" : 'it takes on the state the region holds';
      const err = new TypeError(`option \`${other}\` cannot be combined with \`region\`: ${why}`);
      err.code = 'ERR_INVALID_ARG_VALUE';
      err.option = other;
      throw err;
    }
  }
  if (parsed.fleet !== undefined && typeof engine.name !== 'string') {
    const err = new TypeError('option `fleet` needs a `name` (the fleet breaker\'s name in the store)');
    err.code = 'ERR_INVALID_ARG_VALUE';
    err.option = 'fleet';
    throw err;
  }
  if (parsed.state !== undefined && parsed.stateAt === undefined) parsed.stateAt = Date.now();
  return parsed;
}

/** Edit distance, for "did you mean" on a misspelt option. */
function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** opossum's option names, for people migrating (docs/node.md has the whole table). */
const OPOSSUM = {
  errorThresholdPercentage: ['failureRateThreshold', 'a fraction: 0.5 for 50%'],
  volumeThreshold: ['minimumCalls'],
  rollingCountTimeout: ['windowDuration'],
  rollingCountBuckets: ['windowBuckets'],
  errorFilter: ['isFailure', 'opposite polarity: return false to ignore an error'],
  abortController: ['timeout', 'each call gets its own signal'],
};

function unknownOption(key) {
  let [guess, note] = Object.hasOwn(OPOSSUM, key) ? OPOSSUM[key] : [CAMEL[key.replace(/_ms$/, '')]];
  if (guess === undefined) {
    const lower = key.toLowerCase();
    const [best] = [...Object.keys(ENGINE_OPTIONS), ...JS_OPTIONS]
      .map((name) => [name, distance(lower, name.toLowerCase())])
      .sort((x, y) => x[1] - y[1]);
    if (best[1] <= Math.max(2, Math.floor(key.length / 4))) guess = best[0];
  }
  const hint = guess === undefined ? '' : `; did you mean \`${guess}\`${note === undefined ? '' : ` (${note})`}?`;
  const err = new TypeError(`unknown option \`${key}\`${hint}`);
  err.code = 'ERR_INVALID_ARG_VALUE';
  err.option = key;
  return err;
}

function configError(problem) {
  const option = CAMEL[problem.option] ?? problem.option;
  return rangeError(option, problem.reason.replace(SNAKE_NAMES, (snake) => CAMEL[snake]));
}

module.exports = { parseOptions, configError };
