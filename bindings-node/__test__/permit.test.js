'use strict';
// The two-step API: allow() / recordSuccess / recordFailure / recordIgnored, permits' fields,
// double recording, foreign permits, stale permits.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { CircuitBreaker, CircuitOpenError, ManualClock, Permit, PermitError } = require('..');

function setup(extra = {}) {
  const clock = new ManualClock();
  return { clock, breaker: new CircuitBreaker({ failureThreshold: 1, resetTimeout: 100, clock, ...extra }) };
}

describe('two-step API', () => {
  test('allow returns a Permit; record* return true when counted', () => {
    const { breaker } = setup({ failureThreshold: 3 });
    const permit = breaker.allow();
    assert.ok(permit instanceof Permit);
    assert.equal(permit.generation, 0);
    assert.equal(permit.isProbe, false);
    assert.equal(permit.admittedAt, undefined, 'no clock read without a slow-call rule');
    assert.equal(permit.recorded, false);
    assert.equal(breaker.recordSuccess(permit), true);
    assert.equal(permit.recorded, true);
    assert.equal(breaker.recordFailure(breaker.allow()), true);
    assert.equal(breaker.recordIgnored(breaker.allow()), true);
    const m = breaker.metrics();
    assert.deepEqual([m.successes, m.failures, m.ignored, m.consecutiveFailures], [1, 1, 1, 1]);
  });

  test('allow throws CircuitOpenError when open', () => {
    const { breaker } = setup();
    breaker.recordFailure(breaker.allow());
    assert.throws(() => breaker.allow(), (err) => err instanceof CircuitOpenError && err.retryAfter === 100);
  });

  test('recording a permit twice throws and changes nothing', () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const permit = breaker.allow();
    assert.equal(breaker.recordFailure(permit), true);
    const before = breaker.metrics();
    for (const record of ['recordSuccess', 'recordFailure', 'recordIgnored']) {
      assert.throws(
        () => breaker[record](permit),
        (err) => err instanceof PermitError && err.code === 'EALREADYRECORDED' && err.name === 'PermitError',
      );
    }
    assert.deepEqual(breaker.metrics(), before);
    assert.equal(breaker.state, 'closed');
  });

  test('a permit of another breaker is refused and stays usable', () => {
    const { breaker } = setup();
    const other = new CircuitBreaker();
    const permit = other.allow();
    assert.throws(() => breaker.recordSuccess(permit), (err) => err instanceof PermitError && err.code === 'EFOREIGNPERMIT');
    assert.equal(permit.recorded, false);
    assert.equal(other.recordSuccess(permit), true);
  });

  test('a permit from before a transition is stale: false, and only the stale tally moves', () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const old = breaker.allow();
    breaker.reset();
    assert.equal(breaker.recordFailure(old), false);
    const m = breaker.metrics();
    assert.equal(m.stale, 1);
    assert.equal(m.failures, 0);
    assert.equal(m.consecutiveFailures, 0);
  });

  test('probes carry their admission time; a probe recorded ignored frees its slot', () => {
    const { clock, breaker } = setup({ halfOpenMaxCalls: 1 });
    breaker.recordFailure(breaker.allow());
    clock.advance(100);
    const probe = breaker.allow();
    assert.equal(probe.isProbe, true);
    assert.equal(probe.admittedAt, 100);
    assert.throws(() => breaker.allow(), (err) => err.reason === 'half_open_full');
    assert.equal(breaker.recordIgnored(probe), true);
    const next = breaker.allow();
    assert.equal(next.isProbe, true);
    assert.equal(breaker.recordSuccess(next), true);
    assert.equal(breaker.state, 'closed');
  });

  test('slow-call breakers stamp closed-state permits with their admission time', () => {
    const { clock, breaker } = setup({ slowCallDuration: 10 });
    clock.advance(5);
    const permit = breaker.allow();
    assert.equal(permit.admittedAt, 5);
    clock.advance(11);
    assert.equal(breaker.recordSuccess(permit), true);
    assert.equal(breaker.metrics().slow, 1);
  });

  test('record* refuse anything but a Permit', () => {
    const { breaker } = setup();
    for (const bad of [undefined, null, {}, 1, { generation: 0 }]) {
      assert.throws(() => breaker.recordSuccess(bad), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE');
    }
    assert.equal(breaker.metrics().successes, 0);
  });

  test('Permit cannot be constructed by hand', () => {
    assert.throws(() => new Permit(), TypeError);
  });

  test('permit fields are read-only', () => {
    const { breaker } = setup();
    const permit = breaker.allow();
    assert.throws(() => {
      'use strict';
      permit.recorded = true;
    }, TypeError);
    assert.equal(permit.recorded, false);
    breaker.recordIgnored(permit);
  });

  test('successes, deferred or not, always report true and are always counted', () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const permits = Array.from({ length: 5 }, () => breaker.allow());
    assert.deepEqual(permits.map((p) => breaker.recordSuccess(p)), [true, true, true, true, true]);
    assert.equal(breaker.recordFailure(breaker.allow()), true);
    assert.equal(breaker.recordSuccess(breaker.allow()), true);
    assert.equal(breaker.recordFailure(breaker.allow()), true);
    assert.equal(breaker.state, 'closed', 'the success between the failures ended the run');
    const m = breaker.metrics();
    assert.deepEqual([m.successes, m.failures, m.consecutiveFailures, m.admitted], [6, 2, 1, 8]);
    const old = breaker.allow();
    breaker.reset();
    assert.equal(breaker.recordSuccess(old), false, 'stale after a transition');
    assert.equal(breaker.metrics().stale, 1);
  });
});

