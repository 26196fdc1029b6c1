'use strict';
// Fleet breakers over Redis (`redisFleet`, the `fleet` option; docs/node.md "Fleet breakers
// (Redis)"), against a real redis-server on a random loopback port, with instances as separate
// processes (`child_process.fork` of fleet-child.js), with ioredis and node-redis: a trip reaches
// every instance within a sync interval plus a round trip; the fleet probe cap per epoch holds
// with instances racing in half-open; the store stopped (SIGSTOP) and black-holed (a TCP proxy):
// calls never fail or hang because of it, the degraded mode decides, store_degraded then
// store_recovered; option validation.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { fork, execFileSync } = require('node:child_process');
const { CircuitBreaker, BreakerFamily, RedisFleet, redisFleet, FLEET_SCRIPT, FLEET_SCRIPT_SHA1 } = require('..');

const REDIS = '/usr/bin/redis-server';
const CHILD = path.join(__dirname, 'fleet-child.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'circuit-fleet-'));
const pidfile = path.join(dir, 'redis.pid');
const port = 20000 + Math.floor(Math.random() * 20000);
const children = new Set();
let pid;
let unique = 0;
const name = (what) => `${what}-${process.pid}-${++unique}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  if (!fs.existsSync(REDIS)) {
    throw new Error(`${REDIS} is missing: the fleet tests need redis-server (apt-get install redis-server)`);
  }
  execFileSync(REDIS, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', pidfile]);
  for (let i = 0; i < 100 && !fs.existsSync(pidfile); i++) await sleep(20);
  pid = Number(fs.readFileSync(pidfile, 'utf8'));
});

after(() => {
  for (const child of children) child.kill('SIGKILL');
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function spawnChild() {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const waiting = new Map();
  let next = 0;
  child.on('exit', () => {
    children.delete(child);
    for (const { reject } of waiting.values()) reject(new Error('child exited'));
  });
  child.on('message', ({ id, ok, result, error }) => {
    const pending = waiting.get(id);
    waiting.delete(id);
    if (ok) pending.resolve(result);
    else pending.reject(Object.assign(new Error(error.message), error));
  });
  return {
    call(command, args) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ id, command, args });
      });
    },
    async stop() {
      await this.call('stop').catch(() => {});
      child.kill('SIGKILL');
    },
  };
}

async function instances(n, kind, breakerName, options, p = port) {
  const list = Array.from({ length: n }, spawnChild);
  await Promise.all(list.map((c) => c.call('start', { kind, port: p, name: breakerName, options })));
  return list;
}

async function waitFor(what, check, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

for (const kind of ['ioredis', 'node-redis']) {
  describe(`fleet over ${kind}`, () => {
    test('failures in some instances trip the fleet; the trip reaches every instance within a sync interval plus a round trip', async () => {
      const options = { syncInterval: 100, minimumCalls: 10, resetTimeout: 60000 };
      const list = await instances(3, kind, name('trip'), options);
      try {
        await sleep(150); // every instance has synced once
        await list[0].call('calls', { n: 12, fail: true });
        const opened = await waitFor('the trip at instance 0', async () => (await list[0].call('status')).state === 'open', 1000);
        assert.ok(opened);
        const t0 = Date.now();
        for (const c of list.slice(1)) {
          await waitFor('the trip at another instance', async () => (await c.call('status')).state === 'open', 100 + 400);
        }
        assert.ok(Date.now() - t0 < 500);
        for (const c of list) {
          const { ran, fleetRefused } = await c.call('calls', { n: 5, fail: false });
          assert.equal(ran, 0);
          assert.equal(fleetRefused, 5);
        }
      } finally {
        await Promise.all(list.map((c) => c.stop()));
      }
    });

    test('the fleet probe cap per epoch holds with instances racing in half-open; a stale verdict never closes it', async () => {
      const options = { syncInterval: 50, minimumCalls: 5, resetTimeout: 300, halfOpenMaxCalls: 2, successThreshold: 2, probeLease: 5000 };
      const list = await instances(4, kind, name('probe'), options);
      try {
        await sleep(100);
        await list[0].call('calls', { n: 8, fail: true });
        await waitFor('open everywhere', async () => (await Promise.all(list.map((c) => c.call('status')))).every((s) => s.state === 'open'), 1000);
        // Race: once the open duration has passed, every instance keeps asking for a probe and
        // holds any it gets (never recording it): at most `halfOpenMaxCalls` are granted.
        await sleep(300);
        const holders = new Set();
        const until = Date.now() + 800;
        while (Date.now() < until) {
          const answers = await Promise.all(list.map((c, i) => (holders.has(i) ? 'held' : c.call('tryProbe'))));
          answers.forEach((a, i) => {
            if (a === 'probe') holders.add(i);
            assert.notEqual(a, 'admitted', 'admitted without a probe lease in half-open');
          });
          await sleep(20);
        }
        assert.ok(holders.size >= 1, 'a probe was granted');
        assert.ok(holders.size <= 2, `${holders.size} probes granted, cap 2`);
        // One failed verdict re-opens it (the other probe's later verdict is of an earlier epoch).
        const [first, second] = [...holders];
        await list[first].call('release', { success: false });
        await waitFor('re-opened', async () => (await list[first].call('status')).state === 'open', 1000);
        if (second !== undefined) {
          await list[second].call('release', { success: true });
          await sleep(200);
          assert.notEqual((await list[second].call('status')).state, 'closed', 'a stale verdict never closes it');
        }
      } finally {
        await Promise.all(list.map((c) => c.stop()));
      }
    });
  });
}

describe('store down', () => {
  test('SIGSTOP: calls never fail or hang because of the store; degraded mode `open`, then store_degraded and store_recovered', async () => {
    const list = await instances(1, 'ioredis', name('stop'), { syncInterval: 50, maxStaleness: 300, onStoreFailure: 'open' });
    const [c] = list;
    try {
      await sleep(150);
      assert.equal((await c.call('calls', { n: 3, fail: false })).ran, 3);
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(600);
        const t0 = Date.now();
        const { ran, fleetRefused } = await c.call('calls', { n: 20, fail: false });
        assert.ok(Date.now() - t0 < 200, 'calls do not wait for the store');
        assert.equal(ran, 0);
        assert.equal(fleetRefused, 20, "degraded mode 'open' rejects at the fleet level");
        assert.equal((await c.call('status')).degraded, true);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await waitFor('store_recovered', async () => (await c.call('events')).some((e) => e.kind === 'store_recovered'), 3000);
      const kinds = (await c.call('events')).map((e) => e.kind);
      assert.ok(kinds.indexOf('store_degraded') < kinds.indexOf('store_recovered'));
      assert.equal((await c.call('calls', { n: 3, fail: false })).ran, 3);
    } finally {
      await c.stop();
    }
  });

  test("a black-holing TCP proxy: degraded mode 'local' admits every call; recovery when it heals", async () => {
    let blackhole = false;
    const sockets = new Set();
    const proxy = net.createServer((down) => {
      const up = net.connect(port, '127.0.0.1');
      sockets.add(down).add(up);
      down.on('data', (d) => blackhole || up.write(d));
      up.on('data', (d) => blackhole || down.write(d));
      const end = () => {
        down.destroy();
        up.destroy();
      };
      down.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const list = await instances(1, 'ioredis', name('hole'), { syncInterval: 50, maxStaleness: 300 }, proxy.address().port);
    const [c] = list;
    try {
      await sleep(150);
      blackhole = true;
      await sleep(600);
      const t0 = Date.now();
      const { ran } = await c.call('calls', { n: 20, fail: false });
      assert.ok(Date.now() - t0 < 200);
      assert.equal(ran, 20, "degraded mode 'local' lets the local breaker decide");
      assert.equal((await c.call('status')).degraded, true);
      blackhole = false;
      for (const s of sockets) s.destroy(); // the partition heals with a reset
      await waitFor('store_recovered', async () => (await c.call('events')).some((e) => e.kind === 'store_recovered'), 5000);
    } finally {
      await c.stop();
      proxy.close();
    }
  });
});

describe('options', () => {
  const client = { evalsha() {}, eval() {} };
  test('invalid fleet options name the option', () => {
    assert.throws(() => redisFleet(client, { syncInterval: 0 }), { code: 'ERR_OUT_OF_RANGE', option: 'syncInterval' });
    assert.throws(() => redisFleet(client, { syncInterval: 5000 }), { option: 'syncInterval', message: /maxStaleness/ });
    assert.throws(() => redisFleet(client, { onStoreFailure: 'maybe' }), { option: 'onStoreFailure' });
    assert.throws(() => redisFleet(client, { buckets: 0 }), { option: 'buckets' });
    assert.throws(() => redisFleet(client, { failureRateThreshold: 2 }), { option: 'failureRateThreshold' });
    assert.throws(() => redisFleet(client, { successThreshold: 3, halfOpenMaxCalls: 2 }), { option: 'successThreshold' });
    assert.throws(() => redisFleet(client, { keyExpiry: 10 }), { option: 'keyExpiry' });
    assert.throws(() => redisFleet(client, { windowSize: 10 }), { option: 'windowSize' });
    assert.throws(() => redisFleet(client, { window: 'long' }), { code: 'ERR_INVALID_ARG_TYPE', option: 'window' });
    assert.throws(() => redisFleet({}, {}), { code: 'ERR_INVALID_ARG_TYPE' });
  });
  test('a breaker or a family with `fleet` needs a name and a RedisFleet', () => {
    const fleet = redisFleet(client, {});
    assert.ok(fleet instanceof RedisFleet);
    assert.throws(() => new CircuitBreaker({ fleet }), { option: 'fleet' });
    assert.throws(() => new CircuitBreaker({ name: 'x', fleet: {} }), { option: 'fleet', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new BreakerFamily({ fleet }), { option: 'fleet', message: /name/ });
    assert.throws(() => new BreakerFamily({ name: 'f', fleet: {} }), { option: 'fleet', code: 'ERR_INVALID_ARG_TYPE' });
    const breaker = new CircuitBreaker({ name: 'x', fleet });
    assert.equal(breaker.fleet, fleet);
    assert.equal(breaker.fleetStatus().state, 'closed');
    const family = new BreakerFamily({ name: 'f', fleet });
    const member = family.get('k');
    assert.equal(member.fleet, fleet);
    assert.equal(member.fleetStatus().state, 'closed');
    family.recordSuccess(family.allow('j'));
    assert.deepEqual(fleet.names.sort(), ['f/j', 'f/k', 'x']);
    fleet.close();
    fleet.close();
    assert.throws(() => new BreakerFamily({ name: 'g', fleet }), { message: /closed/ });
  });
  test('the script and its SHA-1', () => {
    assert.match(FLEET_SCRIPT, /redis\.call/);
    assert.equal(FLEET_SCRIPT_SHA1, require('node:crypto').createHash('sha1').update(FLEET_SCRIPT).digest('hex'));
  });
});

for (const kind of ['ioredis', 'node-redis']) {
  test(`families over ${kind}: each member has its own fleet breaker <name>/<key>, shared by the instances`, async () => {
    const connect = async () => {
      if (kind === 'ioredis') {
        const Redis = require('ioredis');
        return new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      }
      const { createClient } = require('redis');
      const c = createClient({ socket: { port, host: '127.0.0.1' } });
      await c.connect();
      return c;
    };
    const clients = [await connect(), await connect()];
    const fleets = clients.map((c) => redisFleet(c, { syncInterval: 50, minimumCalls: 10, resetTimeout: 60000 }));
    const familyName = name('hosts');
    // Local breakers that never trip on their own: only the fleet opens.
    const [a, b] = fleets.map((fleet) => new BreakerFamily({ name: familyName, fleet, failureThreshold: 0, failureRateThreshold: 1, windowSize: 1000, minimumCalls: 1000 }));
    try {
      for (let i = 0; i < 12; i++) a.recordFailure(a.allow('down'));
      const refused = await waitFor('instance b refuses member down by its fleet', async () => {
        try {
          b.recordIgnored(b.allow('down'));
          return false;
        } catch (err) {
          return err.fleet === true ? err : false;
        }
      }, 2000);
      assert.equal(refused.key, 'down');
      assert.equal(refused.breakerName, `${familyName}/down`);
      assert.equal(refused.code, 'ECIRCUITOPEN');
      b.recordSuccess(b.allow('up')); // another member, another fleet breaker: closed
      assert.equal(b.get('down').fleetStatus().state, 'open');
      assert.equal(b.get('up').fleetStatus().state, 'closed');
      await assert.rejects(async () => b.get('down').execute(() => 1), { fleet: true });
      assert.ok(fleets[1].names.includes(`${familyName}/down`));
    } finally {
      for (const f of fleets) f.close();
      for (const c of clients) await c.quit();
    }
  });
}

test('an idle fleet breaker no breaker holds is forgotten after idleTtl; used again, it rejoins', async () => {
  const Redis = require('ioredis');
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  assert.throws(() => redisFleet(client, { idleTtl: -1 }), { code: 'ERR_OUT_OF_RANGE', option: 'idleTtl' });
  assert.throws(() => redisFleet(client, { idleTtl: '1' }), { code: 'ERR_INVALID_ARG_TYPE', option: 'idleTtl' });
  const fleet = redisFleet(client, { syncInterval: 20, idleTtl: 0 });
  const familyName = name('idle');
  const family = new BreakerFamily({ name: familyName, fleet });
  const held = new CircuitBreaker({ name: `${familyName}-held`, fleet });
  try {
    family.recordSuccess(family.allow('gone')); // call-scoped: nothing holds its fleet afterwards
    assert.ok(fleet.names.includes(`${familyName}/gone`));
    await waitFor('the idle fleet breaker forgotten', () => !fleet.names.includes(`${familyName}/gone`), 3000);
    assert.ok(fleet.names.includes(`${familyName}-held`), 'a held one stays');
    assert.equal(held.fleetStatus().state, 'closed');
    family.recordSuccess(family.allow('gone'));
    assert.ok(fleet.names.includes(`${familyName}/gone`));
    assert.equal(await client.exists(`circuit:{${familyName}/gone}`), 1);
  } finally {
    fleet.close();
    await client.quit();
  }
});

test('a store that lost the breaker (FLUSHALL) resumes past every epoch its instances saw; the fleet trips again', async () => {
  const Redis = require('ioredis');
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  const options = { syncInterval: 20, minimumCalls: 10, resetTimeout: 60000, maxResetTimeout: 60000 };
  const fleets = [redisFleet(client, options), redisFleet(client, options)];
  const breakerName = name('lost');
  const [a, b] = fleets.map((fleet) => new CircuitBreaker({ name: breakerName, fleet, failureThreshold: 1000 }));
  const both = (state) => () => a.fleetStatus().state === state && b.fleetStatus().state === state;
  const fail = (breaker) => {
    for (let i = 0; i < 12; i++) breaker.recordFailure(breaker.allow());
  };
  try {
    await waitFor("b's first sync", () => b.fleetStatus().syncs > 0, 3000);
    fail(a);
    await waitFor('open at both instances', both('open'), 3000);
    const seen = a.fleetStatus().epoch;
    await client.flushall();
    await waitFor('closed again at both instances after the store lost it', both('closed'), 3000);
    assert.ok(a.fleetStatus().epoch > seen, `epoch ${a.fleetStatus().epoch} resumes past ${seen}`);
    await waitFor('both instances on the same epoch', () => a.fleetStatus().epoch === b.fleetStatus().epoch, 3000);
    fail(b);
    await waitFor('the fleet trips again', both('open'), 3000);
  } finally {
    for (const f of fleets) f.close();
    await client.quit();
  }
});
