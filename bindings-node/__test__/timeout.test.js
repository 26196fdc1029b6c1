'use strict';
// The per-call timeout: each call gets its own signal (`fn(...args, { signal })`), only that call
// is aborted, it is recorded as a failure and rejects with a TimeoutError; the timer is unref'd and
// cleared when the call settles.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { createHook } = require('node:async_hooks');
const { CircuitBreaker, TimeoutError } = require('..');

const delay = (ms, value) => new Promise((resolve) => setTimeout(resolve, ms, value));

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function abortable(ms, value, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms, value);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Timers that keep the event loop alive (unref'd ones are not listed). */
const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('timeout', () => {
  test('a call that runs too long rejects with TimeoutError and is recorded as a failure', async () => {
    const b = new CircuitBreaker({ name: 'slow', timeout: 20, failureThreshold: 5 });
    const started = Date.now();
    await assert.rejects(
      b.execute((ms, { signal }) => abortable(ms, 'late', signal), 5_000),
      (err) => {
        assert.ok(err instanceof TimeoutError);
        assert.equal(err.name, 'TimeoutError');
        assert.equal(err.code, 'ETIMEDOUT');
        assert.equal(err.timeout, 20);
        assert.equal(err.breakerName, 'slow');
        return true;
      },
    );
    assert.ok(Date.now() - started < 2_000, 'rejected at the timeout, not when fn settled');
    const m = b.metrics();
    assert.equal(m.failures, 1);
    assert.equal(m.successes, 0);
  });

  test('each call has its own signal and only the late call is aborted', async () => {
    const b = new CircuitBreaker({ timeout: 40, failureThreshold: 10 });
    const signals = [];
    const call = (ms, value, { signal }) => {
      signals.push(signal);
      return abortable(ms, value, signal);
    };
    const results = await Promise.allSettled([
      b.execute(call, 1, 'fast'),
      b.execute(call, 2_000, 'slow'),
      b.execute(call, 5, 'quick'),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[0].value, 'fast');
    assert.equal(results[1].status, 'rejected');
    assert.ok(results[1].reason instanceof TimeoutError);
    assert.equal(results[2].value, 'quick');
    assert.equal(new Set(signals).size, 3, 'three distinct signals');
    assert.deepEqual(
      signals.map((s) => s.aborted),
      [false, true, false],
    );
    assert.ok(signals[1].reason instanceof TimeoutError, 'the signal is aborted with the TimeoutError');
    const m = b.metrics();
    assert.equal(m.successes, 2);
    assert.equal(m.failures, 1);
  });

  test('the outcome of a call that settles after its timeout is discarded', async () => {
    const b = new CircuitBreaker({ timeout: 10, failureThreshold: 10 });
    await assert.rejects(
      b.execute(() => delay(40, 'ignored result')),
      TimeoutError,
    );
    await delay(60);
    const m = b.metrics();
    assert.equal(m.failures, 1);
    assert.equal(m.successes, 0, 'the late success was not recorded');
  });

  test('timeouts count towards tripping, and emit timeout then failure', async () => {
    const b = new CircuitBreaker({ timeout: 5, failureThreshold: 2 });
    const events = [];
    for (const name of ['timeout', 'failure', 'open']) b.on(name, (arg) => events.push([name, arg]));
    await assert.rejects(b.execute(() => delay(200)), TimeoutError);
    await assert.rejects(b.execute(() => delay(200)), TimeoutError);
    assert.equal(b.state, 'open');
    assert.deepEqual(
      events.map(([name]) => name),
      ['timeout', 'failure', 'timeout', 'failure', 'open'],
    );
    assert.ok(events[0][1] instanceof TimeoutError);
  });

  test('the timer is unref\'d and cleared when the call settles', async () => {
    const b = new CircuitBreaker({ timeout: 60_000 });
    const created = new Map();
    const destroyed = new Set();
    const hook = createHook({
      init(id, type, _trigger, resource) {
        if (type === 'Timeout') created.set(id, resource);
      },
      destroy(id) {
        destroyed.add(id);
      },
    }).enable();
    try {
      const refBefore = refTimers();
      let refDuring;
      let breakerTimers;
      await b.execute(async () => {
        refDuring = refTimers();
        breakerTimers = [...created.values()];
        return 1;
      });
      assert.equal(breakerTimers.length, 1, 'one timer per call in flight');
      assert.equal(breakerTimers[0].hasRef(), false, "the timer is unref'd");
      assert.equal(refDuring, refBefore, 'no ref\'d timer while the call is in flight');
      await assert.rejects(b.execute(() => Promise.reject(new Error('x'))));
      await new Promise(setImmediate);
      assert.equal(created.size, 2);
      for (const id of created.keys()) assert.ok(destroyed.has(id), 'each timer was cleared when its call settled');
    } finally {
      hook.disable();
    }
  });

  test('fn receives the signal as `{ signal }` after its own arguments; the signal is created lazily', async () => {
    const b = new CircuitBreaker({ timeout: 1_000 });
    const seen = await b.execute((...args) => args, 'a', 'b');
    assert.equal(seen.length, 3);
    assert.deepEqual(seen.slice(0, 2), ['a', 'b']);
    const options = seen[2];
    assert.equal(typeof options, 'object');
    const { signal } = options;
    assert.ok(signal instanceof AbortSignal);
    assert.equal(signal.aborted, false);
    assert.equal(options.signal, signal, 'the same signal on every read');
  });

  test('a signal first read after the timeout is already aborted', async () => {
    const b = new CircuitBreaker({ timeout: 5 });
    let options;
    await assert.rejects(
      b.execute((opts) => {
        options = opts;
        return delay(30);
      }),
      TimeoutError,
    );
    assert.equal(options.signal.aborted, true);
    assert.ok(options.signal.reason instanceof TimeoutError);
  });

  test("the caller's own signal still marks an abort as ignored", async () => {
    const b = new CircuitBreaker({ timeout: 5_000, failureThreshold: 1 });
    const controller = new AbortController();
    const pending = b.execute(
      (signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
      controller.signal,
    );
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(b.state, 'closed');
    assert.equal(b.metrics().ignored, 1);
  });

  test('an invalid timeout is refused', () => {
    for (const bad of [0, -1, Number.NaN, Infinity, 2 ** 31]) {
      assert.throws(() => new CircuitBreaker({ timeout: bad }), (err) => err instanceof RangeError && err.option === 'timeout');
    }
    assert.throws(() => new CircuitBreaker({ timeout: '10' }), (err) => err instanceof TypeError && err.option === 'timeout');
  });
});