describe('recordSuccess from a re-entrant listener reports what the engine decided', () => {
  // A listener may call back into the breaker (docs/semantics.md, "Observability"). A transition it causes is
  // emitted only after it returns, but a permit admitted before that transition is stale at once:
  // recordSuccess must say so (false), as the engine's `stale` tally does.
  const fail = () => {
    throw new Error('down');
  };
  /** Transitions a listener can cause from closed. */
  const CAUSES = {
    'reset()': (b) => b.reset(),
    'forceOpen()': (b) => b.forceOpen(),
    'disable()': (b) => b.disable(),
    'a tripping recordFailure()': (b) => assert.equal(b.recordFailure(b.allow()), true),
    'a tripping executeSync()': (b) => assert.throws(() => b.executeSync(fail), /down/),
  };

  /** Runs `body` in a 'stateChange' listener (the reset out of `disabled`); returns its result. */
  function inListener(breaker, body) {
    breaker.disable();
    let out;
    let ran = false;
    breaker.once('stateChange', () => {
      ran = true;
      out = body();
    });
    breaker.reset();
    assert.ok(ran, 'the listener ran');
    return out;
  }

  /** The answer of `record()`, checked against the engine's tallies (read outside any listener). */
  function answerAgreesWithEngine(breaker, record) {
    const before = breaker.metrics();
    const answer = record();
    const after = breaker.metrics();
    const counted = after.successes - before.successes;
    const stale = after.stale - before.stale;
    assert.deepEqual({ counted, stale }, answer ? { counted: 1, stale: 0 } : { counted: 0, stale: 1 }, `answer ${answer}`);
    return answer;
  }

  for (const [cause, transition] of Object.entries(CAUSES)) {
    test(`allow(), ${cause}, recordSuccess(p) in a listener: false (stale)`, () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const answer = answerAgreesWithEngine(breaker, () =>
        inListener(breaker, () => {
          const permit = breaker.allow();
          transition(breaker);
          return breaker.recordSuccess(permit);
        }),
      );
      assert.equal(answer, false);
    });

    test(`allow() and ${cause} in a listener, recordSuccess(p) after it: false (stale)`, () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const permit = inListener(breaker, () => {
        const p = breaker.allow();
        transition(breaker);
        return p;
      });
      assert.equal(answerAgreesWithEngine(breaker, () => breaker.recordSuccess(permit)), false);
    });
  }

  test('allow() and recordSuccess(p) in a listener with no transition between: true (counted)', () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const answer = answerAgreesWithEngine(breaker, () =>
      inListener(breaker, () => {
        const permit = breaker.allow();
        assert.equal(breaker.state, 'closed');
        return breaker.recordSuccess(permit);
      }),
    );
    assert.equal(answer, true);
    // And admitted in the listener, recorded after it returned.
    const permit = inListener(breaker, () => breaker.allow());
    assert.equal(answerAgreesWithEngine(breaker, () => breaker.recordSuccess(permit)), true);
  });

  test('a permit from before the transition being emitted, recorded in its listener: false (stale)', () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const permit = breaker.allow();
    let answer;
    breaker.once('stateChange', () => {
      answer = breaker.recordSuccess(permit);
    });
    const before = breaker.metrics().stale;
    breaker.reset();
    assert.equal(answer, false);
    assert.equal(breaker.metrics().stale, before + 1);
  });

  test('a transition in a nested listener (a listener of a transition a listener caused)', () => {
    const { breaker } = setup({ failureThreshold: 1 });
    let answer;
    const returned = answerAgreesWithEngine(breaker, () => {
      inListener(breaker, () => {
        breaker.once('stateChange', (t) => {
          // Emitted by the loop already running, after the outer listener returned.
          assert.equal(t.reason, 'reset');
          const permit = breaker.allow();
          breaker.disable();
          answer = breaker.recordSuccess(permit);
        });
        breaker.reset();
      });
      return answer;
    });
    assert.equal(returned, false);
    assert.equal(breaker.state, 'disabled');
  });

  test('a probe admitted by allow() in a listener, then reset(): false (stale)', () => {
    const { clock, breaker } = setup({ failureThreshold: 1 });
    breaker.recordFailure(breaker.allow());
    const before = breaker.metrics().stale;
    clock.advance(100);
    let answer;
    breaker.once('stateChange', (t) => {
      assert.equal(t.to, 'half_open');
      const probe = breaker.allow();
      assert.equal(probe.isProbe, true);
      breaker.reset();
      answer = breaker.recordSuccess(probe);
    });
    assert.equal(breaker.state, 'half_open', 'applies open -> half_open; the listener runs');
    assert.equal(breaker.state, 'closed');
    assert.equal(answer, false);
    assert.equal(breaker.metrics().stale, before + 1);
  });
});

