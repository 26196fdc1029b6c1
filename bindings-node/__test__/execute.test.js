'use strict';
// execute / executeSync / wrap with synchronous, asynchronous, throwing and rejecting functions;
// isFailure and the default classification; fallback.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { CircuitBreaker, CircuitOpenError, ManualClock } = require('..');

const delay = (ms, value) => new Promise((resolve) => setTimeout(resolve, ms, value));

function breaker(extra = {}) {
  return new CircuitBreaker({ failureThreshold: 2, resetTimeout: 1000, clock: new ManualClock(), ...extra });
}

function counts(b) {
  const m = b.metrics();
  return { successes: m.successes, failures: m.failures, ignored: m.ignored, admitted: m.admitted, rejected: m.rejected };
}

describe('execute', () => {
  test('returns a promise for a synchronous function and records a success', async () => {
    const b = breaker();
    const result = b.execute((a, c) => a + c, 2, 3);
    assert.ok(result instanceof Promise);
    assert.equal(await result, 5);
    assert.deepEqual(counts(b), { successes: 1, failures: 0, ignored: 0, admitted: 1, rejected: 0 });
  });

  test('passes any number of arguments (0, 1 and more take different paths), and to the fallback', async () => {
    const b = breaker();
    const seen = (...args) => args;
    for (const args of [[], [1], [1, 2], [1, 2, 3], [undefined], [undefined, undefined]]) {
      assert.deepEqual(await b.execute(seen, ...args), args, `${args.length} argument(s)`);
      assert.deepEqual(await b.execute(async (...a) => a, ...args), args, `${args.length} argument(s), async`);
      assert.deepEqual(await b.wrap(seen)(...args), args, `${args.length} argument(s), wrapped`);
    }
    assert.equal(b.metrics().successes, 18);
    const fallback = (...args) => args;
    const open = breaker({ fallback });
    open.forceOpen();
    for (const args of [[], [1], [1, 2]]) {
      const [...got] = await open.execute(seen, ...args);
      assert.deepEqual(got.slice(0, -1), args, `${args.length} argument(s) reach the fallback`);
      assert.ok(got.at(-1) instanceof CircuitOpenError);
    }
  });

  test('resolves with an async function result', async () => {
    const b = breaker();
    assert.equal(await b.execute(async (x) => delay(5, x * 2), 21), 42);
    assert.equal(b.metrics().successes, 1);
  });

  test('a synchronous throw becomes a rejection and a failure', async () => {
    const b = breaker();
    const boom = new Error('boom');
    const result = b.execute(() => {
      throw boom;
    });
    assert.ok(result instanceof Promise);
    await assert.rejects(result, (err) => err === boom);
    assert.equal(b.metrics().failures, 1);
  });

  test('a rejection is passed through and recorded as a failure', async () => {
    const b = breaker();
    await assert.rejects(
      b.execute(async () => {
        await delay(1);
        throw new TypeError('bad');
      }),
      TypeError,
    );
    assert.deepEqual(counts(b), { successes: 0, failures: 1, ignored: 0, admitted: 1, rejected: 0 });
  });

  test('non-Error thrown values are failures too', async () => {
    const b = breaker();
    await assert.rejects(b.execute(() => Promise.reject('text')), (err) => err === 'text');
    assert.throws(
      () =>
        b.executeSync(() => {
          throw 42;
        }),
      (err) => err === 42,
    );
    assert.equal(b.state, 'open');
  });

  test('thenables are awaited', async () => {
    const b = breaker();
    const thenable = { then: (resolve) => setTimeout(() => resolve('later'), 1) };
    assert.equal(await b.execute(() => thenable), 'later');
    const failing = { then: (_resolve, reject) => reject(new Error('no')) };
    await assert.rejects(b.execute(() => failing), /no/);
    assert.deepEqual(counts(b), { successes: 1, failures: 1, ignored: 0, admitted: 2, rejected: 0 });
  });

  test('rejects with CircuitOpenError once open, without calling fn', async () => {
    const b = breaker({ name: 'inventory' });
    for (let i = 0; i < 2; i++) await assert.rejects(b.execute(() => Promise.reject(new Error('x'))));
    let called = false;
    await assert.rejects(
      b.execute(() => {
        called = true;
      }),
      (err) => {
        assert.ok(err instanceof CircuitOpenError);
        assert.ok(err instanceof Error);
        assert.equal(err.name, 'CircuitOpenError');
        assert.equal(err.code, 'ECIRCUITOPEN');
        assert.equal(err.breakerName, 'inventory');
        assert.equal(err.state, 'open');
        assert.equal(err.reason, 'open');
        assert.equal(err.retryAfter, 1000);
        assert.match(err.message, /circuit `inventory` rejected the call \(open\); retry after 1000 ms/);
        return true;
      },
    );
    assert.equal(called, false);
    assert.equal(b.metrics().rejected, 1);
  });

  test('retryAfter is undefined when forced open or when half-open is full', async () => {
    const clock = new ManualClock();
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 10, clock });
    b.forceOpen();
    await assert.rejects(b.execute(() => 1), (err) => err.reason === 'forced_open' && err.retryAfter === undefined);
    b.reset();
    await assert.rejects(b.execute(() => Promise.reject(new Error('x'))));
    clock.advance(10);
    const probe = b.execute(() => delay(5, 'probe'));
    await assert.rejects(
      b.execute(() => 1),
      (err) => err.reason === 'half_open_full' && err.state === 'half_open' && err.retryAfter === undefined,
    );
    assert.equal(await probe, 'probe');
    assert.equal(b.state, 'closed');
  });

  test('a fn that is not a function rejects with a TypeError', async () => {
    const b = breaker();
    await assert.rejects(b.execute('nope'), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => b.executeSync(null), TypeError);
    assert.throws(() => b.wrap(42), TypeError);
    assert.equal(b.metrics().admitted, 0);
  });

  test('a slow call is measured from admission to settlement', async () => {
    const clock = new ManualClock();
    const b = new CircuitBreaker({ slowCallDuration: 100, clock });
    await b.execute(async () => {
      await delay(1);
      clock.advance(150);
      return 1;
    });
    await b.execute(async () => clock.advance(50));
    const m = b.metrics();
    assert.equal(m.slow, 1);
    assert.equal(m.successes, 2);
  });
});

