'use strict';
// Portable state: `exportState(at)` / `toJSON()` and the `state` option (restore at
// construction), on manual clocks and explicit wall-clock instants. Round trips (string and
// object, a gap taken off the open time, the jitter sequence carried on), refused documents
// (a `StateError` with `code` and `field`, nothing created), bad arguments, and hostile documents:
// every truncation of a real document and thousands of seeded mutations, each of which must give a
// `StateError` or a working breaker, never a crash.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { BreakerFamily, CircuitBreaker, ManualClock, StateError } = require('circuit-core');
// The test build of the addon (test.sh builds it): `liveBreakers` counts this thread's breakers.
const testAddon = require(path.join(__dirname, '..', `circuit.${process.platform}-${process.arch}-gnu.node`));

const WALL = 1_800_000_000_000;
const CONFIG = { name: 'payments', failureThreshold: 2, resetTimeout: 10_000, backoffMultiplier: 2, jitter: 0.5, jitterSeed: 7 };

/** A breaker opened once (10 s opening, jittered), 3 s in, and its clock. */
function openBreaker() {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ ...CONFIG, clock });
  breaker.executeSync(() => 'ok');
  for (let i = 0; i < 2; i++) assert.throws(() => breaker.executeSync(() => { throw new Error('down'); }));
  clock.advance(3000);
  return { breaker, clock };
}

function isRefusal(err) {
  return err instanceof StateError && err.code === 'ESTATEINVALID' && err.name === 'StateError' && typeof err.message === 'string';
}

