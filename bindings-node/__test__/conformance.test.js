'use strict';
// Every conformance vector of tests/conformance, through the public JS API, three times: with the
// two-step API (`allow` + `record*`), with `executeSync` and with `execute` doing the `call`
// steps. Config keys are mapped to the JS options; an invalid config must throw a RangeError whose
// `option` (camelCase) converts back to the vector's `invalid_option`. The HTTP ops use the
// package's classifier (`classifyStatus`, ...); the family ops use the family's call-scoped API
// only (`allow` + `record*`, `execute` in the `execute` mode, `inspect`), so the runner holds no
// reference to a member between steps and nothing depends on the garbage collector. The
// observability ops use the package's exporters: `prometheus` scrapes a fresh prom-client
// Registry that `circuit-core/prometheus` registered the breaker and the family with, and compares its
// samples, HELP and TYPE lines with the golden exposition, both parsed; `export` and `import` use
// `exportState(at)` and the `state`/`stateAt` options (`importState` on a used breaker).

const { describe, test, after } = require('node:test');
const client = require('prom-client');
const { register } = require('circuit-core/prometheus');
const { parseExposition } = require('./prom-text.js');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  BreakerFamily,
  CircuitBreaker,
  CircuitOpenError,
  FamilyPermit,
  ManualClock,
  PermitError,
  StateError,
  classifyStatus,
  classifyError,
  classifyResponse,
} = require('..');

const VECTOR_DIR = path.join(__dirname, '..', '..', 'tests', 'conformance');
const MIN_VECTORS = 60;
/** Every file of tests/conformance must be run, the HTTP and family ones included. */
const REQUIRED_FILES = ['08_http.json', '09_family.json', '10_observability.json', '11_state.json'];

/** Vector config key -> JS option. Durations are `_ms` keys; JS options are milliseconds too. */
const OPTION = {
  name: 'name',
  failure_threshold: 'failureThreshold',
  failure_rate_threshold: 'failureRateThreshold',
  slow_call_duration_ms: 'slowCallDuration',
  slow_call_rate_threshold: 'slowCallRateThreshold',
  minimum_calls: 'minimumCalls',
  window_size: 'windowSize',
  window_duration_ms: 'windowDuration',
  window_buckets: 'windowBuckets',
  reset_timeout_ms: 'resetTimeout',
  backoff_multiplier: 'backoffMultiplier',
  max_reset_timeout_ms: 'maxResetTimeout',
  jitter: 'jitter',
  jitter_seed: 'jitterSeed',
  half_open_max_calls: 'halfOpenMaxCalls',
  success_threshold: 'successThreshold',
  half_open_max_wait_ms: 'halfOpenMaxWait',
};

/** Metrics field of the vectors -> field of `metrics()`. */
const METRIC = {
  state: 'state',
  generation: 'generation',
  consecutive_failures: 'consecutiveFailures',
  window_calls: 'windowCalls',
  window_failures: 'windowFailures',
  window_slow: 'windowSlow',
  failure_rate: 'failureRate',
  slow_rate: 'slowRate',
  admitted: 'admitted',
  rejected: 'rejected',
  rejected_open: 'rejectedOpen',
  rejected_half_open_full: 'rejectedHalfOpenFull',
  rejected_forced_open: 'rejectedForcedOpen',
  successes: 'successes',
  failures: 'failures',
  ignored: 'ignored',
  slow: 'slow',
  stale: 'stale',
  opened: 'opened',
  time_in_state_ms: 'timeInState',
  retry_after_ms: 'retryAfter',
};

const snake = (camel) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function near(expected, actual, what) {
  if (expected === null) {
    assert.equal(actual, undefined, `${what}: expected absent, got ${actual}`);
    return;
  }
  if (typeof expected === 'string') {
    assert.equal(actual, expected, what);
    return;
  }
  assert.equal(typeof actual, 'number', `${what}: expected a number, got ${actual}`);
  const scale = Math.max(Math.abs(expected), 1);
  assert.ok(Math.abs(expected - actual) <= 1e-6 * scale, `${what}: expected ${expected}, got ${actual}`);
}

