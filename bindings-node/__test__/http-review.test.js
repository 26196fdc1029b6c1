'use strict';
// Paths found by review: a throwing `isFailure` must still record its permit, and an abort that
// reaches undici through `fetch` (which does not pass the caller's signal down) is ignored.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const undici = require('undici');
const { interceptor } = require('circuit-core/undici');
const { wrapFetch } = require('circuit-core/fetch');
const { BreakerFamily } = require('circuit-core');
const { statusServer, hangingServer } = require('./http-servers.js');

test('a throwing isFailure records the core verdict, releases the member and rethrows', async () => {
  const a = await statusServer();
  const b = await statusServer();
  try {
    const family = new BreakerFamily({ maxKeys: 1 });
    const boom = new Error('classifier bug');
    const fetch = wrapFetch(globalThis.fetch, {
      family,
      isFailure: () => {
        throw boom;
      },
    });
    await assert.rejects(fetch(`${a.url}503`), (err) => err === boom);
    assert.equal(family.metrics().members[a.origin].failures, 1, 'the core verdict (503: failure) was recorded');
    const permit = family.allow(b.origin);
    assert.equal(permit.overflow, false, 'the first member was not pinned by an unrecorded permit');
    family.recordSuccess(permit);
  } finally {
    await a.close();
    await b.close();
  }
});

test('an abort of undici.fetch through the interceptor is ignored, not a failure', async () => {
  const server = await hangingServer();
  const family = new BreakerFamily({ failureThreshold: 100 });
  const agent = new undici.Agent().compose(interceptor({ family }));
  try {
    const controller = new AbortController();
    const pending = undici.fetch(server.url, { dispatcher: agent, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, (err) => err.name === 'AbortError');
    for (let i = 0; i < 100 && family.metrics().members[server.origin]?.ignored !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const m = family.metrics().members[server.origin];
    assert.equal(m.failures, 0);
    assert.equal(m.ignored, 1);
  } finally {
    await agent.close();
    await server.close();
  }
});
