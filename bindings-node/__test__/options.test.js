'use strict';
// Every option: wrong types throw a TypeError, invalid values a RangeError, each naming the
// camelCase option (in `err.option` and in the message); defaults come from the core.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { CircuitBreaker, ManualClock } = require('..');

const NUMERIC = [
  'failureThreshold',
  'failureRateThreshold',
  'slowCallDuration',
  'slowCallRateThreshold',
  'minimumCalls',
  'windowSize',
  'windowDuration',
  'windowBuckets',
  'resetTimeout',
  'backoffMultiplier',
  'maxResetTimeout',
  'jitter',
  'halfOpenMaxCalls',
  'successThreshold',
  'halfOpenMaxWait',
  'timeout',
];

/** The core's spellings, which must not leak into JS messages. */
const SNAKE = NUMERIC.map((o) => o.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)).filter((s) => s.includes('_'));

/** [option, value, other options needed to reach the check] -> RangeError naming `option`. */
const OUT_OF_RANGE = [
  ['failureThreshold', -1],
  ['failureThreshold', 1.5],
  ['failureThreshold', Number.NaN],
  ['failureThreshold', Infinity],
  ['failureThreshold', 2 ** 32],
  ['failureThreshold', 0],
  ['failureRateThreshold', 0],
  ['failureRateThreshold', -0.5],
  ['failureRateThreshold', 1.5],
  ['failureRateThreshold', Number.NaN],
  ['failureRateThreshold', Infinity],
  ['slowCallDuration', 0],
  ['slowCallDuration', -1],
  ['slowCallDuration', Number.NaN],
  ['slowCallDuration', Infinity],
  ['slowCallRateThreshold', 0.5],
  ['slowCallRateThreshold', 0, { slowCallDuration: 10 }],
  ['slowCallRateThreshold', 1.01, { slowCallDuration: 10 }],
  ['slowCallRateThreshold', Number.NaN, { slowCallDuration: 10 }],
  ['minimumCalls', 0, { failureRateThreshold: 0.5 }],
  ['minimumCalls', -3, { failureRateThreshold: 0.5 }],
  ['minimumCalls', 2.5, { failureRateThreshold: 0.5 }],
  ['minimumCalls', 11, { failureRateThreshold: 0.5, windowSize: 10 }],
  ['windowSize', 0, { failureRateThreshold: 0.5 }],
  ['windowSize', -1, { failureRateThreshold: 0.5 }],
  ['windowSize', 0.5, { failureRateThreshold: 0.5 }],
  ['windowDuration', 0, { failureRateThreshold: 0.5 }],
  ['windowDuration', -10, { failureRateThreshold: 0.5 }],
  ['windowDuration', Number.NaN, { failureRateThreshold: 0.5 }],
  ['windowDuration', 1000, { failureRateThreshold: 0.5, windowSize: 10 }],
  ['windowBuckets', 0, { failureRateThreshold: 0.5, windowDuration: 1000 }],
  ['windowBuckets', 3, { failureRateThreshold: 0.5, windowDuration: 1000 }],
  ['windowBuckets', 4, { failureRateThreshold: 0.5 }],
  ['resetTimeout', -1],
  ['resetTimeout', Number.NaN],
  ['resetTimeout', Infinity],
  ['backoffMultiplier', 0.5],
  ['backoffMultiplier', Number.NaN],
  ['backoffMultiplier', Infinity],
  ['maxResetTimeout', 999, { resetTimeout: 1000 }],
  ['maxResetTimeout', -1],
  ['maxResetTimeout', Number.NaN],
  ['jitter', 1],
  ['jitter', -0.1],
  ['jitter', Number.NaN],
  ['jitterSeed', 1.5],
  ['jitterSeed', 2 ** 60],
  ['jitterSeed', 2n ** 64n],
  ['jitterSeed', -(2n ** 63n) - 1n],
  ['jitterSeed', -1],
  ['jitterSeed', -1n],
  ['jitterSeed', -(2n ** 63n)],
  ['jitterSeed', -(2 ** 53 - 1)],
  ['jitterSeed', Number.NaN],
  ['jitterSeed', Infinity],
  ['jitterSeed', -Infinity],
  ['jitterSeed', 2 ** 53],
  ['halfOpenMaxCalls', 0],
  ['halfOpenMaxCalls', -1],
  ['successThreshold', 0],
  ['successThreshold', 3, { halfOpenMaxCalls: 2 }],
  ['halfOpenMaxWait', -1],
  ['halfOpenMaxWait', Number.NaN],
  ['halfOpenMaxWait', Infinity],
  ['timeout', 0],
  ['timeout', -5],
  ['timeout', Number.NaN],
  ['timeout', 2 ** 31],
];