function loadVectors() {
  const files = fs.readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();
  const vectors = [];
  for (const file of files) {
    for (const vector of JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, file), 'utf8')).vectors) {
      vectors.push({ file, ...vector });
    }
  }
  return vectors;
}

function options(config, clock, extra = {}) {
  const out = { clock, ...extra };
  for (const [key, value] of Object.entries(config)) {
    assert.ok(Object.hasOwn(OPTION, key), `unknown config key ${key}`);
    out[OPTION[key]] = value;
  }
  return out;
}

/** `object` without `key`. */
function omit(object, key) {
  const { [key]: _, ...rest } = object;
  return rest;
}

/** A golden file of the vectors (`expect_file`, `file`), as text. */
const golden = (file) => fs.readFileSync(path.join(VECTOR_DIR, file), 'utf8');

/** The `prometheus` step: the exposition of the breaker and the family (members by key, then the
 * overflow breaker) through a fresh prom-client registry equals the golden one, parsed. */
async function checkPrometheus(step, breaker, family, where) {
  const registry = new client.Registry();
  const registrations = [register(breaker, { registry })];
  if (family !== undefined) registrations.push(register(family, { registry }));
  const got = parseExposition(await registry.metrics());
  for (const r of registrations) r.unregister();
  const want = parseExposition(golden(step.expect_file));
  assert.deepEqual(got.samples, want.samples, `${where}: samples`);
  assert.deepEqual(got.help, want.help, `${where}: HELP`);
  assert.deepEqual(got.type, want.type, `${where}: TYPE`);
}

/** The `import` step's document: the file or text with `replace` applied; in the `execute` mode
 * given as an object where it is JSON (the `state` option takes both). */
