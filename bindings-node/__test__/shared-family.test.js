'use strict';
// Families in a host region (`new BreakerFamily({ name, region })`; docs/node.md "Host-shared
// breakers"): each key's member `<name>/<key>` is one breaker across processes. A child process
// (shared-family-child.js, run to completion) trips a member; this process's member of that key is
// then open and its 'stateChange' carries the key with `remote: true`, at its next operation;
// other keys stay closed; a region filled by another process answers new keys with the overflow
// breaker; and the refusals.

const { describe, test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { HostRegion, BreakerFamily, CircuitOpenError, RegionError } = require('..');

const CHILD = path.join(__dirname, 'shared-family-child.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'circuit-shared-family-'));
let files = 0;
const regionPath = () => path.join(dir, `region-${++files}.circuit`);

after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the child to completion with `spec` and returns what it printed. */
function runChild(spec) {
  const out = execFileSync(process.execPath, [CHILD, JSON.stringify(spec)], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop());
}

const OPTIONS = { name: 'api', failureThreshold: 2, resetTimeout: 5_000 };

describe('a family in a host region, across processes', () => {
  test("a child trips a member: this process's member of that key is open, heard as remote; other keys stay closed", () => {
    const file = regionPath();
    const region = new HostRegion(file, { capacity: 8, manualClock: true });
    const family = new BreakerFamily({ ...OPTIONS, maxKeys: 4, region });
    const seen = [];
    family.on('stateChange', (t) => seen.push(t));
    const member = family.get('a.example:443');
    assert.equal(member.name, 'api/a.example:443');
    assert.equal(member.state, 'closed');
    const child = runChild({ path: file, capacity: 8, manualClock: true, options: { ...OPTIONS, maxKeys: 4 }, trip: ['a.example:443'], failures: 2 });
    assert.notEqual(child.pid, process.pid);
    assert.deepEqual(child.seen['a.example:443'], { name: 'api/a.example:443', state: 'open' });
    assert.deepEqual(child.events, [{ key: 'a.example:443', from: 'closed', to: 'open', remote: false }]);
    assert.deepEqual(seen, [], 'delivered lazily, at the next operation on the member');
    assert.equal(member.state, 'open', "the child's trip");
    assert.deepEqual(
      seen.map((t) => [t.key, t.from, t.to, t.reason, t.remote]),
      [['a.example:443', 'closed', 'open', 'failure_threshold', true]],
    );
    assert.equal(family.get('b.example:443').state, 'closed', 'another key is another breaker');
    assert.throws(() => family.allow('a.example:443'), (err) => err instanceof CircuitOpenError && err.key === 'a.example:443');
    assert.equal(family.inspect('a.example:443').state, 'open');
    // One clock, the region's: advancing it moves the member to half-open here.
    region.advance(5_000);
    assert.equal(member.state, 'half_open');
    assert.deepEqual(seen.slice(1).map((t) => [t.key, t.to, t.remote]), [['a.example:443', 'half_open', false]]);
    const probe = member.allow();
    assert.equal(member.recordSuccess(probe), true);
    assert.equal(member.state, 'closed');
    // A member evicted here keeps its state in the region: the overflow breaker is the region's too.
    assert.equal(family.overflow.name, 'api/(overflow)');
    assert.equal(family.metrics().members['a.example:443'].state, 'closed');
  });

  test('a region filled by another process answers new keys with the overflow breaker', () => {
    const file = regionPath();
    const region = new HostRegion(file, { capacity: 3 });
    const family = new BreakerFamily({ ...OPTIONS, region }); // takes the overflow breaker's record
    const child = runChild({ path: file, capacity: 3, manualClock: false, options: OPTIONS, claim: ['a', 'b'] });
    assert.deepEqual(
      Object.values(child.seen).map((m) => [m.name, m.overflow]),
      [['api/a', false], ['api/b', false]],
    );
    const c = family.get('c');
    assert.equal(c, family.overflow, 'no record left for a new key');
    assert.equal(c.name, 'api/(overflow)');
    assert.deepEqual(family.inspect('d'), { name: 'api/(overflow)', state: 'closed', overflow: true });
    assert.equal(family.get('a').name, 'api/a', "a key another process claimed is joined");
    assert.equal(family.metrics().overflowed, 2);
  });

  test('refusals: no name, a full region, other options', () => {
    const region = new HostRegion(regionPath(), { capacity: 1 });
    assert.throws(() => new BreakerFamily({ region }), (err) => err instanceof RegionError && err.kind === 'unnamed');
    new BreakerFamily({ name: 'first', region });
    assert.throws(() => new BreakerFamily({ name: 'second', region }), { code: 'ERR_OUT_OF_RANGE', option: 'region', message: /full/ });
    const other = new HostRegion(regionPath(), { capacity: 4 });
    new BreakerFamily({ ...OPTIONS, region: other });
    assert.throws(() => new BreakerFamily({ ...OPTIONS, failureThreshold: 3, region: other }), {
      code: 'ERR_OUT_OF_RANGE',
      option: 'region',
      message: /failure_threshold|failureThreshold/,
    });
  });
});
