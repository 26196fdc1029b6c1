'use strict';
// circuit-core/prometheus: a real scrape over HTTP (a node:http server on 127.0.0.1 serving a
// prom-client registry, fetched with fetch and parsed), with breakers and a family driven on a
// manual clock, so every value is exact. The conformance runner checks the whole exposition
// against the golden file; this checks scrape-time values, eviction, unregistering and errors.

const { describe, test, after, before } = require('node:test');
const assert = require('node:assert/strict');
const client = require('prom-client');
const { register } = require('circuit-core/prometheus');
const { BreakerFamily, CircuitBreaker, ManualClock } = require('circuit-core');
const { serve } = require('./http-servers.js');
const { parseExposition } = require('./prom-text.js');

/** A scrape endpoint for `registry`: `{ scrape(): parsed exposition, close() }`. */
async function endpoint(registry) {
  const server = await serve(async (req, res) => {
    try {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  return {
    async scrape() {
      const response = await fetch(`${server.origin}/metrics`);
      assert.equal(response.status, 200, await response.clone().text());
      assert.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
      return parseExposition(await response.text());
    },
    close: () => server.close(),
  };
}

/** The value of the sample `name{labels}` in a parsed exposition, or `undefined`. */
function sample(parsed, name, labels) {
  const rendered = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  const prefix = `${name}{${rendered}} `;
  const line = parsed.samples.find((s) => s.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

describe('circuit-core/prometheus', () => {
  const clock = new ManualClock();
  const registry = new client.Registry();
  let http;
  before(async () => {
    http = await endpoint(registry);
  });
  after(() => http.close());

  test('a scrape over HTTP reads the breaker at scrape time, not at registration', async () => {
    const breaker = new CircuitBreaker({ name: 'payments', failureThreshold: 2, resetTimeout: 1000, clock });
    const registration = register(breaker, { registry });
    let parsed = await http.scrape();
    assert.equal(sample(parsed, 'circuit_breaker_state', { name: 'payments', state: 'closed' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_calls_total', { name: 'payments', outcome: 'failure' }), 0);
    assert.equal(parsed.type.get('circuit_breaker_calls_total'), 'counter');
    assert.equal(parsed.type.get('circuit_breaker_state'), 'gauge');
    assert.equal(parsed.help.get('circuit_breaker_state'), '1 for the breaker\'s current state, 0 for the others.');

    breaker.executeSync(() => 'ok'); // a success the breaker holds back: the scrape must see it
    for (let i = 0; i < 2; i++) assert.throws(() => breaker.executeSync(() => { throw new Error('down'); }));
    assert.throws(() => breaker.allow(), { code: 'ECIRCUITOPEN' });
    clock.advance(250);
    parsed = await http.scrape();
    assert.equal(sample(parsed, 'circuit_breaker_state', { name: 'payments', state: 'open' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_state', { name: 'payments', state: 'closed' }), 0);
    assert.equal(sample(parsed, 'circuit_breaker_calls_total', { name: 'payments', outcome: 'success' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_calls_total', { name: 'payments', outcome: 'failure' }), 2);
    assert.equal(sample(parsed, 'circuit_breaker_rejected_calls_total', { name: 'payments', reason: 'open' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_time_in_state_seconds', { name: 'payments' }), 0.25);
    const labels = { from: 'closed', name: 'payments', reason: 'failure_threshold', to: 'open' };
    assert.equal(sample(parsed, 'circuit_breaker_transitions_total', labels), 1);
    registration.unregister();
    registration.unregister(); // idempotent
    parsed = await http.scrape();
    assert.equal(parsed.samples.length, 0, 'nothing left once the only source is unregistered');
  });

  test('a family exports every member with its key, and the overflow breaker; evicted members vanish', async () => {
    const family = new BreakerFamily({ name: 'api', maxKeys: 2, idleTtl: 1000, clock, failureThreshold: 1 });
    const loner = new CircuitBreaker({ clock }); // no name: name=""
    const registrations = [register(family, { registry }), register(loner, { registry })];
    await family.execute('a', () => 'ok');
    await assert.rejects(family.execute('b', () => { throw new Error('down'); }));
    let parsed = await http.scrape();
    assert.equal(sample(parsed, 'circuit_breaker_calls_total', { key: 'a', name: 'api', outcome: 'success' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_state', { key: 'b', name: 'api', state: 'open' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_state', { key: '(overflow)', name: 'api', state: 'closed' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_state', { name: '', state: 'closed' }), 1);
    // `a` idles out and is evicted by the next use of the family: its samples go with it.
    clock.advance(1001);
    family.inspect('c');
    parsed = await http.scrape();
    assert.equal(sample(parsed, 'circuit_breaker_state', { key: 'a', name: 'api', state: 'closed' }), undefined);
    assert.equal(sample(parsed, 'circuit_breaker_state', { key: 'c', name: 'api', state: 'closed' }), 1);
    assert.equal(sample(parsed, 'circuit_breaker_state', { key: 'b', name: 'api', state: 'open' }), 1, 'open: pinned');
    for (const r of registrations) r.unregister();
  });

  test('one scrape reads each source once, and every family sees the same snapshot', async () => {
    const breaker = new CircuitBreaker({ name: 'once', clock });
    const registration = register(breaker, { registry });
    const text = await registry.metrics();
    const parsed = parseExposition(text);
    const names = new Set(parsed.samples.map((s) => s.slice(0, s.indexOf('{'))));
    assert.equal(names.size, 8, 'every family but transitions (none happened) has samples');
    assert.equal(parsed.type.size, 9, 'every family has HELP and TYPE');
    registration.unregister();
  });

  test('the default registry, double registration and bad arguments', () => {
    const breaker = new CircuitBreaker({ name: 'global', clock });
    const registration = register(breaker);
    assert.ok(client.register.getSingleMetric('circuit_breaker_state'), 'registered with prom-client\'s global registry');
    assert.throws(() => register(breaker), { code: 'ERR_INVALID_ARG_VALUE', message: /already registered/ });
    registration.unregister();
    assert.equal(client.register.getSingleMetric('circuit_breaker_state'), undefined);
    assert.throws(() => register({}), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /CircuitBreaker or a BreakerFamily/ });
    assert.throws(() => register(null), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => register(breaker, { registry: {} }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /Registry/ });
    assert.throws(() => register(breaker, 'registry'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });
});