describe('executeSync', () => {
  test('returns the value and records a success', () => {
    const b = breaker();
    assert.equal(
      b.executeSync((x) => x + 1, 1),
      2,
    );
    assert.equal(b.metrics().successes, 1);
  });

  test('rethrows and records a failure', () => {
    const b = breaker();
    assert.throws(() =>
      b.executeSync(() => {
        throw new RangeError('r');
      }),
    );
    assert.equal(b.metrics().failures, 1);
  });

  test('throws CircuitOpenError synchronously when open', () => {
    const b = breaker();
    b.forceOpen();
    assert.throws(() => b.executeSync(() => 1), CircuitOpenError);
  });

  test('refuses a function that returns a promise (recorded as ignored)', () => {
    const b = breaker();
    const pending = Promise.resolve(1);
    assert.throws(
      () => b.executeSync(() => pending),
      (err) => err instanceof TypeError && /use execute\(\)/.test(err.message),
    );
    assert.deepEqual(counts(b), { successes: 0, failures: 0, ignored: 1, admitted: 1, rejected: 0 });
  });

  test('a transition caused by recording that refused promise is emitted before executeSync throws', () => {
    const clock = new ManualClock();
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 100, halfOpenMaxWait: 50, clock });
    assert.throws(() => b.executeSync(() => { throw new Error('down'); }), /down/);
    clock.advance(100);
    const seen = [];
    b.on('stateChange', (t) => seen.push(`${t.from}->${t.to} ${t.reason} at ${t.at}`));
    assert.throws(
      () =>
        b.executeSync(() => {
          clock.advance(60); // the probe outlives halfOpenMaxWait: recording it re-opens the breaker
          return Promise.resolve('late');
        }),
      (err) => err instanceof TypeError && /use execute\(\)/.test(err.message),
    );
    assert.deepEqual(seen, ['open->half_open open_elapsed at 100', 'half_open->open half_open_max_wait at 150']);
  });

  test('a rejected promise refused by executeSync is not left as an unhandled rejection', async () => {
    const b = breaker();
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      assert.throws(() => b.executeSync(() => Promise.reject(new Error('async failure'))), TypeError);
      await delay(10);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.deepEqual(counts(b), { successes: 0, failures: 0, ignored: 1, admitted: 1, rejected: 0 });
  });
});

