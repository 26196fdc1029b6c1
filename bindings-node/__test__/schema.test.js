'use strict';
// Walks the core's schema, as the addon exports it (`schema()`), and proves that the package
// declares and documents all of it: every option is an optional camelCase property of
// `CircuitBreakerOptions` in index.d.ts with the type of its kind, and a row of docs/node.md's
// options table whose default is the schema's default text; every metrics field is a property of
// `Metrics` and a key of `metrics()`; the string unions of index.d.ts spell exactly the native
// states and reasons, in code order. An option or field added to the core without the binding's
// types and docs fails here.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const native = require('../binding.js');
const { CircuitBreaker } = require('..');

const schema = native.schema();
const DTS = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
const DOC = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'node.md'), 'utf8');

/** The options index.js handles itself (not engine options). */
const JS_ONLY = ['timeout', 'isFailure', 'fallback', 'clock', 'state', 'stateAt', 'region', 'fleet'];
/** The members of `Metrics` that are not scalars of the core's schema. */
const NON_SCALAR = ['transitions'];
/** The TypeScript type of each option kind. */
const OPTION_TYPES = { text: 'string', count: 'number', number: 'number', duration: 'number', seed: 'bigint | number' };
/** The TypeScript type of each metrics kind. */
const METRIC_TYPES = { state: 'State', count: 'number', rate: 'number', duration: 'number', optional_duration: 'number | undefined' };

/** `failure_threshold` -> `failureThreshold` (this test's own spelling rule, not the addon's). */
const camel = (snake) => snake.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
/** A union type, its members sorted: `number | bigint` -> `bigint | number`. */
const normalise = (type) => type.split('|').map((t) => t.trim()).sort().join(' | ');

/** The properties of `export interface <name>` in index.d.ts: name -> { optional, type }. */
function dtsInterface(name) {
  const match = DTS.match(new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)^\\}`, 'm'));
  assert.ok(match, `index.d.ts has no \`export interface ${name}\``);
  const body = match[1].replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const props = new Map();
  for (const [, prop, optional, type] of body.matchAll(/^\s*(?:readonly\s+)?(\w+)(\?)?:\s*([^;]+);/gm)) {
    props.set(prop, { optional: optional === '?', type: type.trim() });
  }
  return props;
}

/** The string literals of `export type <name> = 'a' | 'b' ...;` in index.d.ts, in order. */
function dtsUnion(name) {
  const match = DTS.match(new RegExp(`^export type ${name} =([^;]*);`, 'm'));
  assert.ok(match, `index.d.ts has no \`export type ${name}\``);
  return [...match[1].matchAll(/'([^']*)'/g)].map((m) => m[1]);
}

/** docs/node.md's options table: camelCase option -> default cell. */
function docOptions() {
  const section = DOC.slice(DOC.indexOf('\n### Options\n'), DOC.indexOf('\n### Errors\n'));
  assert.ok(section.length > 0, 'docs/node.md has an "### Options" section before "### Errors"');
  return new Map([...section.matchAll(/^\| `(\w+)` \| ([^|]*) \|/gm)].map(([, option, cell]) => [option, cell.trim()]));
}

describe('fleet schema', () => {
  const { redisFleet } = require('..');
  const client = { evalsha() {}, eval() {} };
  /** The TypeScript type of each fleet option kind (a rate takes null: its rule off). */
  const fleetType = (o) =>
    o.kind === 'text' ? null : o.kind === 'number' && o.bounds.includes('none') ? 'null | number' : 'number';

  test('every fleet option is an optional property of RedisFleetOptions, and nothing else is', () => {
    assert.ok(schema.fleetOptions.length >= 15, `${schema.fleetOptions.length} fleet options`);
    const props = dtsInterface('RedisFleetOptions');
    for (const o of schema.fleetOptions) {
      assert.equal(o.jsName, camel(o.name));
      const prop = props.get(o.jsName);
      assert.ok(prop, `index.d.ts RedisFleetOptions lacks \`${o.jsName}\` (${o.name})`);
      assert.ok(prop.optional, `${o.jsName} is optional`);
      if (fleetType(o) !== null) assert.equal(normalise(prop.type), fleetType(o), `${o.jsName}'s type`);
    }
    // The host's own options: the event hook, and how long an idle fleet breaker is kept.
    const known = new Set([...schema.fleetOptions.map((o) => o.jsName), 'onEvent', 'idleTtl']);
    for (const prop of props.keys()) assert.ok(known.has(prop), `RedisFleetOptions.${prop} is not a core fleet option`);
  });

  test('redisFleet takes every fleet option by the schema and refuses a wrong type naming it', () => {
    for (const o of schema.fleetOptions) {
      const wrong = o.kind === 'text' ? 1 : 'x';
      assert.throws(() => redisFleet(client, { [o.jsName]: wrong }), { code: 'ERR_INVALID_ARG_TYPE', option: o.jsName });
    }
    // Each documented default, given explicitly, is accepted (durations and counts as numbers).
    const given = {};
    for (const o of schema.fleetOptions) {
      const [value, unit] = o.default.split(' ');
      const scale = { ms: 1, s: 1000, h: 3600000 }[unit] ?? 1;
      given[o.jsName] = o.kind === 'text' ? value : value === 'none' ? null : Number(value) * scale;
    }
    assert.doesNotThrow(() => redisFleet(client, given));
  });
});

