'use strict';
// Host-shared breakers (`HostRegion`, the `region` option; docs/node.md "Host-shared breakers"):
// real processes (`child_process.fork` of shared-child.js) sharing one breaker through a region
// file under os.tmpdir(). Exact counts across processes, an exact half-open probe cap under a race
// of eight processes, other processes' transitions delivered as `remote`, a probe holder killed
// with SIGKILL, and the refusals (options mismatch, a garbage or newer file, clock). Families in a region:
// shared-family.test.js.

const { describe, test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('node:child_process');
const { HostRegion, CircuitBreaker, BreakerFamily, ManualClock, RegionError } = require('..');

const CHILD = path.join(__dirname, 'shared-child.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'circuit-shared-'));
let files = 0;
const regionPath = () => path.join(dir, `region-${++files}.circuit`);
const children = new Set();

after(() => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A child process with `call(command, args)` answering over IPC. */
function spawnChild() {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const waiting = new Map();
  let next = 0;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      for (const { reject } of waiting.values()) reject(new Error(`child exited (${code ?? signal})`));
      resolve({ code, signal });
    });
  });
  child.on('message', ({ id, ok, result, error }) => {
    const pending = waiting.get(id);
    waiting.delete(id);
    if (ok) pending.resolve(result);
    else pending.reject(Object.assign(new Error(error.message), error));
  });
  return {
    child,
    exited,
    call(command, args) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ id, command, args });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.disconnect();
      await exited;
    },
  };
}

/** `n` children, each with the breaker `options` in the region at `file`. */
async function spawnChildren(n, file, options, { capacity = 8, manualClock = false } = {}) {
  const all = Array.from({ length: n }, spawnChild);
  await Promise.all(all.map((c) => c.call('init', { path: file, capacity, manualClock, options })));
  return all;
}

const fail = () => {
  throw new Error('down');
};