describe('wrap', () => {
  test('returns a function with the same parameters, name and this', async () => {
    const b = breaker();
    const service = {
      factor: 3,
      async scale(x, y) {
        return (x + y) * this.factor;
      },
    };
    service.scale = b.wrap(service.scale);
    assert.equal(service.scale.name, 'scale');
    assert.equal(service.scale.length, 2);
    assert.equal(await service.scale(1, 2), 9);
    assert.equal(b.metrics().successes, 1);
  });

  test('keeps `this` with any number of arguments', async () => {
    const b = breaker();
    const target = { tag: 't', seen(...args) { return [this?.tag, ...args]; } };
    target.wrapped = b.wrap(target.seen);
    for (const args of [[], [1], [1, 2, 3]]) {
      assert.deepEqual(await target.wrapped(...args), ['t', ...args]);
      assert.deepEqual(await b.wrap(target.seen)(...args), [undefined, ...args], 'called without a receiver');
    }
  });

  test('wrapped sync, throwing and rejecting functions', async () => {
    const b = breaker({ failureThreshold: 10 });
    const sync = b.wrap((x) => x);
    const throwing = b.wrap(() => {
      throw new Error('t');
    });
    const rejecting = b.wrap(async () => {
      throw new Error('r');
    });
    assert.equal(await sync('v'), 'v');
    await assert.rejects(throwing(), /t/);
    await assert.rejects(rejecting(), /r/);
    assert.deepEqual(counts(b), { successes: 1, failures: 2, ignored: 0, admitted: 3, rejected: 0 });
  });
});

describe('failure classification', () => {
  test('isFailure decides failure vs ignored', async () => {
    const b = breaker({ isFailure: (err) => !(err instanceof RangeError) });
    await assert.rejects(b.execute(() => Promise.reject(new RangeError('client error'))));
    await assert.rejects(b.execute(() => Promise.reject(new RangeError('client error'))));
    assert.equal(b.state, 'closed');
    assert.deepEqual(counts(b), { successes: 0, failures: 0, ignored: 2, admitted: 2, rejected: 0 });
    await assert.rejects(b.execute(() => Promise.reject(new Error('server error'))));
    assert.equal(b.metrics().failures, 1);
  });

  test('an isFailure that throws counts the call as a failure and warns', async () => {
    const b = breaker({
      isFailure: () => {
        throw new Error('classifier bug');
      },
    });
    const warned = new Promise((resolve) => process.once('warning', resolve));
    await assert.rejects(b.execute(() => Promise.reject(new Error('x'))), /x/);
    assert.equal(b.metrics().failures, 1);
    const warning = await warned;
    assert.equal(warning.code, 'ECIRCUITLISTENER');
  });

  test("an AbortError caused by the caller's own signal is ignored", async () => {
    const b = breaker({ failureThreshold: 1 });
    const controller = new AbortController();
    const call = (signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    const pending = b.execute(call, controller.signal);
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(b.state, 'closed');
    assert.deepEqual(counts(b), { successes: 0, failures: 0, ignored: 1, admitted: 1, rejected: 0 });

    // The same through an options object: fetch-style `{ signal }`.
    const second = new AbortController();
    const fetchLike = (_url, { signal }) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true });
      });
    const pendingFetch = b.execute(fetchLike, 'http://x', { signal: second.signal });
    second.abort();
    await assert.rejects(pendingFetch, { name: 'AbortError' });
    assert.equal(b.metrics().ignored, 2);
  });

  test('an AbortError without an aborted caller signal is a failure', async () => {
    const b = breaker({ failureThreshold: 1 });
    const live = new AbortController();
    await assert.rejects(
      b.execute(() => Promise.reject(new DOMException('upstream aborted', 'AbortError')), live.signal),
      { name: 'AbortError' },
    );
    assert.equal(b.state, 'open');
  });

  test('any other error after the caller aborted is still a failure', async () => {
    const b = breaker({ failureThreshold: 1 });
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      b.execute(() => Promise.reject(new Error('unrelated')), controller.signal),
      /unrelated/,
    );
    assert.equal(b.metrics().failures, 1);
  });
});