/** A deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('state export and import', () => {
  test('toJSON is the state document: JSON.stringify(breaker) writes it, jitter_state a string', () => {
    const { breaker } = openBreaker();
    const document = breaker.exportState(WALL);
    assert.equal(document.format, 'circuit-breaker-state');
    assert.equal(document.version, 1);
    assert.equal(document.name, 'payments');
    assert.equal(document.state, 'open');
    assert.equal(document.exported_at_unix_ms, WALL);
    assert.equal(typeof document.jitter_state, 'string');
    assert.match(document.jitter_state, /^[0-9a-f]{16}$/);
    assert.equal(document.totals.failures, 2);
    assert.deepEqual(document.transitions, [{ count: 1, from: 'closed', reason: 'failure_threshold', to: 'open' }]);
    const viaJson = JSON.parse(JSON.stringify({ breaker }));
    assert.deepEqual({ ...viaJson.breaker, exported_at_unix_ms: WALL }, document);
    assert.equal(typeof viaJson.breaker.exported_at_unix_ms, 'number');
    assert.deepEqual(breaker.exportState(new Date(WALL)), document, 'a Date is an instant');
  });

  test('restored from an object or its text, the gap is taken off the open time, and the jitter goes on', () => {
    const { breaker: original, clock: originalClock } = openBreaker();
    const document = original.exportState(WALL);
    const remaining = document.open_remaining_ms;
    assert.ok(remaining > 0 && remaining < 10_000, `open for ${remaining} ms more`);
    for (const state of [document, JSON.stringify(document)]) {
      const clock = new ManualClock();
      clock.advance(123_456); // another process: another clock, any instant
      const restored = new CircuitBreaker({ ...CONFIG, clock, state, stateAt: WALL + 1000 });
      const m = restored.metrics();
      assert.equal(m.state, 'open');
      assert.equal(m.failures, 2);
      assert.equal(m.successes, 1);
      assert.equal(m.opened, 1);
      assert.deepEqual(m.transitions, [{ from: 'closed', to: 'open', reason: 'failure_threshold', count: 1 }]);
      assert.ok(Math.abs(m.retryAfter - (remaining - 1000)) < 1e-6, `retryAfter ${m.retryAfter}`);
      assert.throws(() => restored.allow(), { code: 'ECIRCUITOPEN', reason: 'open' });
      // After the opening, a failed probe reopens for the next (jittered, backed-off) duration, as
      // the original does from the same point: the jitter sequence was carried over.
      clock.advance(remaining - 1000);
      assert.throws(() => restored.executeSync(() => { throw new Error('still down'); }));
      const exported = restored.exportState(WALL + remaining);
      if (state === document) {
        originalClock.advance(remaining);
        assert.throws(() => original.executeSync(() => { throw new Error('still down'); }));
      }
      const mine = original.exportState(WALL + remaining);
      assert.equal(exported.open_duration_ms, mine.open_duration_ms, 'the same next opening');
      assert.equal(exported.jitter_state, mine.jitter_state);
    }
  });

  test('the default instants are Date.now()', () => {
    const { breaker } = openBreaker();
    const before = Date.now();
    const document = breaker.exportState();
    // (The core writes the instant from whole nanoseconds as a double: within a microsecond.)
    assert.ok(document.exported_at_unix_ms >= before - 0.001, `exported now: ${document.exported_at_unix_ms} < ${before}`);
    const restored = new CircuitBreaker({ ...CONFIG, clock: new ManualClock(), state: document });
    assert.equal(restored.state, 'open');
  });

  test('a refused document throws a StateError naming the field, and creates nothing', () => {
    const { breaker } = openBreaker();
    const document = breaker.exportState(WALL);
    const cases = [
      [{ ...document, version: 2 }, 'version'],
      [{ ...document, format: 'pybreaker' }, 'format'],
      [{ ...document, name: 'inventory' }, 'name'],
      [{ ...document, open_remaining_ms: null }, 'open_remaining_ms'],
      [{ ...document, totals: { ...document.totals, failures: -1 } }, 'totals.failures'],
      [{ ...document, window: { kind: 'count', outcomes: 'sfx' } }, 'window.outcomes'],
      ['{"format":"circuit-breaker-', undefined],
      ['[1,2,3]', undefined],
      [[1, 2, 3], undefined],
      ['', undefined],
      ['['.repeat(100_000), undefined],
    ];
    for (const [state, field] of cases) {
      const live = testAddon.liveBreakers();
      assert.throws(
        () => new CircuitBreaker({ ...CONFIG, clock: new ManualClock(), state, stateAt: WALL }),
        (err) => {
          assert.ok(isRefusal(err), `expected a StateError, got ${err}`);
          assert.equal(err.field, field, `${JSON.stringify(state).slice(0, 60)}: ${err.message}`);
          if (field !== undefined) assert.match(err.message, new RegExp(`\`${field.replace('.', '\\.')}\``));
          return true;
        },
      );
      assert.equal(testAddon.liveBreakers(), live, 'a refused document creates no breaker');
    }
  });

  test('importState: an unused breaker takes a document, a used one refuses it unchanged', () => {
    const { breaker } = openBreaker();
    const document = breaker.exportState(WALL);
    const fresh = new CircuitBreaker({ ...CONFIG, clock: new ManualClock() });
    fresh.importState(document, WALL);
    assert.equal(fresh.state, 'open');
    const used = new CircuitBreaker({ ...CONFIG, clock: new ManualClock() });
    used.executeSync(() => 'ok');
    const before = used.metrics();
    assert.throws(() => used.importState(document, WALL), (err) => isRefusal(err) && err.field === 'state');
    assert.deepEqual(used.metrics(), before);
  });

  test('bad arguments name the option', () => {
    const clock = new ManualClock();
    const circular = {};
    circular.self = circular;
    for (const [options, name, code, option] of [
      [{ state: 42 }, 'TypeError', 'ERR_INVALID_ARG_TYPE', 'state'],
      [{ state: true }, 'TypeError', 'ERR_INVALID_ARG_TYPE', 'state'],
      [{ state: circular }, 'TypeError', 'ERR_INVALID_ARG_TYPE', 'state'],
      [{ state: { n: 1n } }, 'TypeError', 'ERR_INVALID_ARG_TYPE', 'state'],
      [{ state: '{}', stateAt: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE', 'stateAt'],
      [{ state: '{}', stateAt: Number.NaN }, 'RangeError', 'ERR_OUT_OF_RANGE', 'stateAt'],
      [{ state: '{}', stateAt: Infinity }, 'RangeError', 'ERR_OUT_OF_RANGE', 'stateAt'],
      [{ state: '{}', stateAt: new Date(Number.NaN) }, 'RangeError', 'ERR_OUT_OF_RANGE', 'stateAt'],
      [{ state: '{}', stateAt: '1800000000000' }, 'TypeError', 'ERR_INVALID_ARG_TYPE', 'stateAt'],
      [{ stateAt: WALL }, 'TypeError', 'ERR_INVALID_ARG_VALUE', 'stateAt'],
    ]) {
      assert.throws(() => new CircuitBreaker({ ...options, clock }), { name, code, option }, JSON.stringify(Object.keys(options)));
    }
    assert.throws(() => new BreakerFamily({ state: '{}' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', option: 'state' });
    const breaker = new CircuitBreaker({ clock });
    assert.throws(() => breaker.exportState(-5), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', option: 'at' });
    assert.throws(() => breaker.exportState('now'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', option: 'at' });
    assert.throws(() => breaker.importState(undefined), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', option: 'document' });
  });

  test('hostile documents: every truncation and seeded mutations give a StateError or a working breaker', () => {
    const { breaker } = openBreaker();
    const count = new CircuitBreaker({ name: 'payments', failureRateThreshold: 0.5, windowSize: 8, minimumCalls: 4, clock: new ManualClock() });
    for (const outcome of ['ok', 'fail', 'ok']) {
      if (outcome === 'ok') count.executeSync(() => 1);
      else assert.throws(() => count.executeSync(() => { throw new Error('x'); }));
    }
    const timed = new CircuitBreaker({ name: 'payments', failureRateThreshold: 0.5, windowDuration: 1000, clock: new ManualClock() });
    timed.executeSync(() => 1);
    const texts = [breaker, count, timed].map((b) => JSON.stringify(b.exportState(WALL)));
    const configs = [CONFIG, { name: 'payments', failureRateThreshold: 0.5, windowSize: 8, minimumCalls: 4 }, { name: 'payments', failureRateThreshold: 0.5, windowDuration: 1000 }];
    let refused = 0;
    let taken = 0;
    const attempt = (config, state) => {
      const clock = new ManualClock();
      let restored;
      try {
        restored = new CircuitBreaker({ ...config, clock, state, stateAt: WALL + 500 });
      } catch (err) {
        assert.ok(isRefusal(err), `not a StateError for ${String(state).slice(0, 80)}: ${err}`);
        refused++;
        return;
      }
      taken++;
      // A taken document gives a breaker that works.
      clock.advance(1_000_000);
      assert.ok(['closed', 'open', 'half_open', 'forced_open', 'disabled'].includes(restored.state));
      try {
        restored.executeSync(() => 1);
      } catch (err) {
        assert.equal(err.code, 'ECIRCUITOPEN');
      }
      restored.metrics();
      JSON.stringify(restored);
    };
    const values = [null, -1, 0, 1.5, 2 ** 64, 1e308, '', 'x', 'open', [], {}, true, [1, 2, 3], 'ffffffffffffffff'];
    texts.forEach((text, i) => {
      for (let n = 0; n < text.length; n++) attempt(configs[i], text.slice(0, n)); // every truncation
      const random = rng(1234 + i);
      const document = JSON.parse(text);
      const paths = [];
      const walk = (value, at) => {
        if (value !== null && typeof value === 'object') for (const k of Object.keys(value)) walk(value[k], [...at, k]);
        paths.push(at);
      };
      walk(document, []);
      for (const at of paths.filter((p) => p.length > 0)) {
        for (const value of values) {
          const copy = JSON.parse(text);
          let parent = copy;
          for (const k of at.slice(0, -1)) parent = parent[k];
          parent[at[at.length - 1]] = value; // a field of another type or out of range
          attempt(configs[i], copy);
          delete parent[at[at.length - 1]]; // a missing field
          attempt(configs[i], copy);
        }
      }
      for (let k = 0; k < 1500; k++) {
        const chars = [...text];
        for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
          const where = Math.floor(random() * chars.length);
          const roll = random();
          if (roll < 0.4) chars[where] = String.fromCharCode(32 + Math.floor(random() * 95));
          else if (roll < 0.7) chars.splice(where, 1);
          else chars.splice(where, 0, '9\u0000"{[,:'[Math.floor(random() * 7)]);
        }
        attempt(configs[i], chars.join(''));
      }
    });
    assert.ok(refused > 1000, `${refused} refused`);
    assert.ok(taken > 10, `${taken} taken (mutations that leave a valid document)`);
  });
});