describe('schema', () => {
  test('the addon exports the core schema', () => {
    assert.ok(schema.options.length >= 17, `${schema.options.length} options`);
    assert.ok(schema.metrics.length >= 18, `${schema.metrics.length} metrics fields`);
    for (const o of schema.options) {
      assert.ok(Object.hasOwn(OPTION_TYPES, o.kind), `${o.name}: unknown kind ${o.kind}`);
      assert.equal(o.jsName, camel(o.name));
      for (const field of ['default', 'bounds', 'doc']) assert.ok(o[field].length > 0, `${o.name}.${field}`);
    }
    for (const m of schema.metrics) {
      assert.ok(Object.hasOwn(METRIC_TYPES, m.kind), `${m.name}: unknown kind ${m.kind}`);
      assert.equal(m.jsName, camel(m.name));
    }
  });

  test('every option is an optional property of CircuitBreakerOptions with the type of its kind', () => {
    const props = dtsInterface('CircuitBreakerOptions');
    for (const o of schema.options) {
      const prop = props.get(camel(o.name));
      assert.ok(prop, `index.d.ts CircuitBreakerOptions lacks \`${camel(o.name)}\` (${o.name})`);
      assert.ok(prop.optional, `\`${camel(o.name)}\` is optional`);
      assert.equal(normalise(prop.type), OPTION_TYPES[o.kind], `\`${camel(o.name)}\` (${o.kind})`);
    }
    const known = new Set([...schema.options.map((o) => camel(o.name)), ...JS_ONLY]);
    for (const name of props.keys()) assert.ok(known.has(name), `CircuitBreakerOptions.${name} is not an option`);
  });

  test("every option is a row of docs/node.md's options table, with the schema's default", () => {
    const rows = docOptions();
    for (const o of schema.options) {
      const option = camel(o.name);
      assert.ok(rows.has(option), `docs/node.md options table lacks \`${option}\``);
      assert.equal(rows.get(option), o.default, `default of \`${option}\``);
    }
    const known = new Set([...schema.options.map((o) => camel(o.name)), ...JS_ONLY]);
    for (const option of rows.keys()) assert.ok(known.has(option), `docs/node.md documents an unknown option \`${option}\``);
  });

  test('every option is known to index.js and read by the native layer, by its kind', () => {
    for (const o of schema.options) {
      const option = camel(o.name);
      const wrong = o.kind === 'text' ? 42 : true;
      assert.throws(
        () => new CircuitBreaker({ [option]: wrong }),
        (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE' && err.option === option,
        option,
      );
      const problem = native.createBreaker({ [option]: wrong }, null);
      assert.ok(!(problem instanceof native.NativeBreaker), `createBreaker ignored \`${option}\``);
      assert.equal(problem.option, o.name);
      assert.match(problem.reason, /^must be a (string|number)$/);
    }
  });

  test('every metrics field is a property of Metrics, and a key of metrics(), in schema order', () => {
    const props = dtsInterface('Metrics');
    for (const m of schema.metrics) {
      const prop = props.get(camel(m.name));
      assert.ok(prop, `index.d.ts Metrics lacks \`${camel(m.name)}\` (${m.name})`);
      assert.equal(normalise(prop.type), normalise(METRIC_TYPES[m.kind]), `Metrics.${camel(m.name)} (${m.kind})`);
    }
    const names = schema.metrics.map((m) => camel(m.name));
    assert.deepEqual([...props.keys()].sort(), [...names, ...NON_SCALAR].sort(), 'Metrics declares exactly the schema fields (and transitions)');
    assert.equal(props.get('transitions').type, 'TransitionCount[]');
    const metrics = new CircuitBreaker().metrics();
    assert.deepEqual(Object.keys(metrics), [...names, ...NON_SCALAR]);
    assert.deepEqual(metrics.transitions, []);
    assert.equal(metrics.state, 'closed');
    assert.equal(metrics.retryAfter, undefined);
    for (const m of schema.metrics.filter((m) => m.kind !== 'state' && m.kind !== 'optional_duration')) {
      assert.equal(typeof metrics[camel(m.name)], 'number', m.name);
    }
    const row = DOC.match(/^\| `breaker\.metrics\(\)` \| `\{ ([^}]*) \}`/m);
    assert.ok(row, "docs/node.md's API table has a `breaker.metrics()` row");
    assert.deepEqual(row[1].split(', '), [...names, ...NON_SCALAR], 'docs/node.md lists every metrics field');
  });

  test('the string unions of index.d.ts spell the native states and reasons, in code order', () => {
    assert.deepEqual(dtsUnion('State'), schema.states);
    assert.deepEqual(dtsUnion('TransitionReason'), schema.reasons);
    assert.deepEqual(dtsUnion('RejectReason'), schema.rejectReasons);
    const listed = DOC.match(/`reason` is one of ([^;]*);/);
    assert.ok(listed, 'docs/node.md lists the transition reasons');
    assert.deepEqual([...listed[1].matchAll(/`(\w+)`/g)].map((m) => m[1]), schema.reasons);
  });
});
