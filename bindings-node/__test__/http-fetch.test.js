'use strict';
// circuit-core/fetch against real servers on loopback started here: one breaker per origin, the
// core's classification (5xx but 501, 408, 429, connection errors and timeouts fail; 4xx, 501 and
// the caller's abort do not), Retry-After on a manual clock, the body streamed not read, the
// rejection (ECIRCUITOPEN, the origin key) and the fallback.

const { describe, test, after } = require('node:test');
const assert = require('node:assert/strict');
const { wrapFetch } = require('circuit-core/fetch');
const { BreakerFamily, CircuitOpenError, ManualClock, TimeoutError } = require('circuit-core');
const { serve, statusServer, hangingServer, refusedOrigin } = require('./http-servers.js');

const servers = [];
async function started(server) {
  servers.push(await server);
  return servers.at(-1);
}
after(() => Promise.all(servers.map((s) => s.close())));

const isOpen = (origin) => (err) => {
  assert.ok(err instanceof CircuitOpenError, `expected CircuitOpenError, got ${err}`);
  assert.equal(err.code, 'ECIRCUITOPEN');
  assert.equal(err.key, origin);
  return true;
};

describe('circuit-core/fetch', () => {
  test('one breaker per origin: a failing origin opens, another stays closed', async () => {
    const down = await started(serve((req, res) => res.writeHead(503).end()));
    const up = await started(serve((req, res) => res.writeHead(200).end('ok')));
    const fetch = wrapFetch(globalThis.fetch, { failureThreshold: 2, resetTimeout: 60_000 });
    for (let i = 0; i < 2; i++) assert.equal((await fetch(down.url)).status, 503);
    await assert.rejects(fetch(`${down.origin}/other/path`), isOpen(down.origin));
    assert.equal(await (await fetch(up.url)).text(), 'ok');
    assert.equal(await (await fetch(new URL('/again', up.origin))).text(), 'ok', 'a URL object');
    assert.equal((await fetch(new Request(up.url))).status, 200, 'a Request object');
  });

  test('5xx, 408 and 429 count as failures; 4xx and 501 do not', async () => {
    const server = await started(statusServer());
    for (const status of [500, 502, 503, 504, 408, 429]) {
      const family = new BreakerFamily({ failureThreshold: 1, resetTimeout: 60_000 });
      const fetch = wrapFetch(globalThis.fetch, { family });
      assert.equal((await fetch(`${server.origin}/${status}`)).status, status);
      await assert.rejects(fetch(server.url), isOpen(server.origin), `${status} opened the breaker`);
    }
    const family = new BreakerFamily({ failureThreshold: 1 });
    const fetch = wrapFetch(globalThis.fetch, { family });
    for (const status of [400, 401, 403, 404, 409, 422, 501, 200, 302]) {
      assert.equal((await fetch(`${server.origin}/${status}`, { redirect: 'manual' })).status, status);
    }
    const m = family.metrics().members[server.origin];
    assert.equal(m.state, 'closed');
    assert.equal(m.failures, 0);
    assert.equal(m.successes, 9);
  });

  test('a refused connection counts as a failure', async () => {
    const origin = await refusedOrigin();
    const fetch = wrapFetch(globalThis.fetch, { failureThreshold: 1 });
    await assert.rejects(fetch(`${origin}/`), (err) => err instanceof TypeError && err.cause?.code === 'ECONNREFUSED');
    await assert.rejects(fetch(`${origin}/`), isOpen(origin));
  });

  test('a hanging server with `timeout` is a timeout failure (TimeoutError)', async () => {
    const server = await started(hangingServer());
    const family = new BreakerFamily({ failureThreshold: 1 });
    const fetch = wrapFetch(globalThis.fetch, { family, timeout: 100 });
    await assert.rejects(fetch(server.url), (err) => err instanceof TimeoutError && err.code === 'ETIMEDOUT');
    assert.equal(family.metrics().members[server.origin].failures, 1);
    await assert.rejects(fetch(server.url), isOpen(server.origin));
  });

  test("the caller's AbortSignal is ignored, and its abort rethrown", async () => {
    const server = await started(hangingServer());
    const family = new BreakerFamily({ failureThreshold: 1 });
    const fetch = wrapFetch(globalThis.fetch, { family, timeout: 60_000 });
    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    server.server.once('request', () => controller.abort(reason));
    await assert.rejects(fetch(server.url, { signal: controller.signal }), (err) => err === reason);
    const m = family.metrics().members[server.origin];
    assert.equal(m.failures, 0);
    assert.equal(m.ignored, 1);
    assert.equal(m.state, 'closed');
  });

  test('Retry-After on the opening failure: still rejected at 5 s, admitted after 30 s (manual clock)', async () => {
    let status = 503;
    const server = await started(serve((req, res) => res.writeHead(status, { 'retry-after': '30' }).end()));
    const clock = new ManualClock();
    const fetch = wrapFetch(globalThis.fetch, { clock, failureThreshold: 1, resetTimeout: 1_000 });
    assert.equal((await fetch(server.url)).status, 503);
    clock.advance(5_000);
    await assert.rejects(fetch(server.url), (err) => isOpen(server.origin)(err) && err.retryAfter === 25_000);
    clock.advance(25_000);
    status = 200;
    assert.equal((await fetch(server.url)).status, 200, 'the probe is admitted');
  });

  test('the outcome is recorded when the headers arrive; the body is streamed, not read', async () => {
    let finish;
    const finished = new Promise((resolve) => {
      finish = resolve;
    });
    const server = await started(
      serve(async (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first chunk');
        await finished; // until the test has read the first chunk
        res.end(' and the rest');
      }),
    );
    const family = new BreakerFamily({});
    const fetch = wrapFetch(globalThis.fetch, { family });
    const response = await fetch(server.url);
    assert.equal(family.metrics().members[server.origin].successes, 1, 'recorded before the body ended');
    const reader = response.body.getReader();
    const first = await reader.read();
    assert.equal(Buffer.from(first.value).toString(), 'first chunk');
    finish();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
    assert.equal(rest, ' and the rest');
  });

  test('a rejection has code ECIRCUITOPEN and the origin; `fallback` answers instead', async () => {
    const server = await started(serve((req, res) => res.writeHead(500).end()));
    const seen = [];
    const fallback = (request, err) => {
      seen.push([request.url, err.code, err.key]);
      return new Response('cached', { status: 200 });
    };
    const fetch = wrapFetch(globalThis.fetch, { failureThreshold: 1, fallback });
    assert.equal((await fetch(server.url)).status, 500);
    const response = await fetch(`${server.origin}/cached`);
    assert.equal(await response.text(), 'cached');
    assert.deepEqual(seen, [[`${server.origin}/cached`, 'ECIRCUITOPEN', server.origin]]);
  });

  test('isFailure overrides the classification', async () => {
    const server = await started(statusServer());
    const family = new BreakerFamily({ failureThreshold: 1 });
    const fetch = wrapFetch(globalThis.fetch, { family, isFailure: ({ status }) => (status === 404 ? true : undefined) });
    assert.equal((await fetch(`${server.origin}/503`)).status, 503);
    await assert.rejects(fetch(server.url), isOpen(server.origin));
    const other = wrapFetch(globalThis.fetch, { failureThreshold: 1, isFailure: ({ status }) => status === 404 });
    assert.equal((await other(`${server.origin}/404`)).status, 404);
    await assert.rejects(other(server.url), isOpen(server.origin));
  });

  test('bad options throw naming the option', () => {
    assert.throws(() => wrapFetch('fetch'), (err) => err instanceof TypeError && /`fetch`/.test(err.message));
    assert.throws(() => wrapFetch(fetch, { timeout: -1 }), (err) => err instanceof RangeError && /`timeout`/.test(err.message));
    assert.throws(() => wrapFetch(fetch, { fallback: 1 }), (err) => err instanceof TypeError && /`fallback`/.test(err.message));
    assert.throws(() => wrapFetch(fetch, { family: {} }), (err) => err instanceof TypeError && /`family`/.test(err.message));
    assert.throws(() => wrapFetch(fetch, { family: new BreakerFamily(), maxKeys: 3 }), (err) => err instanceof TypeError && /maxKeys/.test(err.message));
    assert.throws(() => wrapFetch(fetch, { failureThreshold: -1 }), (err) => err instanceof RangeError && err.option === 'failureThreshold');
  });
});
