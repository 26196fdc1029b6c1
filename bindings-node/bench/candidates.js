'use strict';
// The candidates bench/run.js times: one admitted, successful async call through each, on its own
// breaker (as each peer has its own). A candidate is [id, label, call].

const { CircuitBreaker } = require('..');
const Opossum = require('opossum');
const { circuitBreaker, handleAll, ConsecutiveBreaker } = require('cockatiel');

// The dependency being protected: an async function that succeeds at once.
async function dependency(x) {
  return x;
}

// The floor: what any breaker must do at least (count the outcome, refuse when open).
function handWrapper(fn) {
  let failures = 0;
  let open = false;
  return async function guarded(...args) {
    if (open) throw new Error('open');
    try {
      const value = await fn(...args);
      failures = 0;
      return value;
    } catch (err) {
      if (++failures >= 5) open = true;
      throw err;
    }
  };
}

function twoStepCall(breaker) {
  return async () => {
    const permit = breaker.allow();
    let value;
    try {
      value = await dependency(1);
    } catch (err) {
      breaker.recordFailure(permit);
      throw err;
    }
    breaker.recordSuccess(permit);
    return value;
  };
}

/** Every candidate, or those whose id is in `only`; and a function releasing what they hold. */
function candidates(only) {
  const made = [];
  const opossums = [];
  const add = (id, label, make) => {
    if (only === undefined || only.includes(id)) made.push([id, label, make()]);
  };
  add('bare', 'bare async call', () => () => dependency(1));
  add('floor', 'hand-written wrapper (floor)', () => {
    const guarded = handWrapper(dependency);
    return () => guarded(1);
  });
  add('execute', 'circuit `execute`', () => {
    const breaker = new CircuitBreaker({ name: 'bench' });
    return () => breaker.execute(dependency, 1);
  });
  add('wrap', 'circuit `wrap`', () => {
    const wrapped = new CircuitBreaker({ name: 'bench-wrap' }).wrap(dependency);
    return () => wrapped(1);
  });
  add('two_step', 'circuit two-step (`allow` + `recordSuccess`)', () => twoStepCall(new CircuitBreaker({ name: 'bench-two-step' })));
  add('rate_window', 'circuit `execute`, failure-rate window (two native calls)', () => {
    const rated = new CircuitBreaker({ name: 'bench-rate', failureRateThreshold: 0.5, windowSize: 100 });
    return () => rated.execute(dependency, 1);
  });
  add('timeout', 'circuit `execute` with `timeout` (per-call timer)', () => {
    const timed = new CircuitBreaker({ name: 'bench-timeout', timeout: 10_000 });
    return () => timed.execute(dependency, 1);
  });
  add('opossum', 'opossum 9 `fire` (defaults)', () => {
    const opossum = new Opossum(dependency); // defaults: 10 s timeout per call, 10 s rolling window
    opossums.push(opossum);
    return () => opossum.fire(1);
  });
  add('cockatiel', 'cockatiel 3 `execute` (ConsecutiveBreaker)', () => {
    const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
    return () => cockatiel.execute(() => dependency(1));
  });
  return { candidates: made, release: () => opossums.forEach((o) => o.shutdown()) };
}

module.exports = { candidates };
