'use strict';
// The numeric wire protocol between lib/*.js and the addon has one definition per side
// (lib/protocol.js, src/protocol.rs): both must hold the same constants, and the fast path must
// return what they describe.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const native = require('../binding.js');
const P = require('../lib/protocol.js');
const { CircuitBreaker } = require('..');
const { fast, allow, trivialCell, frame } = require('./native-call.js');

const schema = native.schema();
const FAILURE = schema.outcomes.indexOf('failure');
const SUCCESS = schema.outcomes.indexOf('success');
const field = (name) => schema.metrics.findIndex((m) => m.name === name);
const ids = [];
/** A native breaker (kept alive until the end of the file: its id must stay valid). */
function create(options = {}, clock = null) {
  const handle = native.createBreaker(options, clock);
  assert.ok(handle instanceof native.NativeBreaker);
  ids.push(handle);
  return handle;
}

describe('protocol', () => {
  test('lib/protocol.js and src/protocol.rs hold the same constants', () => {
    const rust = native.protocol();
    assert.deepEqual(
      Object.fromEntries(rust.map((c) => [c.name, c.value])),
      { ...P },
      'protocol() (Rust) and lib/protocol.js (JavaScript)',
    );
    assert.equal(new Set(rust.map((c) => c.name)).size, rust.length, 'no name twice');
    assert.ok(Object.isFrozen(P));
    assert.ok(schema.outcomes.length <= P.OUTCOME_SCALE, 'every outcome code fits a record token');
  });

  test('ordinary permits, record tokens, record results and state results', () => {
    const handle = create({ failureThreshold: 2 });
    const { id } = handle;
    assert.equal(allow(id), 0 * P.PERMIT_SCALE, 'generation 0, no events');
    assert.equal(fast('fastRecord', id, 0 * P.OUTCOME_SCALE + FAILURE), P.COUNTED);
    assert.equal(fast('fastRecord', id, 0 * P.OUTCOME_SCALE + FAILURE), P.COUNTED + P.EVENTS, 'trips: a transition queued');
    const drained = handle.drain();
    assert.equal(drained.length, P.TRANSITION_FIELDS);
    assert.deepEqual(drained.slice(0, 2).map((code) => schema.states[code]), ['closed', 'open']);
    assert.equal(fast('fastState', id), schema.states.indexOf('open') * P.STATE_SCALE);
    assert.equal(allow(id), P.REJECTED, 'rejected, no events');
    handle.reset();
    assert.equal(fast('fastState', id), schema.states.indexOf('closed') * P.STATE_SCALE + P.EVENTS);
    assert.equal(allow(id), 2 * P.PERMIT_SCALE + P.EVENTS, 'generation 2 (1 was open), the reset queued');
    assert.equal(handle.drain().length, P.TRANSITION_FIELDS);
    assert.equal(fast('fastRecord', id, 0 * P.OUTCOME_SCALE + SUCCESS), 0, 'stale: not counted');
    assert.equal(handle.metrics()[field('retry_after')], P.NO_DURATION, 'closed: no retry_after');
  });

  test('permits in array form: parts, admission halves, tickets', () => {
    const clock = new native.NativeClock();
    clock.advance(2 ** 33 / P.NANOS_PER_MS); // an admission instant with both halves in use
    const stamped = create({ slowCallDuration: 1000 }, clock);
    const parts = allow(stamped.id);
    assert.ok(Array.isArray(parts) && parts.length === P.PARTS, 'a time-stamped permit');
    assert.equal(parts[P.PART_GENERATION], 0);
    assert.equal(parts[P.PART_ADMITTED_HIGH] * 2 ** 32 + parts[P.PART_ADMITTED_LOW], 2 ** 33);
    assert.equal(parts[P.PART_TICKET], P.NO_TICKET, 'not a probe');
    assert.equal(parts[P.PART_EVENTS], 0);
    const { id } = create({ failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 2 }, clock);
    fast('fastRecord', id, (allow(id) / P.PERMIT_SCALE) * P.OUTCOME_SCALE + FAILURE);
    const probe = allow(id);
    assert.ok(Array.isArray(probe));
    assert.notEqual(probe[P.PART_TICKET], P.NO_TICKET, 'a probe');
    assert.equal(probe[P.PART_EVENTS], P.EVENTS, 'the trip and open -> half_open are queued');
    const { [P.PART_ADMITTED_HIGH]: high, [P.PART_ADMITTED_LOW]: low, [P.PART_TICKET]: ticket } = probe;
    assert.equal(fast('fastRecordParts', id, SUCCESS, probe[P.PART_GENERATION], high, low, ticket) & P.COUNTED, P.COUNTED);
    assert.equal(fast('fastRecordParts', id, SUCCESS, probe[P.PART_GENERATION], high, low, ticket), P.ALREADY_RECORDED);
  });

  test('the call frame: one Float64Array per thread, arguments in, result out', () => {
    const view = native.frameView();
    assert.ok(view instanceof Float64Array && view.length === P.FRAME_SLOTS);
    assert.equal(view, frame, 'the same object on every call of a thread');
    assert.equal(view, native.frameView());
    const { id } = create({ failureThreshold: 1 });
    view[P.FRAME_BREAKER] = id;
    view[P.FRAME_ARGS] = 0;
    assert.equal(native.fastAllow(), undefined, 'nothing returned');
    assert.equal(view[P.FRAME_RESULT], 0, 'generation 0, no events');
    view[P.FRAME_ARGS] = 0 * P.OUTCOME_SCALE + FAILURE;
    native.fastRecord();
    assert.equal(view[P.FRAME_RESULT], P.COUNTED + P.EVENTS, 'the failure counted and tripped the breaker');
    view[P.FRAME_RESULT] = 12345;
    native.fastState();
    assert.equal(view[P.FRAME_RESULT], schema.states.indexOf('open') * P.STATE_SCALE + P.EVENTS);
  });

  test('without external buffers the frame is an ordinary ArrayBuffer, and a detached one is refused', () => {
    // The test build of the addon takes the fallback when CIRCUIT_TEST_NO_EXTERNAL_BUFFERS is set,
    // as an embedder that forbids external buffers would make it.
    const script = `
      const assert = require('node:assert/strict');
      const { CircuitBreaker } = require('.');
      const native = require('./circuit.' + process.platform + '-' + process.arch + '-gnu.node');
      const b = new CircuitBreaker({ failureThreshold: 2 });
      (async () => {
        for (let i = 0; i < 3; i++) assert.equal(await b.execute(async (x) => x, i), i);
        await assert.rejects(b.execute(async () => { throw new Error('x'); }));
        assert.equal(b.executeSync(() => 7), 7);
        for (let i = 0; i < 2; i++) await assert.rejects(b.execute(async () => { throw new Error('x'); }));
        assert.equal(b.state, 'open');
        assert.equal(b.metrics().successes, 4);
        const frame = native.frameView();
        structuredClone(frame.buffer, { transfer: [frame.buffer] });
        assert.throws(() => b.state, (e) => e.code === 'ERR_CIRCUIT_NATIVE' && /detached/.test(e.message));
        console.log('ok');
      })().catch((e) => { console.error(e); process.exitCode = 1; });`;
    const run = spawnSync(process.execPath, ['-e', script], {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '', CIRCUIT_TEST_NO_EXTERNAL_BUFFERS: '1' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'ok');
  });

  test('the trivial-generation cell is the engine\'s decision, shared live with JavaScript', () => {
    const handle = create();
    const page = fast('trivialView', handle.id);
    assert.ok(page instanceof Float64Array && page.length === P.TRIVIAL_PAGE_CELLS, 'a page of cells');
    const trivial = trivialCell(handle.id);
    assert.equal(trivial(), P.NO_TRIVIAL_GENERATION);
    allow(handle.id);
    assert.equal(trivial(), 0, 'published by the admission');
    handle.disable();
    assert.equal(trivial(), P.NO_TRIVIAL_GENERATION, 'cleared by the transition');
    assert.equal(allow(handle.id), 1 * P.PERMIT_SCALE + P.EVENTS);
    assert.equal(trivial(), 1, 'disabled: a success only counts');
    handle.forceOpen();
    assert.equal(allow(handle.id), P.REJECTED - P.EVENTS);
    assert.equal(trivial(), P.NO_TRIVIAL_GENERATION);
    for (const options of [{ failureRateThreshold: 0.5 }, { slowCallDuration: 10 }]) {
      const { id } = create(options);
      allow(id);
      assert.equal(trivialCell(id)(), P.NO_TRIVIAL_GENERATION, `never with ${Object.keys(options)}`);
    }
  });

  test('trivial-generation cells: one view per page of breakers, a reused id starts afresh', () => {
    const handles = Array.from({ length: P.TRIVIAL_PAGE_CELLS + 2 }, () => create());
    const pages = new Set(handles.map((h) => fast('trivialView', h.id)));
    const pagesSpanned = new Set(handles.map((h) => Math.floor(h.id / P.TRIVIAL_PAGE_CELLS)));
    assert.equal(pages.size, pagesSpanned.size, 'breakers of a page share its view');
    assert.ok(pages.size >= 2);
    for (const h of handles) allow(h.id);
    for (const h of handles) assert.equal(trivialCell(h.id)(), 0, 'each breaker its own cell');
    handles[0].forceOpen();
    assert.equal(trivialCell(handles[0].id)(), P.NO_TRIVIAL_GENERATION);
    assert.equal(trivialCell(handles[1].id)(), 0, 'a neighbour is untouched');
    // A freed id's cell is reset when the id is reused: in a child process, where the breakers
    // can be collected.
    const script = `
      const native = require('./binding.js');
      const frame = native.frameView();
      const P = require('./lib/protocol.js');
      const make = () => native.createBreaker({}, null);
      let first = make();
      const id = first.id;
      frame[P.FRAME_BREAKER] = id; frame[P.FRAME_ARGS] = 0; native.fastAllow();
      frame[P.FRAME_BREAKER] = id; const page = native.trivialView();
      if (page[id % P.TRIVIAL_PAGE_CELLS] !== 0) throw new Error('not published');
      first = null;
      (async () => {
        for (let i = 0; i < 50; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
        const again = make();
        if (again.id !== id) throw new Error('id not reused: ' + again.id);
        console.log(page[id % P.TRIVIAL_PAGE_CELLS] === P.NO_TRIVIAL_GENERATION ? 'ok' : 'stale cell');
      })();`;
    const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'ok');
  });

  test('successes held back by CircuitBreaker are recorded, in their generation, by the next call', () => {
    const breaker = new CircuitBreaker();
    const permits = [breaker.allow(), breaker.allow()];
    assert.deepEqual(permits.map((p) => breaker.recordSuccess(p)), [true, true]);
    const m = breaker.metrics();
    assert.deepEqual([m.successes, m.stale, m.generation], [2, 0, 0]);
  });
});
