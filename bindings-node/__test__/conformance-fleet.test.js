'use strict';
// Every fleet conformance vector (tests/conformance/fleet/*.json, README "Fleet vectors") through
// the Node API: a `CircuitBreaker` with `fleet`, whose fleet runs on the breaker's ManualClock, this
// test being the host (a RedisFleet whose attachment makes the core's sans-IO fleet on that clock
// and never syncs by itself) that polls the fleet and answers each request with the vector's reply.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const native = require('../binding.js');
const { CircuitBreaker, CircuitOpenError, ManualClock, RedisFleet } = require('..');
const { ATTACH } = require('../lib/fleet.js');
const { clockNative } = require('../lib/clock.js');

const VECTOR_DIR = path.join(__dirname, '..', '..', 'tests', 'conformance', 'fleet');
const VECTORS = fs
  .readdirSync(VECTOR_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .flatMap((f) => JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, f), 'utf8')).vectors);

const camel = (snake) => snake.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
/** Vector options as Node options: camelCase, `_ms` dropped (Node durations are milliseconds). */
const nodeOptions = (options) =>
  Object.fromEntries(Object.entries(options ?? {}).map(([k, v]) => [camel(k.replace(/_ms$/, '')), v]));

/** A RedisFleet whose breakers' fleets run on `clock` and are synced by the test only. */
class Host extends RedisFleet {
  fleet = undefined;
  #clock;
  #options;

  constructor(clock, options) {
    super({ evalsha() {}, eval() {} }, options);
    this.#clock = clock;
    this.#options = options;
  }

  [ATTACH](name) {
    const created = native.createFleet(name, this.#options, clockNative(this.#clock));
    assert.ok(created instanceof native.NativeFleet, `createFleet: ${JSON.stringify(created)}`);
    this.fleet = created;
    return created;
  }
}

function eventJson(e) {
  if (e.kind === 'transition') return { kind: e.kind, from: e.from, to: e.to, epoch: e.epoch };
  if (e.kind === 'mismatch') return { kind: e.kind, stored: e.stored };
  return { kind: e.kind };
}

function requestFields(args) {
  const n = (i) => Number(args[i]);
  const verdicts = [];
  for (let i = 0; i < n(18); i++) verdicts.push([n(19 + 3 * i), n(20 + 3 * i), args[21 + 3 * i]]);
  return { epoch: n(13), calls: n(14), failures: n(15), slow: n(16), want: n(17), verdicts };
}

function checkFields(where, expect, actual) {
  for (const [field, want] of Object.entries(expect)) assert.deepEqual(actual[field], want, `${where}: ${field}`);
}

function checkEvents(where, step, events) {
  if (step.events !== undefined) assert.deepEqual(events.map(eventJson), step.events, `${where}: events`);
}

const record = (breaker, permit, outcome) =>
  outcome === 'success'
    ? breaker.recordSuccess(permit)
    : outcome === 'failure'
      ? breaker.recordFailure(permit)
      : breaker.recordIgnored(permit);

function fleetAllow(breaker, step, where, permits) {
  let permit;
  try {
    permit = breaker.allow();
  } catch (err) {
    assert.ok(err instanceof CircuitOpenError, `${where}: ${err}`);
    const got = !err.fleet ? 'local_rejected' : err.reason === 'half_open_full' ? 'fleet_half_open_full' : 'fleet_open';
    assert.equal(got, step.expect, where);
    if ('retry_after_ms' in step) assert.equal(err.retryAfter ?? null, step.retry_after_ms, `${where}: retryAfter`);
    return;
  }
  assert.equal(permit.isFleetProbe ? 'fleet_probe' : 'admitted', step.expect, where);
  if (step.permit !== undefined) permits.set(step.permit, permit);
  else breaker.recordIgnored(permit);
}

function runVector(vector) {
  const clock = new ManualClock();
  const { name = 'vector', ...config } = vector.config ?? {};
  const fleetOptions = nodeOptions(vector.fleet);
  if (vector.invalid_fleet_option !== undefined) {
    assert.throws(() => new Host(clock, fleetOptions), { option: camel(vector.invalid_fleet_option) });
    return;
  }
  const host = new Host(clock, fleetOptions);
  const breaker = new CircuitBreaker({ name, clock, fleet: host, ...nodeOptions(config) });
  const fleet = host.fleet;
  assert.ok(fleet !== undefined, 'the breaker attached its fleet');
  const permits = new Map();
  let pending = false;
  vector.steps.forEach((step, i) => {
    const where = `${vector.name} step ${i} (${JSON.stringify(step)})`;
    switch (step.op) {
      case 'advance':
        clock.advance(step.ms);
        break;
      case 'fleet_poll': {
        // A Node breaker holds trivial successes back until its next native call (docs/node.md,
        // "Fleet breakers"): any observation hands them over, so read the state first, as the
        // README's runner note says.
        assert.ok(typeof breaker.state === 'string');
        const polled = fleet.poll();
        if (step.expect === null) {
          assert.equal(polled ?? null, null, `${where}: nothing due`);
        } else {
          assert.ok(polled, `${where}: a sync is due`);
          checkFields(where, step.expect, requestFields(polled.args));
          pending = true;
        }
        break;
      }
      case 'fleet_reply':
      case 'fleet_fail':
        assert.ok(pending, `${where}: no request to answer`);
        pending = false;
        checkEvents(where, step, step.op === 'fleet_fail' ? fleet.fail('timeout') : fleet.complete(step.reply));
        break;
      case 'fleet_tick':
        checkEvents(where, step, fleet.events());
        break;
      case 'fleet_status': {
        const s = fleet.status(); // the test's host keeps no map of names for fleetStatus()
        const actual = { state: s.state, epoch: s.epoch, degraded: s.degraded, syncs: s.syncs, sync_failures: s.syncFailures };
        checkFields(where, step.expect, actual);
        break;
      }
      case 'fleet_allow':
        fleetAllow(breaker, step, where, permits);
        break;
      case 'call':
        for (let r = 0; r < (step.repeat ?? 1); r++) assert.ok(record(breaker, breaker.allow(), step.outcome), where);
        break;
      case 'record': {
        const counted = record(breaker, permits.get(step.permit), step.outcome);
        permits.delete(step.permit);
        assert.equal(counted ? 'counted' : 'stale', step.expect, where);
        break;
      }
      case 'state':
        assert.equal(breaker.state, step.expect, where);
        break;
      case 'metrics':
        checkFields(where, Object.fromEntries(Object.entries(step.expect).map(([k, v]) => [camel(k), v])), breaker.metrics());
        break;
      default:
        assert.fail(`${where}: unknown op ${step.op}`);
    }
  });
}

test('there are enough fleet vectors', () => {
  assert.ok(VECTORS.length >= 12, `${VECTORS.length} fleet vectors`);
});

for (const vector of VECTORS) {
  test(vector.name, () => runVector(vector));
}
