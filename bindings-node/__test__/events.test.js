'use strict';
// The breaker as an EventEmitter: stateChange and the per-state events, reject/success/failure,
// ordering, re-entrant listeners, and listeners that throw.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { CircuitBreaker, CircuitOpenError, ManualClock } = require('..');

function setup(extra = {}) {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 1000, clock, ...extra });
  const log = [];
  for (const event of ['stateChange', 'open', 'halfOpen', 'close', 'reject', 'success', 'failure', 'timeout']) {
    breaker.on(event, (arg) => log.push([event, arg]));
  }
  return { clock, breaker, log };
}

const fail = () => {
  throw new Error('down');
};

describe('events', () => {
  test('CircuitBreaker is an EventEmitter', () => {
    assert.ok(new CircuitBreaker() instanceof EventEmitter);
  });

  test('a full cycle emits stateChange plus open, halfOpen and close, in order', () => {
    const { clock, breaker, log } = setup();
    breaker.executeSync(() => 'a');
    assert.throws(() => breaker.executeSync(fail));
    assert.throws(() => breaker.executeSync(fail));
    assert.throws(() => breaker.executeSync(() => 'never'), CircuitOpenError);
    clock.advance(1500);
    assert.equal(breaker.executeSync(() => 'probe'), 'probe');
    const names = log.map(([name]) => name);
    assert.deepEqual(names, [
      'success',
      'failure',
      'failure',
      'stateChange',
      'open',
      'reject',
      'stateChange',
      'halfOpen',
      'success',
      'stateChange',
      'close',
    ]);
    const transitions = log.filter(([name]) => name === 'stateChange').map(([, t]) => t);
    assert.deepEqual(transitions, [
      { from: 'closed', to: 'open', reason: 'failure_threshold', at: 0, remote: false, generation: 1 },
      { from: 'open', to: 'half_open', reason: 'open_elapsed', at: 1000, remote: false, generation: 2 },
      { from: 'half_open', to: 'closed', reason: 'probe_success', at: 1500, remote: false, generation: 3 },
    ]);
    assert.ok(Object.isFrozen(transitions[0]));
    // The per-state event carries the same transition object.
    assert.equal(log[4][1], log[3][1]);
    assert.ok(log[5][1] instanceof CircuitOpenError);
    assert.equal(log[0][1], 'a', "'success' carries the result");
    assert.equal(log[1][1].message, 'down', "'failure' carries the error");
  });

  test('lazy transitions are emitted by the call that observes them, dated when due', () => {
    const { clock, breaker, log } = setup();
    breaker.forceOpen();
    breaker.reset();
    assert.throws(() => breaker.executeSync(fail));
    assert.throws(() => breaker.executeSync(fail));
    clock.advance(5000);
    log.length = 0;
    assert.equal(breaker.state, 'half_open');
    assert.deepEqual(log, [
      ['stateChange', { from: 'open', to: 'half_open', reason: 'open_elapsed', at: 1000, remote: false, generation: 4 }],
      ['halfOpen', { from: 'open', to: 'half_open', reason: 'open_elapsed', at: 1000, remote: false, generation: 4 }],
    ]);
  });

  test('manual control emits reset, force_open and disable transitions', () => {
    const { breaker, log } = setup();
    breaker.forceOpen();
    breaker.forceOpen(); // a no-op: no event
    breaker.disable();
    breaker.reset();
    const transitions = log.filter(([name]) => name === 'stateChange').map(([, t]) => [t.from, t.to, t.reason]);
    assert.deepEqual(transitions, [
      ['closed', 'forced_open', 'force_open'],
      ['forced_open', 'disabled', 'disable'],
      ['disabled', 'closed', 'reset'],
    ]);
    assert.deepEqual(
      log.filter(([name]) => name === 'close').length,
      1,
      "'close' is emitted when closed is entered, whatever the reason",
    );
  });

  test('the two-step API emits transitions and reject, but no success/failure', () => {
    const { breaker, log } = setup();
    breaker.recordFailure(breaker.allow());
    breaker.recordFailure(breaker.allow());
    assert.throws(() => breaker.allow(), CircuitOpenError);
    assert.deepEqual(
      log.map(([name]) => name),
      ['stateChange', 'open', 'reject'],
    );
  });

  test('execute emits success and failure with the result and the error; ignored outcomes emit neither', async () => {
    const { breaker, log } = setup({ isFailure: (err) => err.message !== 'neutral' });
    await breaker.execute(async () => 42);
    await assert.rejects(breaker.execute(() => Promise.reject(new Error('bad'))));
    await assert.rejects(breaker.execute(() => Promise.reject(new Error('neutral'))));
    assert.deepEqual(
      log.map(([name, arg]) => [name, arg instanceof Error ? arg.message : arg]),
      [
        ['success', 42],
        ['failure', 'bad'],
      ],
    );
  });

  test('a throwing listener never breaks the breaker, the call or the other listeners', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: new ManualClock() });
    const seen = [];
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      breaker.on('stateChange', () => {
        throw new Error('listener bug');
      });
      breaker.on('stateChange', (t) => seen.push(t.to));
      breaker.on('failure', () => {
        throw new Error('another bug');
      });
      breaker.on('success', async () => {
        throw new Error('async listener bug');
      });
      assert.equal(await breaker.execute(async () => 'ok'), 'ok');
      await assert.rejects(breaker.execute(() => Promise.reject(new Error('real'))), /real/);
      assert.equal(breaker.state, 'open');
      assert.deepEqual(seen, ['open']);
      breaker.reset();
      assert.deepEqual(seen, ['open', 'closed']);
      assert.equal(breaker.executeSync(() => 'still works'), 'still works');
      await new Promise(setImmediate);
    } finally {
      process.off('warning', onWarning);
    }
    const messages = warnings.map((w) => `${w.code} ${w.cause?.message}`);
    assert.ok(messages.includes('ECIRCUITLISTENER listener bug'), messages.join());
    assert.ok(messages.includes('ECIRCUITLISTENER another bug'), messages.join());
    assert.ok(messages.includes('ECIRCUITLISTENER async listener bug'), messages.join());
  });

  test('a listener may call back into the breaker; what it causes is emitted after it returns', () => {
    const { breaker, log } = setup();
    breaker.once('open', () => {
      breaker.reset(); // re-entrant: emits closed after this listener returns
      assert.equal(breaker.state, 'closed');
    });
    assert.throws(() => breaker.executeSync(fail));
    assert.throws(() => breaker.executeSync(fail));
    const transitions = log.filter(([name]) => name === 'stateChange').map(([, t]) => `${t.from}->${t.to}`);
    assert.deepEqual(transitions, ['closed->open', 'open->closed']);
    assert.equal(breaker.state, 'closed');
  });

  test('once() listeners fire once', () => {
    const { breaker } = setup();
    let count = 0;
    breaker.once('stateChange', () => count++);
    breaker.forceOpen();
    breaker.reset();
    assert.equal(count, 1);
  });

  test('listeners added later see only later events; removed listeners see none', () => {
    const { breaker } = setup();
    breaker.forceOpen();
    const seen = [];
    const listener = (t) => seen.push(t.reason);
    breaker.on('stateChange', listener);
    breaker.reset();
    breaker.off('stateChange', listener);
    breaker.disable();
    assert.deepEqual(seen, ['reset']);
  });

  test('a listener removed by an earlier listener is not called for the same event', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: new ManualClock() });
    const calls = [];
    const removed = () => calls.push('removed');
    breaker.on('stateChange', () => {
      calls.push('remover');
      breaker.off('stateChange', removed);
    });
    breaker.on('stateChange', removed);
    breaker.forceOpen();
    breaker.reset();
    assert.deepEqual(calls, ['remover', 'remover']);
  });

  test('a listener that removes itself, and once listeners, are called once', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: new ManualClock() });
    const calls = [];
    const self = () => {
      calls.push('self');
      breaker.off('stateChange', self);
    };
    breaker.on('stateChange', self);
    breaker.once('stateChange', () => calls.push('once'));
    breaker.on('stateChange', () => calls.push('stays'));
    breaker.forceOpen();
    breaker.reset();
    assert.deepEqual(calls, ['self', 'once', 'stays', 'stays']);
  });

  test('a function registered twice, one registration removed by an earlier listener, runs once', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: new ManualClock() });
    const calls = [];
    const twice = () => calls.push('twice');
    breaker.on('stateChange', () => {
      calls.push('remover');
      if (calls.length === 1) breaker.off('stateChange', twice);
    });
    breaker.on('stateChange', twice);
    breaker.on('stateChange', twice);
    breaker.forceOpen();
    assert.deepEqual(calls, ['remover', 'twice']);
  });
});