function expectError(options, Type, option) {
  assert.throws(
    () => new CircuitBreaker(options),
    (err) => {
      assert.ok(err instanceof Type, `${JSON.stringify(options, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}: expected ${Type.name}, got ${err}`);
      assert.equal(err.option, option);
      assert.ok(err.message.includes(`\`${option}\``), `message names the option: ${err.message}`);
      if (!option.includes('_')) {
        for (const snake of SNAKE) assert.ok(!err.message.includes(snake), `no snake_case option name in: ${err.message}`);
      }
      const known = NUMERIC.includes(option) || ['name', 'jitterSeed', 'isFailure', 'fallback', 'clock'].includes(option);
      const code = Type === RangeError ? 'ERR_OUT_OF_RANGE' : known ? 'ERR_INVALID_ARG_TYPE' : 'ERR_INVALID_ARG_VALUE';
      assert.equal(err.code, code);
      return true;
    },
  );
}

describe('options', () => {
  test('no options: the core defaults', () => {
    const clock = new ManualClock();
    const b = new CircuitBreaker({ clock });
    for (let i = 0; i < 4; i++) assert.throws(() => b.executeSync(() => { throw new Error('x'); }));
    assert.equal(b.state, 'closed');
    assert.throws(() => b.executeSync(() => { throw new Error('x'); }));
    assert.equal(b.state, 'open', 'failureThreshold defaults to 5');
    assert.equal(b.metrics().retryAfter, 30_000, 'resetTimeout defaults to 30 s');
    assert.equal(new CircuitBreaker().state, 'closed');
    assert.equal(new CircuitBreaker(undefined).name, undefined);
  });

  test('undefined values mean "default"', () => {
    const b = new CircuitBreaker({ failureThreshold: undefined, name: undefined, timeout: undefined, clock: undefined });
    assert.equal(b.state, 'closed');
  });

  test('every numeric option refuses a non-number with a TypeError naming it', () => {
    for (const option of NUMERIC) {
      for (const bad of ['5', true, null, {}, 5n]) {
        expectError({ [option]: bad }, TypeError, option);
      }
    }
  });

  test('every invalid value throws a RangeError naming the option', () => {
    for (const [option, value, extra] of OUT_OF_RANGE) {
      expectError({ ...extra, [option]: value }, RangeError, option);
    }
  });

  test('the other options refuse wrong types', () => {
    expectError({ name: 42 }, TypeError, 'name');
    expectError({ jitterSeed: 'seed' }, TypeError, 'jitterSeed');
    expectError({ isFailure: true }, TypeError, 'isFailure');
    expectError({ fallback: 'cached' }, TypeError, 'fallback');
    expectError({ clock: {} }, TypeError, 'clock');
    expectError({ clock: Date }, TypeError, 'clock');
  });

  test('an unknown (misspelt) option is refused, with a suggestion', () => {
    expectError({ failureTreshold: 3 }, TypeError, 'failureTreshold');
    expectError({ failure_threshold: 3 }, TypeError, 'failure_threshold');
    const message = (options) => {
      try {
        new CircuitBreaker(options);
      } catch (err) {
        return err.message;
      }
      return assert.fail('accepted');
    };
    assert.equal(message({ failureTreshold: 3 }), 'unknown option `failureTreshold`; did you mean `failureThreshold`?');
    assert.equal(message({ reset_timeout_ms: 5 }), 'unknown option `reset_timeout_ms`; did you mean `resetTimeout`?');
    assert.equal(message({ timeOut: 5 }), 'unknown option `timeOut`; did you mean `timeout`?');
    assert.equal(
      message({ errorThresholdPercentage: 50 }),
      'unknown option `errorThresholdPercentage`; did you mean `failureRateThreshold` (a fraction: 0.5 for 50%)?',
    );
    assert.equal(message({ capacity: 10 }), 'unknown option `capacity`');
  });

  test('options must be an object', () => {
    for (const bad of [null, 5, 'x', true]) {
      assert.throws(() => new CircuitBreaker(bad), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE');
    }
  });

  test('error codes follow Node conventions', () => {
    assert.throws(() => new CircuitBreaker({ resetTimeout: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new CircuitBreaker({ resetTimeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new CircuitBreaker({ nope: 1 }), { code: 'ERR_INVALID_ARG_VALUE' });
  });

  test('valid edge values are accepted', () => {
    const ok = [
      { failureThreshold: 0, failureRateThreshold: 1 },
      { failureRateThreshold: 0.5, minimumCalls: 10, windowSize: 10 },
      { failureRateThreshold: 0.5, windowDuration: 1000, windowBuckets: 4 },
      { slowCallDuration: 0.5, slowCallRateThreshold: 1 },
      { resetTimeout: 0 },
      { resetTimeout: 1000, maxResetTimeout: 1000, backoffMultiplier: 1 },
      { jitter: 0.999 },
      { jitterSeed: 0 },
      { jitterSeed: -0 },
      { jitterSeed: 0n },
      { jitterSeed: 2 ** 53 - 1 },
      { jitterSeed: 2n ** 64n - 1n },
      { halfOpenMaxCalls: 3, successThreshold: 1 },
      { halfOpenMaxWait: 0 },
      { timeout: 1 },
      { name: '' },
    ];
    for (const options of ok) assert.doesNotThrow(() => new CircuitBreaker(options), JSON.stringify(options, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
  });

  test('durations are milliseconds, rounded to whole nanoseconds', () => {
    const clock = new ManualClock();
    const retryAfter = (resetTimeout) => {
      const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout, clock });
      assert.throws(() => b.executeSync(() => { throw new Error('x'); }));
      const m = b.metrics();
      return m.state === 'open' ? m.retryAfter : 0;
    };
    assert.equal(retryAfter(1500), 1500);
    assert.equal(retryAfter(0.0015), 0.0015, '1.5 us');
    assert.equal(retryAfter(0.0000006), 0.000001, '0.6 ns rounds to 1 ns');
    assert.equal(retryAfter(0.0000004), 0, '0.4 ns rounds to 0 ns: half-open at once');
  });

  test('a negative jitterSeed is refused, not wrapped (as in the other bindings)', () => {
    for (const bad of [-1, -1n, -(2n ** 63n), -42]) {
      assert.throws(
        () => new CircuitBreaker({ jitterSeed: bad }),
        (err) =>
          err instanceof RangeError &&
          err.code === 'ERR_OUT_OF_RANGE' &&
          err.option === 'jitterSeed' &&
          /invalid option `jitterSeed`: must be a whole number in \[0, 2\^64 - 1\]/.test(err.message),
        String(bad),
      );
    }
  });

  test('the same seed gives the same jittered open durations', () => {
    const durations = (seed) => {
      const clock = new ManualClock();
      const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 1000, jitter: 0.5, jitterSeed: seed, clock });
      assert.throws(() => b.executeSync(() => { throw new Error('x'); }));
      return b.metrics().retryAfter;
    };
    assert.equal(durations(7), durations(7n));
    assert.ok(durations(7) <= 1000 && durations(7) > 500);
  });

  test('ManualClock.advance validates its argument', () => {
    const clock = new ManualClock();
    assert.throws(() => clock.advance('5'), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE');
    for (const bad of [-1, Number.NaN, Infinity]) {
      assert.throws(() => clock.advance(bad), (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE');
    }
    assert.equal(clock.now(), 0);
    assert.equal(clock.advance(1.5), 1.5);
    assert.equal(clock.advance(0), 1.5);
    assert.equal(clock.now(), 1.5);
  });
});
