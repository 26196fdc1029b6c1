'use strict';
// No hidden cost: a script that creates breakers exits at once (nothing keeps the event loop
// alive), memory per breaker is bounded by its window and not by traffic (a million calls), and
// breakers and dropped probe permits are reclaimed by the garbage collector. Each check runs in
// its own Node process.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const PACKAGE = path.join(__dirname, '..');

function node(args, script, timeout = 60_000) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [...args, '-e', script], {
    cwd: PACKAGE,
    encoding: 'utf8',
    timeout,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.error) throw result.error;
  return { ...result, ms };
}

describe('lifecycle', () => {
  test('a script that creates breakers and returns exits at once', () => {
    const baseline = node([], '').ms;
    const script = `
      const { CircuitBreaker, ManualClock } = require('.');
      const clock = new ManualClock();
      const breakers = [];
      for (let i = 0; i < 100; i++) {
        const b = new CircuitBreaker({ name: 'b' + i, failureRateThreshold: 0.5, windowDuration: 1000,
          halfOpenMaxWait: 500, timeout: 60000, clock: i % 2 ? clock : undefined });
        b.on('stateChange', () => {});
        b.on('open', () => {});
        breakers.push(b);
      }
      breakers[0].executeSync(() => 1);
      breakers[1].execute(async () => 1);
      // A call that never settles: its unref'd timeout timer must not hold the process.
      breakers[2].execute(() => new Promise(() => {}));
      breakers[3].allow(); // an unrecorded permit
      breakers[4].forceOpen();
      breakers[5].execute(() => 1).catch(() => {});
      console.log('done');
    `;
    const run = node([], script, 20_000);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'done');
    assert.ok(
      run.ms < baseline + 1_500,
      `exited after ${run.ms.toFixed(0)} ms (an empty script takes ${baseline.toFixed(0)} ms)`,
    );
  });

  test('memory is bounded by the window, not by traffic (a million calls)', () => {
    const script = `
      const { CircuitBreaker } = require('.');
      const native = require('./circuit.' + process.platform + '-' + process.arch + '-gnu.node'); // test build: liveBreakers
      const breakers = [
        new CircuitBreaker({ failureRateThreshold: 0.9, windowSize: 100, timeout: 10000 }),
        new CircuitBreaker({ failureRateThreshold: 0.9, windowDuration: 1000, slowCallDuration: 5 }),
        new CircuitBreaker({ failureThreshold: 1000000 }),
      ];
      const fail = () => { throw new Error('x'); };
      const heap = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
      (async () => {
        // Warm up (JIT, lazily created objects), then measure a million more calls.
        const round = async (n) => {
          for (let i = 0; i < n; i++) {
            const b = breakers[i % 3];
            if (i % 10 === 0) { try { b.executeSync(fail); } catch {} }
            else if (i % 10 === 1) { await b.execute(async () => i); }
            else if (i % 10 === 2) { const p = b.allow(); b.recordSuccess(p); }
            else b.executeSync(() => i);
          }
        };
        await round(100000);
        const before = heap();
        const rss = process.memoryUsage().rss;
        await round(1000000);
        const after = heap();
        const calls = breakers.reduce((sum, b) => sum + b.metrics().admitted, 0);
        console.log(JSON.stringify({ growth: after - before, rss: process.memoryUsage().rss - rss, calls,
          live: native.liveBreakers(), states: breakers.map((b) => b.state),
          windows: breakers.map((b) => b.metrics().windowCalls) }));
      })();
    `;
    const run = node(['--expose-gc'], script);
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.calls, 1_100_000);
    assert.deepEqual(result.states, ['closed', 'closed', 'closed']);
    assert.ok(result.windows[0] <= 100, 'the count window holds at most windowSize outcomes');
    assert.ok(result.growth < 512 * 1024, `heap grew by ${result.growth} bytes over a million calls`);
    assert.ok(result.rss < 16 * 1024 * 1024, `rss grew by ${result.rss} bytes over a million calls`);
  });

  test('collected breakers free their engine', () => {
    const script = `
      const { CircuitBreaker } = require('.');
      const native = require('./circuit.' + process.platform + '-' + process.arch + '-gnu.node'); // test build: liveBreakers
      (async () => {
        for (let i = 0; i < 20000; i++) {
          const b = new CircuitBreaker({ failureRateThreshold: 0.5, windowSize: 1000 });
          b.executeSync(() => 1);
        }
        for (let i = 0; i < 5 && native.liveBreakers() > 100; i++) {
          gc();
          await new Promise(setImmediate);
        }
        console.log(native.liveBreakers());
      })();
    `;
    const run = node(['--expose-gc'], script);
    assert.equal(run.status, 0, run.stderr);
    assert.ok(Number(run.stdout) < 100, `${run.stdout.trim()} of 20000 breakers still alive after GC`);
  });

  test('a probe permit collected unrecorded returns its slot (recorded as ignored)', () => {
    const script = `
      const { CircuitBreaker, ManualClock } = require('.');
      const clock = new ManualClock();
      const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 10, clock });
      b.recordFailure(b.allow());
      clock.advance(10);
      (() => { const probe = b.allow(); if (!probe.isProbe) throw new Error('not a probe'); })();
      let full = false;
      try { b.allow(); } catch (e) { full = e.reason === 'half_open_full'; }
      (async () => {
        for (let i = 0; i < 10 && b.metrics().ignored === 0; i++) {
          gc();
          await new Promise((r) => setTimeout(r, 10));
        }
        const probe = b.allow();
        console.log(JSON.stringify({ full, ignored: b.metrics().ignored, probe: probe.isProbe }));
        b.recordSuccess(probe);
      })();
    `;
    const run = node(['--expose-gc'], script);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { full: true, ignored: 1, probe: true });
  });

  test('breakers work in worker threads, each with its own engine', () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = "const { CircuitBreaker } = require(process.cwd()); const b = new CircuitBreaker({ failureThreshold: 1 });" +
        "try { b.executeSync(() => { throw new Error('x') }) } catch {} require('node:worker_threads').parentPort.postMessage(b.state);";
      let done = 0;
      for (let i = 0; i < 3; i++) {
        const w = new Worker(code, { eval: true });
        w.on('message', (m) => { if (m !== 'open') process.exitCode = 1; });
        w.on('exit', () => { if (++done === 3) console.log('ok'); });
      }
      const { CircuitBreaker } = require('.');
      new CircuitBreaker().executeSync(() => 1);
    `;
    const run = node([], script);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'ok');
  });
});
