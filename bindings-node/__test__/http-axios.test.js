'use strict';
// circuit-core/axios (`attach`, an adapter wrapper) against real servers on loopback started here:
// per-origin isolation, 5xx vs 4xx, a refused connection, axios's timeout, the caller's abort,
// Retry-After on a manual clock, the rejection (CircuitOpenError, ECIRCUITOPEN) and the fallback.

const { describe, test, after } = require('node:test');
const assert = require('node:assert/strict');
const axios = require('axios');
const { attach } = require('circuit-core/axios');
const { BreakerFamily, CircuitOpenError, ManualClock } = require('circuit-core');
const { serve, statusServer, hangingServer, refusedOrigin } = require('./http-servers.js');

const servers = [];
async function started(server) {
  servers.push(await server);
  return servers.at(-1);
}
after(() => Promise.all(servers.map((s) => s.close())));

const client = (options, config) => attach(axios.create({ validateStatus: () => true, ...config }), options);

const isOpen = (origin) => (err) => {
  assert.ok(err instanceof CircuitOpenError, `expected CircuitOpenError, got ${err}`);
  assert.equal(err.code, 'ECIRCUITOPEN');
  assert.equal(err.key, origin);
  return true;
};

describe('circuit-core/axios', () => {
  test('one breaker per origin: a failing origin opens, another stays closed', async () => {
    const down = await started(serve((req, res) => res.writeHead(503).end()));
    const up = await started(serve((req, res) => res.writeHead(200).end('ok')));
    const http = attach(axios.create(), { failureThreshold: 2 });
    for (let i = 0; i < 2; i++) await assert.rejects(http.get(down.url), (err) => err.response?.status === 503);
    await assert.rejects(http.get(down.url), isOpen(down.origin));
    assert.equal((await http.get(up.url)).data, 'ok');
    assert.equal((await http.get('/x', { baseURL: up.origin })).data, 'ok', 'baseURL + url');
  });

  test('5xx, 408 and 429 count as failures; 4xx and 501 do not', async () => {
    const server = await started(statusServer());
    for (const code of [500, 503, 408, 429]) {
      const http = client({ failureThreshold: 1 });
      assert.equal((await http.get(`${server.origin}/${code}`)).status, code);
      await assert.rejects(http.get(server.url), isOpen(server.origin), `${code}`);
    }
    const family = new BreakerFamily({ failureThreshold: 1 });
    const http = client({ family });
    for (const code of [400, 404, 501, 200]) assert.equal((await http.get(`${server.origin}/${code}`)).status, code);
    const m = family.metrics().members[server.origin];
    assert.equal(m.state, 'closed');
    assert.equal(m.successes, 4);
  });

  test('a refused connection counts as a failure', async () => {
    const origin = await refusedOrigin();
    const http = client({ failureThreshold: 1 });
    await assert.rejects(http.get(`${origin}/`), (err) => err.code === 'ECONNREFUSED');
    await assert.rejects(http.get(`${origin}/`), isOpen(origin));
  });

  test("axios's timeout is a failure; the caller's abort is ignored", async () => {
    const server = await started(hangingServer());
    const family = new BreakerFamily({ failureThreshold: 2 });
    const http = client({ family });
    const controller = new AbortController();
    server.server.once('request', () => controller.abort());
    await assert.rejects(http.get(server.url, { signal: controller.signal }), (err) => axios.isCancel(err));
    assert.equal(family.metrics().members[server.origin].ignored, 1);
    await assert.rejects(http.get(server.url, { timeout: 100 }), (err) => err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT');
    const m = family.metrics().members[server.origin];
    assert.equal(m.failures, 1);
    assert.equal(m.state, 'closed');
  });

  test('Retry-After on the opening failure: rejected at 5 s, admitted after 30 s (manual clock)', async () => {
    let code = 503;
    const server = await started(serve((req, res) => res.writeHead(code, { 'retry-after': '30' }).end()));
    const clock = new ManualClock();
    const http = client({ clock, failureThreshold: 1, resetTimeout: 1_000 });
    assert.equal((await http.get(server.url)).status, 503);
    clock.advance(5_000);
    await assert.rejects(http.get(server.url), (err) => isOpen(server.origin)(err) && err.retryAfter === 25_000);
    clock.advance(25_000);
    code = 200;
    assert.equal((await http.get(server.url)).status, 200);
  });

  test("with responseType 'stream' the outcome is recorded when the headers arrive", async () => {
    let finish;
    const finished = new Promise((resolve) => {
      finish = resolve;
    });
    const server = await started(
      serve(async (req, res) => {
        res.writeHead(200);
        res.write('first');
        await finished;
        res.end(' rest');
      }),
    );
    const family = new BreakerFamily({});
    const res = await client({ family }).get(server.url, { responseType: 'stream' });
    assert.equal(family.metrics().members[server.origin].successes, 1);
    const chunks = [];
    for await (const chunk of res.data) {
      chunks.push(chunk.toString());
      if (chunks.length === 1) finish();
    }
    assert.equal(chunks.join(''), 'first rest');
  });

  test('fallback answers a rejected request', async () => {
    const server = await started(serve((req, res) => res.writeHead(500).end()));
    const http = client({ failureThreshold: 1, fallback: (config, err) => ({ status: 200, data: `cached (${err.code})`, headers: {}, config }) });
    assert.equal((await http.get(server.url)).status, 500);
    assert.equal((await http.get(server.url)).data, 'cached (ECIRCUITOPEN)');
  });

  test('bad arguments throw naming them', () => {
    assert.throws(() => attach(null), (err) => err instanceof TypeError && /`instance`/.test(err.message));
    assert.throws(() => attach(axios.create(), { timeout: 5 }), (err) => err instanceof TypeError && /timeout/.test(err.message));
  });
});
