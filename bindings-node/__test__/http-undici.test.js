'use strict';
// circuit-core/undici (an interceptor for undici 7's Dispatcher#compose) against real servers on
// loopback started here: per-origin isolation, 5xx vs 4xx, a refused connection, the caller's
// abort, Retry-After on a manual clock, the body streamed, and the rejection through
// onResponseError (CircuitOpenError, ECIRCUITOPEN) without touching the network.

const { describe, test, after } = require('node:test');
const assert = require('node:assert/strict');
const { Agent, request } = require('undici');
const { interceptor } = require('circuit-core/undici');
const { BreakerFamily, CircuitOpenError, ManualClock } = require('circuit-core');
const { serve, statusServer, hangingServer, refusedOrigin } = require('./http-servers.js');

const servers = [];
const agents = [];
async function started(server) {
  servers.push(await server);
  return servers.at(-1);
}
function dispatcher(options) {
  const agent = new Agent();
  agents.push(agent);
  return agent.compose(interceptor(options));
}
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function status(url, d, extra = {}) {
  const res = await request(url, { dispatcher: d, ...extra });
  await res.body.dump();
  return res.statusCode;
}

const isOpen = (origin) => (err) => {
  assert.ok(err instanceof CircuitOpenError, `expected CircuitOpenError, got ${err}`);
  assert.equal(err.code, 'ECIRCUITOPEN');
  assert.equal(err.key, origin);
  return true;
};

describe('circuit-core/undici', () => {
  test('one breaker per origin: a failing origin opens, another stays closed', async () => {
    const down = await started(serve((req, res) => res.writeHead(503).end()));
    const up = await started(serve((req, res) => res.writeHead(200).end('ok')));
    const requests = [];
    down.server.on('request', () => requests.push('down'));
    const d = dispatcher({ failureThreshold: 2, resetTimeout: 60_000 });
    for (let i = 0; i < 2; i++) assert.equal(await status(down.url, d), 503);
    await assert.rejects(request(down.url, { dispatcher: d }), isOpen(down.origin));
    assert.equal(requests.length, 2, 'the rejected request never reached the server');
    assert.equal(await status(up.url, d), 200);
  });

  test('5xx, 408 and 429 count as failures; 4xx and 501 do not', async () => {
    const server = await started(statusServer());
    for (const code of [500, 503, 408, 429]) {
      const d = dispatcher({ failureThreshold: 1 });
      assert.equal(await status(`${server.origin}/${code}`, d), code);
      await assert.rejects(request(server.url, { dispatcher: d }), isOpen(server.origin), `${code}`);
    }
    const family = new BreakerFamily({ failureThreshold: 1 });
    const d = dispatcher({ family });
    for (const code of [400, 404, 422, 501, 200]) assert.equal(await status(`${server.origin}/${code}`, d), code);
    const m = family.metrics().members[server.origin];
    assert.equal(m.state, 'closed');
    assert.equal(m.successes, 5);
  });

  test('a refused connection counts as a failure', async () => {
    const origin = await refusedOrigin();
    const d = dispatcher({ failureThreshold: 1 });
    await assert.rejects(request(`${origin}/`, { dispatcher: d }), (err) => err.code === 'ECONNREFUSED');
    await assert.rejects(request(`${origin}/`, { dispatcher: d }), isOpen(origin));
  });

  test("undici's headersTimeout is a failure; the caller's abort is ignored", async () => {
    const server = await started(hangingServer());
    const family = new BreakerFamily({ failureThreshold: 2 });
    const agent = new Agent({ headersTimeout: 100 });
    agents.push(agent);
    const d = agent.compose(interceptor({ family }));
    const controller = new AbortController();
    server.server.once('request', () => controller.abort());
    await assert.rejects(request(server.url, { dispatcher: d, signal: controller.signal }), (err) => err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED');
    assert.equal(family.metrics().members[server.origin].ignored, 1);
    await assert.rejects(request(server.url, { dispatcher: d }), (err) => err.code === 'UND_ERR_HEADERS_TIMEOUT');
    const m = family.metrics().members[server.origin];
    assert.equal(m.failures, 1);
    assert.equal(m.state, 'closed');
  });

  test('Retry-After on the opening failure: rejected at 5 s, admitted after 30 s (manual clock)', async () => {
    let code = 429;
    const server = await started(serve((req, res) => res.writeHead(code, { 'retry-after': '30' }).end()));
    const clock = new ManualClock();
    const d = dispatcher({ clock, failureThreshold: 1, resetTimeout: 1_000 });
    assert.equal(await status(server.url, d), 429);
    clock.advance(5_000);
    await assert.rejects(request(server.url, { dispatcher: d }), (err) => isOpen(server.origin)(err) && err.retryAfter === 25_000);
    clock.advance(25_000);
    code = 200;
    assert.equal(await status(server.url, d), 200);
  });

  test('the outcome is recorded when the headers arrive; the body is streamed', async () => {
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
    const res = await request(server.url, { dispatcher: dispatcher({ family }) });
    assert.equal(family.metrics().members[server.origin].successes, 1);
    const chunks = [];
    for await (const chunk of res.body) {
      chunks.push(chunk.toString());
      if (chunks.length === 1) finish();
    }
    assert.equal(chunks.join(''), 'first rest');
  });

  test('timeout and fallback are refused as interceptor options', () => {
    assert.throws(() => interceptor({ timeout: 10 }), (err) => err instanceof TypeError && /timeout/.test(err.message));
    assert.throws(() => interceptor({ family: 1 }), (err) => err instanceof TypeError && /`family`/.test(err.message));
  });
});