describe('recordFailure(permit, { retryAfter })', () => {
  const rejectionRetryAfter = (breaker) => {
    let retryAfter;
    assert.throws(
      () => breaker.allow(),
      (err) => err instanceof CircuitOpenError && ((retryAfter = err.retryAfter), true),
    );
    return retryAfter;
  };

  test('a tripping failure opens for the retry time', () => {
    const { breaker, clock } = setup({ resetTimeout: 10_000 });
    const transitions = [];
    breaker.on('stateChange', (t) => transitions.push(`${t.from}->${t.to}`));
    assert.equal(breaker.recordFailure(breaker.allow(), { retryAfter: 60_000 }), true);
    assert.deepEqual(transitions, ['closed->open'], 'the transition is emitted');
    assert.equal(breaker.metrics().retryAfter, 60_000);
    assert.equal(rejectionRetryAfter(breaker), 60_000);
    clock.advance(59_999);
    assert.equal(breaker.state, 'open');
    clock.advance(1);
    assert.equal(breaker.state, 'half_open');
  });

  test("a probe's failure re-opens for the retry time; a time-stamped permit too", () => {
    const { breaker, clock } = setup({ resetTimeout: 10_000, slowCallDuration: 1_000, slowCallRateThreshold: 1, failureThreshold: 1 });
    const stamped = breaker.allow();
    assert.notEqual(stamped.admittedAt, undefined);
    assert.equal(breaker.recordFailure(stamped, { retryAfter: 20_000 }), true);
    assert.equal(rejectionRetryAfter(breaker), 20_000);
    clock.advance(20_000);
    const probe = breaker.allow();
    assert.equal(probe.isProbe, true);
    assert.equal(breaker.recordFailure(probe, { retryAfter: 45_000 }), true);
    assert.equal(rejectionRetryAfter(breaker), 45_000);
  });

  test('capped by maxResetTimeout, never shorter than the own open duration', () => {
    const capped = setup({ resetTimeout: 10_000, maxResetTimeout: 120_000 }).breaker;
    capped.recordFailure(capped.allow(), { retryAfter: 3_600_000 });
    assert.equal(rejectionRetryAfter(capped), 120_000);
    const short = setup({ resetTimeout: 10_000 }).breaker;
    short.recordFailure(short.allow(), { retryAfter: 1_000 });
    assert.equal(rejectionRetryAfter(short), 10_000);
  });

  test("a non-tripping failure's retry time changes nothing", () => {
    const { breaker } = setup({ failureThreshold: 2, resetTimeout: 10_000 });
    assert.equal(breaker.recordFailure(breaker.allow(), { retryAfter: 600_000 }), true);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.metrics().consecutiveFailures, 1);
    breaker.recordFailure(breaker.allow());
    assert.equal(rejectionRetryAfter(breaker), 10_000);
  });

  test('undefined or 0 is an ordinary failure', () => {
    for (const options of [{}, { retryAfter: undefined }, { retryAfter: 0 }, { retryAfter: -0 }]) {
      const { breaker } = setup({ resetTimeout: 10_000 });
      assert.equal(breaker.recordFailure(breaker.allow(), options), true);
      assert.equal(rejectionRetryAfter(breaker), 10_000);
      assert.equal(breaker.metrics().failures, 1);
    }
  });

  test('invalid values throw and leave the permit unrecorded', () => {
    const { breaker } = setup();
    const permit = breaker.allow();
    for (const retryAfter of [-1, -0.5, NaN, Infinity, -Infinity]) {
      assert.throws(() => breaker.recordFailure(permit, { retryAfter }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    }
    for (const retryAfter of ['30', 30n, null, true, {}]) {
      assert.throws(() => breaker.recordFailure(permit, { retryAfter }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    }
    for (const options of [null, 30_000, 'x']) {
      assert.throws(() => breaker.recordFailure(permit, options), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.equal(permit.recorded, false);
    assert.equal(breaker.metrics().failures, 0);
    assert.equal(breaker.recordFailure(permit, { retryAfter: 1 }), true);
  });

  test('double recording, foreign and stale permits', () => {
    const { breaker } = setup({ failureThreshold: 5 });
    const permit = breaker.allow();
    assert.equal(breaker.recordFailure(permit, { retryAfter: 30_000 }), true);
    assert.equal(permit.recorded, true);
    assert.throws(() => breaker.recordFailure(permit, { retryAfter: 30_000 }), { code: 'EALREADYRECORDED' });
    const foreign = new CircuitBreaker().allow();
    assert.throws(() => breaker.recordFailure(foreign, { retryAfter: 30_000 }), { code: 'EFOREIGNPERMIT' });
    assert.equal(foreign.recorded, false);
    const stale = breaker.allow();
    breaker.forceOpen();
    breaker.reset();
    assert.equal(breaker.recordFailure(stale, { retryAfter: 30_000 }), false);
    assert.equal(breaker.state, 'closed');
  });

  test('held-back successes are handed over first', () => {
    const { breaker } = setup({ failureThreshold: 2, resetTimeout: 10_000 });
    breaker.recordFailure(breaker.allow());
    breaker.recordSuccess(breaker.allow()); // may be held back: it resets the failure run
    breaker.recordFailure(breaker.allow(), { retryAfter: 60_000 });
    assert.equal(breaker.state, 'closed', 'the success came between the two failures');
    assert.equal(breaker.metrics().successes, 1);
  });
});