describe('host-shared breakers across processes', () => {
  test('4 processes, failureThreshold 5: exactly 5 failures count, then every process sees it open', async () => {
    const file = regionPath();
    const options = { name: 'payments', failureThreshold: 5, resetTimeout: 600_000 };
    const region = new HostRegion(file, { capacity: 8 });
    const breaker = new CircuitBreaker({ ...options, region });
    const all = await spawnChildren(4, file, options);
    // Every child starts failing at once (the messages go out together).
    const results = await Promise.all(all.map((c) => c.call('failUntilOpen')));
    const counted = results.reduce((sum, r) => sum + r.counted, 0);
    assert.equal(counted, 5, `exactly failureThreshold failures counted: ${JSON.stringify(results.map((r) => r.counted))}`);
    assert.equal(
      results.reduce((sum, r) => sum + r.own.failures, 0),
      5,
      'the processes own counts add up to the failures',
    );
    for (const r of results) {
      assert.equal(r.state, 'open');
      assert.equal(r.failures, 5, 'metrics() are region-wide');
      assert.equal(r.own.failures, r.counted, 'processCounts() are this process');
    }
    assert.equal(breaker.state, 'open', 'the parent sees it open too');
    assert.throws(() => breaker.allow(), { code: 'ECIRCUITOPEN' });
    const m = breaker.metrics();
    assert.equal(m.failures, 5);
    assert.equal(m.opened, 1, 'opened once');
    assert.deepEqual(breaker.processCounts(), { admitted: 0, rejectedOpen: 1, successes: 0, failures: 0, ignored: 0, slow: 0, stale: 0 });
    await Promise.all(all.map((c) => c.stop()));
  });

  test('8 processes racing in half-open with halfOpenMaxCalls 2: exactly 2 admitted in total', async () => {
    const file = regionPath();
    const options = { name: 'search', failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 2, halfOpenMaxWait: 0 };
    const region = new HostRegion(file, { capacity: 4, manualClock: true });
    const breaker = new CircuitBreaker({ ...options, region });
    assert.throws(() => breaker.executeSync(fail));
    assert.equal(breaker.state, 'open');
    const all = await spawnChildren(8, file, options, { capacity: 4, manualClock: true });
    assert.equal(region.advance(1000), 1000);
    const results = await Promise.all(all.map((c) => c.call('allow', { times: 3 })));
    const admitted = results.reduce((sum, r) => sum + r.admitted, 0);
    assert.equal(admitted, 2, `exactly halfOpenMaxCalls probes: ${JSON.stringify(results)}`);
    assert.equal(results.reduce((sum, r) => sum + r.probes, 0), 2, 'both are probes');
    assert.equal(breaker.state, 'half_open');
    assert.throws(() => breaker.allow(), { code: 'ECIRCUITOPEN', reason: 'half_open_full' });
    const m = breaker.metrics();
    assert.equal(m.rejectedHalfOpenFull, 8 * 3 - 2 + 1);
    await Promise.all(all.map((c) => c.stop()));
  });

  test("the parent's listener sees a child's transition with remote: true at its next operation", async () => {
    const file = regionPath();
    const options = { name: 'inventory', failureThreshold: 1, resetTimeout: 60_000 };
    const region = new HostRegion(file, { capacity: 2 });
    const breaker = new CircuitBreaker({ ...options, region });
    const seen = [];
    breaker.on('stateChange', (t) => seen.push(t));
    breaker.on('open', (t) => seen.push(['open', t]));
    const [child] = await spawnChildren(1, file, options, { capacity: 2 });
    const { events } = await child.call('fail').then(() => child.call('summary'));
    assert.deepEqual(
      events.map((t) => [t.from, t.to, t.reason, t.remote]),
      [['closed', 'open', 'failure_threshold', false]],
      'the child made it: local there',
    );
    assert.deepEqual(seen, [], 'nothing is delivered before this process touches the breaker');
    assert.equal(breaker.state, 'open', 'the next operation...');
    assert.equal(seen.length, 2, '...delivers it');
    const [transition, [name, same]] = seen;
    assert.equal(name, 'open');
    assert.equal(same, transition);
    assert.equal(transition.remote, true);
    assert.deepEqual({ ...transition }, {
      from: 'closed',
      to: 'open',
      reason: 'failure_threshold',
      at: transition.at,
      remote: true,
      generation: 1,
    });
    // A transition this process makes is local for it and remote for the child.
    breaker.reset();
    assert.deepEqual(
      seen.slice(2).map((t) => [t.from, t.to, t.reason, t.remote]),
      [['open', 'closed', 'reset', false]],
    );
    const later = await child.call('summary');
    assert.equal(later.state, 'closed');
    assert.deepEqual(
      later.events.slice(1).map((t) => [t.from, t.to, t.reason, t.remote]),
      [['open', 'closed', 'reset', true]],
    );
    await child.stop();
  });

  test('every success reaches the engine: none is held back while another process fails', async () => {
    const file = regionPath();
    const options = { name: 'ledger', failureThreshold: 3, resetTimeout: 60_000 };
    const region = new HostRegion(file, { capacity: 2 });
    const breaker = new CircuitBreaker({ ...options, region });
    const [child] = await spawnChildren(1, file, options, { capacity: 2 });
    await child.call('fail');
    await child.call('fail');
    assert.equal(breaker.metrics().consecutiveFailures, 2, 'one failure run across processes');
    // The hot path of `execute`: a success of an ordinary permit in closed. Held back, it would
    // leave the run at 2, and the child's next failure would open the breaker.
    assert.equal(await breaker.execute(async () => 'ok'), 'ok');
    await child.call('fail');
    const s = await child.call('summary');
    assert.equal(s.state, 'closed', 'the success ended the run before the third failure');
    assert.equal(s.successes, 1);
    assert.deepEqual(breaker.processCounts(), { admitted: 1, rejectedOpen: 0, successes: 1, failures: 0, ignored: 0, slow: 0, stale: 0 });
    await child.stop();
  });

  test('a child killed with SIGKILL while holding the only probe does not wedge the breaker', async () => {
    const file = regionPath();
    const options = { name: 'shipping', failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 1, halfOpenMaxWait: 0 };
    const region = new HostRegion(file, { capacity: 2, manualClock: true });
    const breaker = new CircuitBreaker({ ...options, region });
    assert.throws(() => breaker.executeSync(fail));
    region.advance(1000);
    const [child] = await spawnChildren(1, file, options, { capacity: 2, manualClock: true });
    const taken = await child.call('allow', { times: 1 });
    assert.deepEqual(taken, { admitted: 1, rejected: 0, probes: 1 }, 'the child holds the probe');
    assert.throws(() => breaker.allow(), { code: 'ECIRCUITOPEN', reason: 'half_open_full' }, 'while it lives, the slot is taken');
    child.child.kill('SIGKILL');
    assert.equal((await child.exited).signal, 'SIGKILL');
    // No time passes (halfOpenMaxWait is off): the dead process's probe slot is freed.
    const probe = breaker.allow();
    assert.equal(probe.isProbe, true);
    assert.equal(breaker.recordSuccess(probe), true);
    assert.equal(breaker.state, 'closed');
  });
});