function importDocument(step, mode) {
  let text = step.file !== undefined ? golden(step.file) : step.text;
  assert.equal(typeof text, 'string', 'import needs file or text');
  if (step.replace !== undefined) text = text.replaceAll(step.replace[0], step.replace[1]);
  if (mode !== 'execute') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Checks a `StateError` naming `field` (`null`: the whole document). */
function stateRefused(field, where) {
  return (err) => {
    assert.ok(err instanceof StateError, `${where}: expected a StateError, got ${err}`);
    assert.equal(err.code, 'ESTATEINVALID');
    assert.equal(err.field, field ?? undefined, `${where}: field (${err.message})`);
    return true;
  };
}

/** A marker error for `call` steps whose outcome is `ignored` (see `isFailure`). */
class Neutral extends Error {}

/**
 * Runs the `call` step of `mode` once: admit (must), advance by `duration`, record `outcome`
 * (must count). `executeSync`/`execute` cannot report "counted", so the step checks that the
 * `stale` tally did not move instead.
 */
async function call(mode, breaker, clock, outcome, duration) {
  if (mode === 'two-step') {
    const permit = breaker.allow();
    clock.advance(duration);
    const counted =
      outcome === 'success'
        ? breaker.recordSuccess(permit)
        : outcome === 'failure'
          ? breaker.recordFailure(permit)
          : breaker.recordIgnored(permit);
    assert.equal(counted, true, `call ${outcome} must count`);
    return;
  }
  const stale = breaker.metrics().stale;
  const body = () => {
    clock.advance(duration);
    if (outcome === 'failure') throw new Error('dependency failed');
    if (outcome === 'ignored') throw new Neutral('neutral');
    return 'ok';
  };
  if (mode === 'executeSync') {
    if (outcome === 'success') assert.equal(breaker.executeSync(body), 'ok');
    else assert.throws(() => breaker.executeSync(body), outcome === 'failure' ? /dependency failed/ : Neutral);
  } else if (outcome === 'success') {
    assert.equal(await breaker.execute(async () => body()), 'ok');
  } else {
    await assert.rejects(breaker.execute(async () => body()), outcome === 'failure' ? /dependency failed/ : Neutral);
  }
  assert.equal(breaker.metrics().stale, stale, `call ${outcome} must count`);
}

/** The `family_call` step of `mode` once, on the member for `key`: the two-step modes use
 * `family.allow` + `family.record*`, `execute` uses `family.execute`. */
async function familyCall(mode, family, clock, key, outcome, duration) {
  if (mode !== 'execute') {
    const permit = family.allow(key);
    clock.advance(duration);
    const counted =
      outcome === 'success'
        ? family.recordSuccess(permit)
        : outcome === 'failure'
          ? family.recordFailure(permit)
          : family.recordIgnored(permit);
    assert.equal(counted, true, `family call ${outcome} must count`);
    return;
  }
  const body = async () => {
    clock.advance(duration);
    if (outcome === 'failure') throw new Error('dependency failed');
    if (outcome === 'ignored') throw new Neutral('neutral');
    return 'ok';
  };
  if (outcome === 'success') assert.equal(await family.execute(key, body), 'ok');
  else await assert.rejects(family.execute(key, body), outcome === 'failure' ? /dependency failed/ : Neutral);
}

/** `http_response` / `http_call`: the verdict on `status` (or `error`) at `now_unix_s`. */
function httpVerdict(step) {
  if (step.error !== undefined) return { outcome: classifyError(step.error), retryAfter: null };
  return classifyResponse(step.status, step.retry_after ?? null, (step.now_unix_s ?? 0) * 1000);
}

function checkRejection(step, where, key) {
  return (err) => {
    assert.ok(err instanceof CircuitOpenError, `${where}: expected CircuitOpenError, got ${err}`);
    assert.equal(err.code, 'ECIRCUITOPEN');
    if (key !== undefined) assert.equal(err.key, key, `${where}: key`);
    if (step.reason !== undefined) assert.equal(err.reason, step.reason, `${where}: reason`);
    if ('retry_after_ms' in step) near(step.retry_after_ms, err.retryAfter, `${where}: retryAfter`);
    return true;
  };
}

async function runVector(vector, mode) {
  const clock = new ManualClock();
  if (vector.invalid_option !== undefined) {
    assert.throws(
      () => new CircuitBreaker(options(vector.config, clock)),
      (err) => {
        assert.ok(err instanceof RangeError, `expected a RangeError, got ${err}`);
        assert.equal(err.code, 'ERR_OUT_OF_RANGE');
        assert.equal(snake(err.option), vector.invalid_option);
        assert.match(err.message, new RegExp(`\`${err.option}\``));
        return true;
      },
    );
    return;
  }
  const isFailure = (err) => !(err instanceof Neutral);
  let breaker = new CircuitBreaker(options(vector.config, clock, { isFailure }));
  const events = [];
  breaker.on('stateChange', (t) => events.push(t));
  let family;
  const familyEvents = [];
  if (vector.family !== undefined) {
    const { max_keys: maxKeys, idle_ttl_ms: idleTtl } = vector.family;
    const familyOptions = options(vector.config, clock, { isFailure, maxKeys, idleTtl });
    if (vector.family.name !== undefined) familyOptions.name = vector.family.name;
    family = new BreakerFamily(familyOptions);
    family.on('stateChange', (t) => familyEvents.push(t));
  }
  const needFamily = (where) => {
    assert.ok(family, `${where}: a family op in a vector without "family"`);
    return family;
  };
  const permits = new Map();
  for (const [index, step] of (vector.steps ?? []).entries()) {
    const where = `step ${index} (${step.op})`;
    switch (step.op) {
      case 'allow':
      case 'family_allow': {
        // The family's permits are recorded by the family, the breaker's by the breaker.
        const issuer = step.op === 'allow' ? breaker : needFamily(where);
        const allow = () => (step.op === 'allow' ? breaker.allow() : issuer.allow(step.key));
        if (step.expect === 'rejected') {
          assert.throws(allow, checkRejection(step, where, step.op === 'allow' ? undefined : step.key));
          break;
        }
        const permit = allow();
        if (step.op === 'family_allow') assert.ok(permit instanceof FamilyPermit, `${where}: a FamilyPermit`);
        if (step.probe !== undefined) assert.equal(permit.isProbe, step.probe, `${where}: probe`);
        if (step.permit !== undefined) permits.set(step.permit, { permit, issuer });
        else issuer.recordIgnored(permit);
        break;
      }
      case 'record': {
        const held = permits.get(step.permit);
        assert.ok(held, `${where}: no permit ${step.permit}`);
        const { permit, issuer } = held;
        const record = () =>
          step.outcome === 'success'
            ? issuer.recordSuccess(permit)
            : step.outcome === 'failure'
              ? issuer.recordFailure(permit)
              : issuer.recordIgnored(permit);
        if (step.expect === 'already_recorded') {
          assert.throws(record, (err) => err instanceof PermitError && err.code === 'EALREADYRECORDED');
        } else {
          assert.equal(record(), step.expect === 'counted', `${where}: expected ${step.expect}`);
        }
        if (step.drop === true) permits.delete(step.permit);
        break;
      }
      case 'family_call':
        for (let i = 0; i < (step.repeat ?? 1); i++) {
          await familyCall(mode, needFamily(where), clock, step.key, step.outcome, step.duration_ms ?? 0);
        }
        break;
      case 'family_get': {
        const info = needFamily(where).inspect(step.key);
        if (step.expect_name !== undefined) assert.equal(info.name, step.expect_name ?? undefined, `${where}: name`);
        if (step.expect_state !== undefined) assert.equal(info.state, step.expect_state, `${where}: state`);
        break;
      }
      case 'family_contains':
        assert.equal(needFamily(where).has(step.key), step.expect, where);
        break;
      case 'family_len':
        assert.equal(needFamily(where).size, step.expect, where);
        break;
      case 'family_keys':
        assert.deepEqual(needFamily(where).keys().sort(), step.expect, where);
        break;
      case 'family_metrics': {
        const m = needFamily(where).metrics();
        const actual = { evicted: m.evicted, overflowed: m.overflowed, members: Object.keys(m.members).length };
        for (const [field, expected] of Object.entries(step.expect)) {
          assert.ok(Object.hasOwn(actual, field), `${where}: unknown family metric ${field}`);
          assert.equal(actual[field], expected, `${where}: ${field}`);
        }
        break;
      }
      case 'family_events': {
        const got = familyEvents.splice(0).map((t) => ({ key: t.key, from: t.from, to: t.to, reason: t.reason, at_ms: t.at }));
        assert.equal(got.length, step.expect.length, `${where}: ${JSON.stringify(got)}`);
        step.expect.forEach((e, i) => {
          assert.deepEqual({ ...got[i], at_ms: undefined }, { ...e, at_ms: undefined }, `${where}[${i}]`);
          near(e.at_ms, got[i].at_ms, `${where}[${i}].at`);
        });
        break;
      }
      case 'http_status':
        assert.equal(classifyStatus(step.status), step.expect, where);
        break;
      case 'http_error':
        assert.equal(classifyError(step.error), step.expect, where);
        break;
      case 'http_response': {
        const verdict = httpVerdict(step);
        assert.equal(verdict.outcome, step.expect, `${where}: outcome`);
        if (step.expect_retry_after_ms === null) assert.equal(verdict.retryAfter, null, `${where}: retryAfter`);
        else near(step.expect_retry_after_ms, verdict.retryAfter, `${where}: retryAfter`);
        break;
      }
      case 'http_call': {
        const permit = breaker.allow();
        const { outcome, retryAfter } = httpVerdict(step);
        const counted =
          outcome === 'success'
            ? breaker.recordSuccess(permit)
            : outcome === 'ignored'
              ? breaker.recordIgnored(permit)
              : breaker.recordFailure(permit, retryAfter === null ? undefined : { retryAfter });
        assert.equal(counted, true, `${where}: must count`);
        break;
      }
      case 'call':
        for (let i = 0; i < (step.repeat ?? 1); i++) {
          await call(mode, breaker, clock, step.outcome, step.duration_ms ?? 0);
        }
        break;
      case 'advance':
        clock.advance(step.ms);
        break;
      case 'state':
        assert.equal(breaker.state, step.expect, where);
        break;
      case 'metrics': {
        const metrics = breaker.metrics();
        for (const [field, expected] of Object.entries(step.expect)) {
          assert.ok(Object.hasOwn(METRIC, field), `${where}: unknown metric ${field}`);
          near(expected, metrics[METRIC[field]], `${where}: ${field}`);
        }
        break;
      }
      case 'reset':
        breaker.reset();
        break;
      case 'force_open':
        breaker.forceOpen();
        break;
      case 'disable':
        breaker.disable();
        break;
      case 'events': {
        const got = events.splice(0).map((t) => ({ from: t.from, to: t.to, reason: t.reason, at_ms: t.at }));
        assert.equal(got.length, step.expect.length, `${where}: ${JSON.stringify(got)}`);
        step.expect.forEach((e, i) => {
          assert.equal(got[i].from, e.from, `${where}[${i}].from`);
          assert.equal(got[i].to, e.to, `${where}[${i}].to`);
          assert.equal(got[i].reason, e.reason, `${where}[${i}].reason`);
          near(e.at_ms, got[i].at_ms, `${where}[${i}].at`);
        });
        break;
      }
      case 'transitions': {
        const text = (t) => `${t.from}->${t.to} ${t.reason} x${t.count}`;
        const got = breaker.metrics().transitions.map(text).sort();
        assert.deepEqual(got, step.expect.map(text).sort(), where);
        break;
      }
      case 'prometheus':
        await checkPrometheus(step, breaker, family, where);
        break;
      case 'export': {
        const document = breaker.exportState(step.wall_unix_ms);
        assert.deepEqual(document, JSON.parse(golden(step.expect_file)), where);
        // JSON.stringify(breaker) writes the same document, exported now.
        const { exported_at_unix_ms: exportedAt, ...rest } = JSON.parse(JSON.stringify(breaker));
        assert.equal(typeof exportedAt, 'number', `${where}: toJSON exported_at_unix_ms`);
        assert.deepEqual(rest, omit(document, 'exported_at_unix_ms'), `${where}: toJSON`);
        break;
      }
      case 'import': {
        const document = importDocument(step, mode);
        const refused = 'expect_error_field' in step;
        if (refused && breaker.metrics().admitted > 0) {
          // Only an unused breaker imports: the vector's own breaker must refuse, unchanged.
          const before = breaker.metrics();
          assert.throws(() => breaker.importState(document, step.wall_unix_ms), stateRefused(step.expect_error_field, where));
          assert.deepEqual(breaker.metrics(), before, `${where}: unchanged`);
          break;
        }
        const create = () => new CircuitBreaker(options(vector.config, clock, { isFailure, state: document, stateAt: step.wall_unix_ms }));
        if (refused) {
          assert.throws(create, stateRefused(step.expect_error_field, where));
          break;
        }
        breaker = create();
        breaker.on('stateChange', (t) => events.push(t));
        break;
      }
      default:
        assert.fail(`${where}: unknown op`);
    }
  }
}

const vectors = loadVectors();
const ran = new Set();

describe('conformance vectors', () => {
  test(`at least ${MIN_VECTORS} vectors found, in every required file`, () => {
    assert.ok(vectors.length >= MIN_VECTORS, `only ${vectors.length} vectors in ${VECTOR_DIR}`);
    for (const file of REQUIRED_FILES) assert.ok(vectors.some((v) => v.file === file), `no vector from ${file}`);
    assert.equal(new Set(vectors.map((v) => v.name)).size, vectors.length, 'vector names are unique');
  });
  for (const vector of vectors) {
    test(`${vector.name} (${vector.file})`, async (t) => {
      const modes = vector.invalid_option !== undefined ? ['two-step'] : ['two-step', 'executeSync', 'execute'];
      for (const mode of modes) {
        await t.test(mode, () => runVector(vector, mode));
      }
      ran.add(vector.name);
    });
  }
  after(() => {
    // The count check: every vector found ran and passed (a missing file or glob cannot pass).
    assert.ok(ran.size >= MIN_VECTORS, `only ${ran.size} vectors ran`);
    console.log(`# conformance: ${ran.size} of ${vectors.length} vectors passed through the JS API`);
  });
});
