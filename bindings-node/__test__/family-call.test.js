'use strict';
// The call-scoped family API: `family.allow(key)` + `family.record*`, `family.execute(key, fn)`
// and `family.inspect(key)`. A permit pins its member only until it is recorded (the native
// permit drops its reference then), so a flood of keys stays within `maxKeys` with no help from
// the garbage collector (this file never runs it), and the family's events carry the key.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { BreakerFamily, CircuitOpenError, FamilyPermit, ManualClock, PermitError, TimeoutError } = require('..');

function family(extra = {}) {
  const clock = new ManualClock();
  const f = new BreakerFamily({ name: 'api', failureThreshold: 1, resetTimeout: 30_000, clock, ...extra });
  return { clock, f };
}

/** A xorshift generator: the same "random" keys on every run. */
function randomKeys(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return `host-${s.toString(16)}`;
  };
}

/** The flood of the bound test: a million keys (measured at a few seconds on 2 cores). */
const FLOOD = 1_000_000;

describe('BreakerFamily call-scoped API', () => {
  test('allow + record: the permit records on its member, once; its key and flags', () => {
    const { f } = family();
    const permit = f.allow('a');
    assert.ok(permit instanceof FamilyPermit);
    assert.equal(permit.key, 'a');
    assert.equal(permit.overflow, false);
    assert.equal(permit.isProbe, false);
    assert.equal(permit.generation, 0);
    assert.equal(permit.recorded, false);
    assert.equal(f.recordFailure(permit), true);
    assert.equal(permit.recorded, true);
    assert.throws(() => f.recordSuccess(permit), (err) => err instanceof PermitError && err.code === 'EALREADYRECORDED');
    assert.equal(f.inspect('a').state, 'open');
    assert.equal(f.metrics().members.a.failures, 1);
  });

  test('a rejection is a CircuitOpenError carrying the key, the member name and the retry time', () => {
    const { clock, f } = family();
    f.recordFailure(f.allow('down'));
    clock.advance(10_000);
    assert.throws(
      () => f.allow('down'),
      (err) =>
        err instanceof CircuitOpenError &&
        err.code === 'ECIRCUITOPEN' &&
        err.key === 'down' &&
        err.breakerName === 'api/down' &&
        err.reason === 'open' &&
        err.retryAfter === 20_000,
    );
    f.recordSuccess(f.allow('up'));
    assert.equal(f.inspect('up').state, 'closed');
  });

  test('recordFailure with retryAfter keeps the member open at least that long', () => {
    const { clock, f } = family({ resetTimeout: 1_000 });
    f.recordFailure(f.allow('a'), { retryAfter: 30_000 });
    clock.advance(5_000);
    assert.throws(() => f.allow('a'), (err) => err.retryAfter === 25_000);
    clock.advance(25_000);
    assert.equal(f.allow('a').isProbe, true);
  });

  test('permits of another family, other objects and bad arguments are refused', () => {
    const { f } = family();
    const other = family().f;
    const permit = other.allow('a');
    assert.throws(() => f.recordSuccess(permit), (err) => err instanceof PermitError && err.code === 'EFOREIGNPERMIT');
    assert.throws(() => f.recordSuccess({}), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => f.allow(1), (err) => err instanceof TypeError && /`key`/.test(err.message));
    assert.throws(() => f.inspect(null), (err) => err instanceof TypeError && /`key`/.test(err.message));
    assert.throws(() => f.recordFailure(f.allow('a'), { retryAfter: -1 }), (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE');
    assert.throws(() => new FamilyPermit(), TypeError);
    other.recordIgnored(permit);
  });

  test('an outstanding permit pins its member; recording releases it (no garbage collection)', () => {
    const { clock, f } = family({ maxKeys: 2, idleTtl: 1_000 });
    const held = f.allow('held');
    for (let i = 0; i < 50; i++) {
      clock.advance(2_000);
      f.recordSuccess(f.allow(`k${i}`));
      assert.ok(f.has('held'), `held evicted at ${i}`);
    }
    f.recordSuccess(held); // the object lives on, but no longer pins the member
    clock.advance(2_000);
    f.recordSuccess(f.allow('next'));
    assert.equal(f.has('held'), false, 'evicted once its permit was recorded');
    assert.ok(f.size <= 2);
  });

  test('execute(key, fn, ...args): runs on the member, classifies errors, holds nothing', async () => {
    const { f } = family({ maxKeys: 1, idleTtl: 0 });
    assert.equal(await f.execute('a', async (x, y) => x + y, 2, 3), 5);
    await assert.rejects(f.execute('a', () => Promise.reject(new Error('down'))), /down/);
    await assert.rejects(f.execute('a', () => 'never'), (err) => err instanceof CircuitOpenError && err.key === 'a');
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(f.execute('b', (signal) => Promise.reject(signal.reason), aborted.signal));
    assert.equal(f.metrics().members.b?.ignored ?? f.metrics().overflow.ignored, 1, "the caller's abort is ignored");
    await assert.rejects(f.execute('b', 'not a function'), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE');
  });

  test('execute uses the members\' fallback and timeout options', async () => {
    const { f } = family({ fallback: (key, err) => `fallback ${err.key}`, timeout: 20 });
    assert.equal(await f.execute('a', async (x, { signal }) => (signal instanceof AbortSignal ? x : 'no signal'), 'ok'), 'ok');
    const hang = (options) => new Promise((resolve, reject) => options.signal.addEventListener('abort', () => reject(options.signal.reason)));
    // The call's timer is unref'd (it never keeps a process alive): this keeps the test's alive.
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      await assert.rejects(f.execute('a', hang), (err) => err instanceof TimeoutError && err.code === 'ETIMEDOUT');
    } finally {
      clearInterval(keepAlive);
    }
    assert.equal(f.inspect('a').state, 'open', 'the timeout is a failure');
    assert.equal(await f.execute('a', () => 'not run', 'a'), 'fallback a');
  });

  test("'stateChange' events of call-scoped use carry the key (null for the overflow breaker)", () => {
    const { clock, f } = family({ maxKeys: 1 });
    const log = [];
    f.on('stateChange', (e) => log.push({ ...e }));
    f.recordFailure(f.allow('a')); // 'a' opens: pinned, the family is full
    const overflow = f.allow('b');
    assert.equal(overflow.overflow, true);
    assert.equal(f.inspect('b').overflow, true);
    assert.equal(f.inspect('b').name, 'api/(overflow)');
    f.recordFailure(overflow);
    clock.advance(30_000);
    assert.equal(f.inspect('a').state, 'half_open');
    assert.deepEqual(log, [
      { key: 'a', from: 'closed', to: 'open', reason: 'failure_threshold', at: 0, remote: false, generation: 1 },
      { key: null, from: 'closed', to: 'open', reason: 'failure_threshold', at: 0, remote: false, generation: 1 },
      { key: 'a', from: 'open', to: 'half_open', reason: 'open_elapsed', at: 30_000, remote: false, generation: 2 },
    ]);
  });

  test(`a flood of ${FLOOD.toLocaleString('en')} random keys stays within maxKeys plus the pinned`, () => {
    const { clock, f } = family({ maxKeys: 256, idleTtl: 60_000, failureThreshold: 5 });
    const next = randomKeys(7);
    const pinned = [];
    for (let i = 0; i < 16; i++) pinned.push(f.allow(`pinned-${i}`));
    let largest = 0;
    for (let i = 0; i < FLOOD; i++) {
      f.recordSuccess(f.allow(next()));
      if ((i & 1023) === 0) {
        clock.advance(1);
        largest = Math.max(largest, f.size);
      }
    }
    largest = Math.max(largest, f.size);
    assert.ok(largest <= 256, `the family grew to ${largest} members`);
    for (let i = 0; i < 16; i++) assert.ok(f.has(`pinned-${i}`), `pinned-${i} kept while its permit is out`);
    assert.ok(f.metrics().evicted >= FLOOD - 256, `evicted ${f.metrics().evicted}`);
    assert.equal(f.metrics().overflowed, 0, 'recorded permits pin nothing: the family never overflowed');
    for (const p of pinned) f.recordSuccess(p);
  });

  test('an open member is never evicted early, whatever the flood', () => {
    const { clock, f } = family({ maxKeys: 4, idleTtl: 1_000, resetTimeout: 10_000_000 });
    f.recordFailure(f.allow('open'));
    const next = randomKeys(11);
    for (let i = 0; i < 10_000; i++) {
      f.recordSuccess(f.allow(next()));
      if (i % 100 === 0) clock.advance(5_000);
      if (i % 1000 === 0) assert.ok(f.has('open'), `open member evicted at ${i}`);
    }
    assert.equal(f.inspect('open').state, 'open');
    assert.ok(f.size <= 4);
  });
});