describe('host regions: options and refusals', () => {
  test('the file is created with mode 0600; path, capacity and the manual clock', () => {
    const file = regionPath();
    const region = new HostRegion(file, { capacity: 3, manualClock: true });
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(region.path, file);
    assert.equal(region.capacity, 3);
    assert.equal(region.manualClock, true);
    assert.equal(region.now(), 0);
    assert.equal(region.advance(250), 250);
    assert.equal(new HostRegion(file, { capacity: 3, manualClock: true }).now(), 250, 'the clock is in the file');
    const defaults = new HostRegion(regionPath());
    assert.equal(defaults.capacity, 64);
    assert.equal(defaults.manualClock, false);
    assert.throws(() => defaults.advance(1), (err) => err instanceof RegionError && err.code === 'ECIRCUITREGION' && err.kind === 'clock_not_manual' && /manual clock/.test(err.message));
    assert.throws(() => region.advance(-1), { code: 'ERR_OUT_OF_RANGE' });
  });

  test('options mismatch: an error with the code, naming each differing option', () => {
    const region = new HostRegion(regionPath(), { capacity: 2 });
    const first = new CircuitBreaker({ name: 'orders', failureThreshold: 5, region });
    assert.equal(first.name, 'orders');
    assert.throws(
      () => new CircuitBreaker({ name: 'orders', failureThreshold: 3, halfOpenMaxCalls: 2, region }),
      (err) => {
        assert.ok(err instanceof RegionError);
        assert.equal(err.name, 'RegionError');
        assert.equal(err.code, 'ECIRCUITREGION');
        assert.equal(err.kind, 'options_mismatch');
        assert.equal(err.path, region.path);
        assert.deepEqual(err.options.sort(), ['failureThreshold', 'halfOpenMaxCalls', 'successThreshold']);
        assert.match(err.message, /breaker "orders" already exists with different options/);
        assert.match(err.message, /failure_threshold \(existing "5", requested "3"\)/);
        assert.match(err.message, /half_open_max_calls/);
        return true;
      },
    );
    // The same options (a function or timeout of this process's own aside) join the breaker.
    const again = new CircuitBreaker({ name: 'orders', failureThreshold: 5, timeout: 100, region });
    assert.throws(() => first.executeSync(fail));
    assert.equal(again.metrics().failures, 1);
  });

  test('a breaker in a region needs a name; a full region refuses a new one', () => {
    const region = new HostRegion(regionPath(), { capacity: 1 });
    assert.throws(() => new CircuitBreaker({ region }), { code: 'ECIRCUITREGION', kind: 'unnamed', message: /needs a name/ });
    new CircuitBreaker({ name: 'a', region });
    assert.throws(() => new CircuitBreaker({ name: 'b', region }), { code: 'ECIRCUITREGION', kind: 'full', message: /region full/ });
    new CircuitBreaker({ name: 'a', region }); // joining an existing name needs no new record
  });

  test('a garbage, truncated, newer or differently shaped file: a clear error', () => {
    const garbage = regionPath();
    fs.writeFileSync(garbage, Buffer.alloc(64 * 1024, 'x'));
    assert.throws(() => new HostRegion(garbage), (err) => {
      assert.ok(err instanceof RegionError);
      assert.equal(err.kind, 'foreign');
      assert.ok(err.message.startsWith(`circuit region ${garbage}: not a circuit region`), err.message);
      return true;
    });
    const empty = regionPath();
    fs.writeFileSync(empty, '');
    assert.throws(() => new HostRegion(empty), { code: 'ECIRCUITREGION', kind: 'truncated', message: /file truncated/ });
    const newer = regionPath();
    new HostRegion(newer, { capacity: 1 });
    const bytes = fs.readFileSync(newer);
    bytes.writeBigUInt64LE(2n, 8); // the layout version (docs/shared.md)
    fs.writeFileSync(newer, bytes);
    assert.throws(() => new HostRegion(newer, { capacity: 1 }), { code: 'ECIRCUITREGION', kind: 'newer_version', message: /newer layout/ });
    const shaped = regionPath();
    new HostRegion(shaped, { capacity: 2 });
    assert.throws(() => new HostRegion(shaped, { capacity: 3 }), { kind: 'layout_mismatch', message: /capacity = 2, but 3/ });
    assert.throws(() => new HostRegion(shaped, { capacity: 2, manualClock: true }), { kind: 'clock_mismatch' });
    const link = regionPath();
    fs.symlinkSync(shaped, link);
    assert.throws(() => new HostRegion(link, { capacity: 2 }), { kind: 'symlink' });
  });

  test('argument checks; region with clock or state (breakers and families) is refused', () => {
    assert.throws(() => new HostRegion(42), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new HostRegion(''), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new HostRegion(regionPath(), { capacity: 0 }), { code: 'ERR_OUT_OF_RANGE', option: 'capacity' });
    assert.throws(() => new HostRegion(regionPath(), { capacity: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new HostRegion(regionPath(), { capacity: '8' }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new HostRegion(regionPath(), { manualClock: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new HostRegion(regionPath(), { capcity: 8 }), { code: 'ERR_INVALID_ARG_VALUE', option: 'capcity' });
    const region = new HostRegion(regionPath(), { capacity: 2 });
    assert.throws(() => new CircuitBreaker({ name: 'x', region: {} }), { code: 'ERR_INVALID_ARG_TYPE', option: 'region' });
    assert.throws(() => new CircuitBreaker({ name: 'x', region, clock: new ManualClock() }), {
      code: 'ERR_INVALID_ARG_VALUE',
      option: 'clock',
      message: /cannot be combined with `region`/,
    });
    const document = new CircuitBreaker({ name: 'x' }).toJSON();
    assert.throws(() => new CircuitBreaker({ name: 'x', region, state: document }), { code: 'ERR_INVALID_ARG_VALUE', option: 'state' });
    assert.throws(() => new BreakerFamily({ name: 'f', region, clock: new ManualClock() }), {
      code: 'ERR_INVALID_ARG_VALUE',
      option: 'clock',
      message: /cannot be combined with `region`/,
    });
    assert.throws(() => new CircuitBreaker({ name: 'x', regoin: region }), { message: /did you mean `region`/ });
  });

  test('a breaker of one process: remote is false, processCounts() its counts', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: new ManualClock() });
    const seen = [];
    breaker.on('stateChange', (t) => seen.push(t));
    assert.throws(() => breaker.executeSync(fail));
    assert.equal(seen[0].remote, false);
    assert.deepEqual(breaker.processCounts(), { admitted: 1, rejectedOpen: 0, successes: 0, failures: 1, ignored: 0, slow: 0, stale: 0 });
  });
});