describe('failure classification of aborts: a timeout is a failure, the caller cancelling is not', () => {
  /** Never settles, except by rejecting with the signal's reason when it aborts. */
  const hang = (signal) =>
    new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  /** `AbortSignal.timeout`'s timer is unref'd: keep the event loop up while `body` waits on one. */
  const alive = (body) => async () => {
    const keep = setInterval(() => {}, 1_000);
    try {
      await body();
    } finally {
      clearInterval(keep);
    }
  };
  const outcomes = (b) => {
    const m = b.metrics();
    return { failures: m.failures, ignored: m.ignored, state: m.state };
  };

  test('AbortSignal.timeout passed by the caller: the TimeoutError is a failure', alive(async () => {
    const b = breaker({ failureThreshold: 2 });
    await assert.rejects(b.execute(hang, AbortSignal.timeout(10)), { name: 'TimeoutError' });
    // fetch-style `{ signal }`
    await assert.rejects(
      b.execute((_url, { signal }) => hang(signal), 'http://upstream', { signal: AbortSignal.timeout(10) }),
      { name: 'TimeoutError' },
    );
    assert.deepEqual(outcomes(b), { failures: 2, ignored: 0, state: 'open' });
  }));

  test("Node's own AbortError caused by AbortSignal.timeout (timers/promises) is a failure", alive(async () => {
    const { setTimeout: sleep } = require('node:timers/promises');
    const b = breaker({ failureThreshold: 1 });
    const wrapped = b.wrap((ms, options) => sleep(ms, 'late', options));
    await assert.rejects(wrapped(60_000, { signal: AbortSignal.timeout(10) }), (err) => {
      assert.equal(err.name, 'AbortError', 'Node rejects with an AbortError...');
      assert.equal(err.cause?.name, 'TimeoutError', '...caused by the timeout');
      return true;
    });
    assert.deepEqual(outcomes(b), { failures: 1, ignored: 0, state: 'open' });
  }));

  test('a caller abort whose reason is a timeout, or AbortSignal.any with a timeout, is a failure', alive(async () => {
    const b = breaker({ failureThreshold: 5 });
    const controller = new AbortController();
    const pending = b.execute(hang, controller.signal);
    controller.abort(new DOMException('deadline exceeded', 'TimeoutError'));
    await assert.rejects(pending, { name: 'TimeoutError' });
    const mine = new AbortController();
    await assert.rejects(b.execute(hang, AbortSignal.any([mine.signal, AbortSignal.timeout(10)])), {
      name: 'TimeoutError',
    });
    assert.deepEqual(outcomes(b), { failures: 2, ignored: 0, state: 'closed' });
  }));

  test('an explicit controller.abort() stays neutral (ignored), with or without a custom reason', alive(async () => {
    const b = breaker({ failureThreshold: 1 });
    const first = new AbortController();
    const pending = b.execute(hang, first.signal);
    first.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    const second = new AbortController();
    const custom = new Error('user navigated away');
    const pendingCustom = b.execute(({ signal }) => hang(signal), { signal: second.signal });
    second.abort(custom);
    await assert.rejects(pendingCustom, (err) => err === custom);
    // An explicit abort of a signal combined with a timeout that has not fired.
    const third = new AbortController();
    const pendingAny = b.execute(hang, AbortSignal.any([third.signal, AbortSignal.timeout(60_000)]));
    third.abort();
    await assert.rejects(pendingAny, { name: 'AbortError' });
    assert.deepEqual(outcomes(b), { failures: 0, ignored: 3, state: 'closed' });
  }));

  test('fetch against a loopback server that hangs: AbortSignal.timeout trips the breaker, controller.abort() does not', alive(async () => {
    const http = require('node:http');
    const server = http.createServer(() => {}); // accepts requests and never answers
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${server.address().port}/`;
    try {
      const b = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 60_000 });
      const get = b.wrap((target, init) => fetch(target, init));
      const controller = new AbortController();
      const cancelled = get(url, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(cancelled, { name: 'AbortError' });
      assert.deepEqual(outcomes(b), { failures: 0, ignored: 1, state: 'closed' });
      for (let i = 0; i < 2; i++) {
        await assert.rejects(get(url, { signal: AbortSignal.timeout(30) }), { name: 'TimeoutError' });
      }
      assert.deepEqual(outcomes(b), { failures: 2, ignored: 1, state: 'open' });
      await assert.rejects(get(url, { signal: AbortSignal.timeout(30) }), CircuitOpenError);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }));
});

describe('fallback', () => {
  test('is called with the same arguments plus the CircuitOpenError when rejected', async () => {
    const seen = [];
    const b = breaker({
      fallback: (a, c, err) => {
        seen.push([a, c, err]);
        return `cached ${a}`;
      },
    });
    b.forceOpen();
    assert.equal(await b.execute(async () => 'live', 'k', 7), 'cached k');
    assert.equal(b.executeSync(() => 'live', 'j', 8), 'cached j');
    assert.equal(await b.wrap(async (x) => x)('w'), 'cached w');
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[0].slice(0, 2), ['k', 7]);
    assert.ok(seen[0][2] instanceof CircuitOpenError);
    assert.equal(seen[0][2].reason, 'forced_open');
  });

  test('is not called for failures, and an async fallback is awaited', async () => {
    let calls = 0;
    const b = breaker({
      fallback: async () => {
        calls++;
        return 'fallback';
      },
    });
    await assert.rejects(b.execute(() => Promise.reject(new Error('f'))), /f/);
    assert.equal(calls, 0);
    b.forceOpen();
    assert.equal(await b.execute(() => 'live'), 'fallback');
    assert.equal(calls, 1);
  });

  test('a throwing fallback rejects with its error', async () => {
    const b = breaker({
      fallback: () => {
        throw new Error('no fallback either');
      },
    });
    b.forceOpen();
    await assert.rejects(b.execute(() => 1), /no fallback either/);
  });
});

describe('successes recorded with the next engine call', () => {
  // In consecutive-failure mode `execute` hands a success to the engine with the next native
  // call of the breaker (see the comment of CircuitBreaker in lib/breaker.js). Nothing may tell.
  test('a success between two failures still ends the failure run', async () => {
    const b = breaker({ failureThreshold: 2 });
    await assert.rejects(b.execute(() => Promise.reject(new Error('1'))));
    await b.execute(async () => 'ok');
    await assert.rejects(b.execute(() => Promise.reject(new Error('2'))));
    assert.equal(b.state, 'closed');
    assert.equal(b.metrics().consecutiveFailures, 1);
    b.executeSync(() => 'ok');
    assert.throws(() => b.executeSync(() => { throw new Error('3'); }));
    assert.equal(b.state, 'closed');
  });

  test('every observation sees every success', async () => {
    const b = breaker();
    await Promise.all(Array.from({ length: 100 }, (_, i) => b.execute(async () => i)));
    assert.equal(b.metrics().successes, 100);
    await b.execute(async () => 1);
    b.reset();
    const m = b.metrics();
    assert.equal(m.successes, 101);
    assert.equal(m.admitted, 101);
    for (let i = 0; i < 10; i++) b.executeSync(() => i);
    assert.equal(b.metrics().successes, 111);
  });

  test('calls in flight across generations each record in their own generation', async () => {
    // Calls without object arguments share their generation's reactions; calls with one get
    // their own; both must record against the generation they were admitted in.
    const b = breaker({ failureThreshold: 3 });
    const settlers = [];
    const call = () => new Promise((resolve, reject) => settlers.push({ resolve, reject }));
    const old = [b.execute(call), b.execute(call), b.execute(call, {}), b.execute(call, 7)];
    b.reset(); // closed -> closed: a new generation
    const current = [b.execute(call), b.execute(call, {}), b.execute(call, 'x')];
    assert.equal(settlers.length, 7);
    settlers[0].resolve(1);
    settlers[1].reject(new Error('old'));
    settlers[2].reject(new Error('old, object argument'));
    settlers[3].resolve(4);
    settlers[4].reject(new Error('new'));
    settlers[5].resolve(6);
    settlers[6].reject(new Error('new, primitive argument'));
    const results = await Promise.allSettled([...old, ...current]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected']);
    const m = b.metrics();
    assert.deepEqual([m.stale, m.successes, m.failures, m.consecutiveFailures], [4, 1, 2, 1]);
  });

  test('a success after a transition is recorded at once (stale here)', async () => {
    const b = breaker();
    let release;
    const pending = b.execute(() => new Promise((resolve) => (release = resolve)));
    b.forceOpen();
    b.reset();
    release('late');
    assert.equal(await pending, 'late');
    const m = b.metrics();
    assert.equal(m.stale, 1);
    assert.equal(m.successes, 0);
  });

  test('successes before and after a reset are both counted, in their generations', async () => {
    const b = breaker();
    await b.execute(async () => 1);
    b.reset();
    await b.execute(async () => 2);
    b.disable();
    await b.execute(async () => 3);
    const m = b.metrics();
    assert.equal(m.successes, 3);
    assert.equal(m.stale, 0);
  });

  test('rate and slow-call breakers record every success at once', async () => {
    const b = breaker({ failureRateThreshold: 0.5, minimumCalls: 2, windowSize: 2 });
    await b.execute(async () => 1);
    await assert.rejects(b.execute(() => Promise.reject(new Error('x'))));
    assert.equal(b.state, 'open', 'one success and one failure: 50%');
  });
});
