'use strict';
// BreakerFamily: one breaker per key on the engine's `Family`. Per-key isolation, identity, the
// memory bound under a flood of keys, eviction (idle, never open or held members), the overflow
// breaker, 'stateChange' with `key`, metrics and option validation. A member held by a live
// `CircuitBreaker` object is pinned, so tests that need a member unpinned drop their reference
// and let the garbage collector run (`collect`).

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const { setImmediate: immediate } = require('node:timers/promises');
const { BreakerFamily, CircuitBreaker, CircuitOpenError, ManualClock } = require('..');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

/** Lets every `CircuitBreaker` no longer referenced be collected and finalized (a `WeakRef`
 * keeps its target until the end of the job that created it; finalizers run after the GC). */
async function collect() {
  await immediate();
  gc();
  await immediate();
  await immediate();
}

function family(extra = {}) {
  const clock = new ManualClock();
  const f = new BreakerFamily({ name: 'api', failureThreshold: 1, resetTimeout: 30_000, clock, ...extra });
  return { clock, f };
}

const fail = () => {
  throw new Error('down');
};

/** A xorshift generator: the same "random" keys on every run. */
function keys(seed) {
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

describe('BreakerFamily', () => {
  test('members are CircuitBreakers named <family>/<key>, created once per key', () => {
    const { f } = family();
    const a = f.get('a.example:443');
    assert.ok(a instanceof CircuitBreaker);
    assert.equal(a.name, 'api/a.example:443');
    assert.equal(f.get('a.example:443'), a, 'the same object while it is alive');
    assert.notEqual(f.get('b'), a);
    assert.equal(f.size, 2);
    assert.deepEqual(f.keys().sort(), ['a.example:443', 'b']);
    assert.equal(f.name, 'api');
    const unnamed = new BreakerFamily();
    assert.equal(unnamed.get('k').name, 'k');
    assert.equal(unnamed.overflow.name, '(overflow)');
  });

  test('has() and keys() create nothing', () => {
    const { f } = family();
    assert.equal(f.has('x'), false);
    assert.deepEqual(f.keys(), []);
    assert.equal(f.size, 0);
    f.get('x');
    assert.equal(f.has('x'), true);
    assert.ok(Array.isArray(f.keys()) && f.keys().every((k) => typeof k === 'string'));
  });

  test('per-key isolation: one key down, another fine', async () => {
    const { f } = family();
    const down = f.get('down');
    assert.throws(() => down.executeSync(fail), /down/);
    assert.equal(down.state, 'open');
    assert.throws(() => f.get('down').executeSync(() => 'never'), CircuitOpenError);
    assert.equal(f.get('fine').state, 'closed');
    assert.equal(await f.get('fine').execute(async () => 'ok'), 'ok');
    assert.throws(() => f.get('down').allow(), { code: 'ECIRCUITOPEN', breakerName: 'api/down' });
  });

  test('members take the breaker options of the family, JavaScript ones included', async () => {
    const { f } = family({ fallback: (x, err) => `fallback ${x} ${err.code}`, timeout: 1000 });
    const m = f.get('m');
    await assert.rejects(m.execute(async () => {
      throw new Error('x');
    }));
    assert.equal(await m.execute(async (x) => x, 1), 'fallback 1 ECIRCUITOPEN');
    assert.equal(await f.get('n').execute(async (x, { signal }) => signal instanceof AbortSignal && x, 2), 2);
  });

  test('a flood of 100,000 random keys on a manual clock stays within maxKeys', async () => {
    const { clock, f } = family({ maxKeys: 64, idleTtl: 10_000 });
    const next = keys(7);
    let largest = 0;
    for (let i = 0; i < 100_000; i++) {
      const b = f.get(next());
      if (i % 997 === 0) {
        clock.advance(1);
        b.executeSync(() => i);
      }
      if (i % 10_000 === 9_999) await collect(); // the floods' breakers unpin once collected
      largest = Math.max(largest, f.size);
    }
    assert.ok(largest <= 64, `size reached ${largest}`);
    assert.ok(f.keys().length <= 64);
    const m = f.metrics();
    assert.ok(Object.keys(m.members).length <= 64);
    assert.ok(m.evicted > 0, 'collected members were evicted to make room');
    // Every get was a new key: it made a member (evicted since or still there) or overflowed.
    assert.equal(m.evicted + f.size + m.overflowed, 100_000);
  });

  test('a held member is pinned: never evicted, neither idle nor to make room', async () => {
    const { clock, f } = family({ maxKeys: 4, idleTtl: 1000 });
    const held = f.get('held');
    clock.advance(5000);
    const next = keys(3);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 50; i++) f.get(next());
      clock.advance(5000);
      await collect();
    }
    assert.equal(f.has('held'), true);
    assert.equal(f.get('held'), held);
    assert.equal(held.executeSync(() => 'still the member'), 'still the member');
    assert.ok(f.metrics().evicted > 0);
  });

  test('an open member is never evicted, even unreferenced and idle', async () => {
    const { clock, f } = family({ maxKeys: 3, idleTtl: 1000 });
    assert.throws(() => f.get('down').executeSync(fail));
    await collect(); // nothing holds 'down' now
    clock.advance(10_000); // idle, still open (resetTimeout 30 s)
    const next = keys(11);
    for (let i = 0; i < 200; i++) {
      f.get(next());
      if (i % 50 === 0) await collect();
    }
    assert.equal(f.has('down'), true);
    assert.equal(f.get('down').state, 'open', 'the outage is remembered');
    assert.ok(f.size <= 3);
  });

  test('an unpinned member is evicted after idleTtl on the manual clock', async () => {
    const { clock, f } = family({ idleTtl: 1000 });
    f.get('idle').executeSync(() => 1);
    await collect();
    clock.advance(999);
    f.get('other');
    assert.equal(f.has('idle'), true, 'not idle for idleTtl yet');
    clock.advance(1);
    f.get('other');
    assert.equal(f.has('idle'), false, 'evicted by a later get');
    assert.equal(f.metrics().evicted, 1);
    const again = f.get('idle');
    assert.equal(again.metrics().successes, 0, 'a new member');
  });

  test('the default idleTtl is 10 minutes (600,000 ms)', async () => {
    const { clock, f } = family();
    f.get('idle');
    await collect();
    clock.advance(599_999);
    f.get('other');
    assert.equal(f.has('idle'), true);
    clock.advance(1);
    f.get('other');
    assert.equal(f.has('idle'), false);
  });

  test('every member pinned and the family full: get answers with the overflow breaker', () => {
    const { f } = family({ maxKeys: 2 });
    const a = f.get('a');
    const b = f.get('b');
    const c = f.get('c');
    assert.equal(c, f.overflow);
    assert.equal(c.name, 'api/(overflow)');
    assert.equal(f.get('d'), f.overflow);
    assert.equal(f.size, 2);
    assert.equal(f.has('c'), false);
    const m = f.metrics();
    assert.equal(m.overflowed, 2);
    assert.deepEqual(Object.keys(m.members).sort(), ['a', 'b']);
    assert.equal(m.overflow.state, 'closed');
    assert.deepEqual([a.name, b.name], ['api/a', 'api/b']);
  });

  test("'stateChange' carries every member's transition with its key (null for overflow)", () => {
    const { clock, f } = family({ maxKeys: 1 });
    const log = [];
    f.on('stateChange', (e) => log.push(e));
    const a = f.get('a');
    const own = [];
    a.on('stateChange', (e) => own.push(e));
    assert.throws(() => a.executeSync(fail));
    clock.advance(30_000);
    assert.equal(a.state, 'half_open');
    a.executeSync(() => 'probe');
    f.get('b').forceOpen(); // the family is full with 'a' held: 'b' gets the overflow breaker
    assert.deepEqual(log, [
      { key: 'a', from: 'closed', to: 'open', reason: 'failure_threshold', at: 0, remote: false, generation: 1 },
      { key: 'a', from: 'open', to: 'half_open', reason: 'open_elapsed', at: 30_000, remote: false, generation: 2 },
      { key: 'a', from: 'half_open', to: 'closed', reason: 'probe_success', at: 30_000, remote: false, generation: 3 },
      { key: null, from: 'closed', to: 'forced_open', reason: 'force_open', at: 30_000, remote: false, generation: 1 },
    ]);
    assert.ok(Object.isFrozen(log[0]));
    assert.deepEqual(
      own,
      log.slice(0, 3).map(({ key, ...t }) => t),
      "the member's own events are the same transitions",
    );
  });

  test('a transition caused by a family listener is emitted after it returns, in order', () => {
    const { f } = family();
    const log = [];
    f.on('stateChange', (e) => {
      log.push(`${e.key}:${e.to}`);
      if (e.to === 'open') f.get(e.key).reset();
      f.get('from-listener'); // the family may be used from its listener
      void [f.size, f.keys(), f.metrics()];
      log.push('returned');
    });
    assert.throws(() => f.get('k').executeSync(fail));
    assert.deepEqual(log, ['k:open', 'returned', 'k:closed', 'returned']);
    assert.equal(f.has('from-listener'), true);
  });

  test('a throwing family listener is a warning, not a failure', async () => {
    const { f } = family();
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      f.on('stateChange', () => {
        throw new Error('listener bug');
      });
      assert.throws(() => f.get('k').executeSync(fail), /down/);
      await immediate();
      assert.ok(warnings.some((w) => w.code === 'ECIRCUITLISTENER' && w.cause.message === 'listener bug'));
      assert.equal(f.get('k').state, 'open');
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('metrics(): per-key snapshots like breaker.metrics(), plus evicted and overflowed', () => {
    const { f } = family({ maxKeys: 2 });
    const a = f.get('a');
    a.executeSync(() => 1);
    a.executeSync(() => 2);
    assert.throws(() => f.get('b').executeSync(fail));
    const m = f.metrics();
    assert.deepEqual(Object.keys(m.members).sort(), ['a', 'b']);
    assert.deepEqual(m.members.a, a.metrics());
    assert.equal(m.members.a.successes, 2, 'every success has reached the engine');
    assert.equal(m.members.b.state, 'open');
    assert.equal(m.members.b.failures, 1);
    assert.deepEqual(Object.keys(m.overflow), Object.keys(a.metrics()));
    assert.equal(m.evicted, 0);
    assert.equal(m.overflowed, 0);
  });

  test('invalid options throw with a code and the option, like CircuitBreaker', () => {
    const cases = [
      [{ maxKeys: 0 }, RangeError, 'ERR_OUT_OF_RANGE', 'maxKeys'],
      [{ maxKeys: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE', 'maxKeys'],
      [{ maxKeys: Number.NaN }, RangeError, 'ERR_OUT_OF_RANGE', 'maxKeys'],
      [{ maxKeys: '8' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'maxKeys'],
      [{ idleTtl: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'idleTtl'],
      [{ idleTtl: Infinity }, RangeError, 'ERR_OUT_OF_RANGE', 'idleTtl'],
      [{ idleTtl: 1e300 }, RangeError, 'ERR_OUT_OF_RANGE', 'idleTtl'],
      [{ idleTtl: '10m' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'idleTtl'],
      [{ failureThreshold: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'failureThreshold'],
      [{ failureThreshold: 0 }, RangeError, 'ERR_OUT_OF_RANGE', 'failureThreshold'],
      [{ resetTimeout: '1s' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'resetTimeout'],
      [{ timeout: 0 }, RangeError, 'ERR_OUT_OF_RANGE', 'timeout'],
      [{ clock: Date }, TypeError, 'ERR_INVALID_ARG_TYPE', 'clock'],
      [{ max_keys: 3 }, TypeError, 'ERR_INVALID_ARG_VALUE', 'max_keys'],
      [{ idleTTL: 3 }, TypeError, 'ERR_INVALID_ARG_VALUE', 'idleTTL'],
      [{ volumeThreshold: 3 }, TypeError, 'ERR_INVALID_ARG_VALUE', 'volumeThreshold'],
    ];
    for (const [options, type, code, option] of cases) {
      assert.throws(
        () => new BreakerFamily(options),
        (err) => err instanceof type && err.code === code && err.option === option && err.message.includes(option),
        JSON.stringify(options),
      );
    }
    assert.throws(() => new BreakerFamily({ max_keys: 3 }), /did you mean `maxKeys`/);
    assert.throws(() => new BreakerFamily(null), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new BreakerFamily('api'), { code: 'ERR_INVALID_ARG_TYPE' });
    const { f } = family();
    assert.throws(() => f.get(42), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => f.has(undefined), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(new BreakerFamily({ maxKeys: undefined, idleTtl: undefined }).size, 0, 'undefined: default');
  });

  test('dropped members are freed by the garbage collector; a new object for the key emits once', async () => {
    const native = require(path.join(__dirname, '..', `circuit.${process.platform}-${process.arch}-gnu.node`));
    await collect();
    const before = native.liveBreakers();
    const { f } = family({ maxKeys: 2000 });
    for (let i = 0; i < 1000; i++) f.get(`k${i}`).executeSync(() => i);
    assert.ok(native.liveBreakers() >= before + 1000);
    for (let i = 0; i < 5 && native.liveBreakers() > before + 100; i++) await collect();
    assert.ok(native.liveBreakers() <= before + 100, `${native.liveBreakers() - before} handles left`);
    assert.equal(f.size, 1000, 'unpinned members stay until evicted');
    const log = [];
    const again = f.get('k1');
    again.on('stateChange', (t) => log.push(t.to));
    assert.throws(() => again.executeSync(fail));
    assert.deepEqual(log, ['open']);
    assert.equal(again.metrics().successes, 1, 'the same engine breaker as before');
  });

  test('the ESM entry exports the same class', async () => {
    const esm = await import('../index.mjs');
    assert.equal(esm.BreakerFamily, BreakerFamily);
  });
});
