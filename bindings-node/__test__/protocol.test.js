'use strict';
// The numeric wire protocol between lib/*.js and the addon has one definition per side
// (lib/protocol.js, src/protocol.rs): both must hold the same constants, and the fast path must
// return what they describe.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const native = require('../binding.js');
const P = require('../lib/protocol.js');
const { CircuitBreaker } = require('..');

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
    assert.equal(native.fastAllow(id), 0 * P.PERMIT_SCALE, 'generation 0, no events');
    assert.equal(native.fastRecord(id, 0 * P.OUTCOME_SCALE + FAILURE), P.COUNTED);
    assert.equal(native.fastRecord(id, 0 * P.OUTCOME_SCALE + FAILURE), P.COUNTED + P.EVENTS, 'trips: a transition queued');
    const drained = handle.drain();
    assert.equal(drained.length, P.TRANSITION_FIELDS);
    assert.deepEqual(drained.slice(0, 2).map((code) => schema.states[code]), ['closed', 'open']);
    assert.equal(native.fastState(id), schema.states.indexOf('open') * P.STATE_SCALE);
    assert.equal(native.fastAllow(id), P.REJECTED, 'rejected, no events');
    handle.reset();
    assert.equal(native.fastState(id), schema.states.indexOf('closed') * P.STATE_SCALE + P.EVENTS);
    assert.equal(native.fastAllow(id), 2 * P.PERMIT_SCALE + P.EVENTS, 'generation 2 (1 was open), the reset queued');
    assert.equal(handle.drain().length, P.TRANSITION_FIELDS);
    assert.equal(native.fastRecord(id, 0 * P.OUTCOME_SCALE + SUCCESS), 0, 'stale: not counted');
    assert.equal(handle.metrics()[field('retry_after')], P.NO_DURATION, 'closed: no retry_after');
  });

  test('permits in array form: parts, admission halves, tickets', () => {
    const clock = new native.NativeClock();
    clock.advance(2 ** 33 / P.NANOS_PER_MS); // an admission instant with both halves in use
    const stamped = create({ slowCallDuration: 1000 }, clock);
    const parts = native.fastAllow(stamped.id);
    assert.ok(Array.isArray(parts) && parts.length === P.PARTS, 'a time-stamped permit');
    assert.equal(parts[P.PART_GENERATION], 0);
    assert.equal(parts[P.PART_ADMITTED_HIGH] * 2 ** 32 + parts[P.PART_ADMITTED_LOW], 2 ** 33);
    assert.equal(parts[P.PART_TICKET], P.NO_TICKET, 'not a probe');
    assert.equal(parts[P.PART_EVENTS], 0);
    const { id } = create({ failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 2 }, clock);
    native.fastRecord(id, (native.fastAllow(id) / P.PERMIT_SCALE) * P.OUTCOME_SCALE + FAILURE);
    const probe = native.fastAllow(id);
    assert.ok(Array.isArray(probe));
    assert.notEqual(probe[P.PART_TICKET], P.NO_TICKET, 'a probe');
    assert.equal(probe[P.PART_EVENTS], P.EVENTS, 'the trip and open -> half_open are queued');
    const { [P.PART_ADMITTED_HIGH]: high, [P.PART_ADMITTED_LOW]: low, [P.PART_TICKET]: ticket } = probe;
    assert.equal(native.fastRecordParts(id, SUCCESS, probe[P.PART_GENERATION], high, low, ticket) & P.COUNTED, P.COUNTED);
    assert.equal(native.fastRecordParts(id, SUCCESS, probe[P.PART_GENERATION], high, low, ticket), P.ALREADY_RECORDED);
  });

  test('the trivial-generation cell is the engine\'s decision, shared live with JavaScript', () => {
    const handle = create();
    const trivial = native.trivialView(handle.id);
    assert.ok(trivial instanceof Float64Array && trivial.length === 1);
    assert.equal(trivial[0], P.NO_TRIVIAL_GENERATION);
    native.fastAllow(handle.id);
    assert.equal(trivial[0], 0, 'published by the admission');
    handle.disable();
    assert.equal(trivial[0], P.NO_TRIVIAL_GENERATION, 'cleared by the transition');
    assert.equal(native.fastAllow(handle.id), 1 * P.PERMIT_SCALE + P.EVENTS);
    assert.equal(trivial[0], 1, 'disabled: a success only counts');
    handle.forceOpen();
    assert.equal(native.fastAllow(handle.id), P.REJECTED - P.EVENTS);
    assert.equal(trivial[0], P.NO_TRIVIAL_GENERATION);
    for (const options of [{ failureRateThreshold: 0.5 }, { slowCallDuration: 10 }]) {
      const { id } = create(options);
      native.fastAllow(id);
      assert.equal(native.trivialView(id)[0], P.NO_TRIVIAL_GENERATION, `never with ${Object.keys(options)}`);
    }
  });

  test('successes held back by CircuitBreaker are recorded, in their generation, by the next call', () => {
    const breaker = new CircuitBreaker();
    const permits = [breaker.allow(), breaker.allow()];
    assert.deepEqual(permits.map((p) => breaker.recordSuccess(p)), [true, true]);
    const m = breaker.metrics();
    assert.deepEqual([m.successes, m.stale, m.generation], [2, 0, 0]);
  });
});
