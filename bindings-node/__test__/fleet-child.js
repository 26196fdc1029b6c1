'use strict';
// A child process of fleet.test.js: one instance of a service with a fleet breaker over the
// Redis at process.env.FLEET_PORT, driven over IPC. Not a test file.

const { CircuitBreaker, redisFleet } = require('..');

let fleet;
let client;
let breaker;
const events = [];

const commands = {
  async start({ kind, port, name, options }) {
    if (kind === 'ioredis') {
      const Redis = require('ioredis');
      client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, enableOfflineQueue: false });
      client.on('error', () => {});
    } else {
      const { createClient } = require('redis');
      client = createClient({ socket: { port, host: '127.0.0.1', reconnectStrategy: 50 }, disableOfflineQueue: true });
      client.on('error', () => {});
      await client.connect();
    }
    fleet = redisFleet(client, options);
    fleet.on('event', (e) => events.push(e));
    breaker = new CircuitBreaker({ name, fleet, failureThreshold: 0, failureRateThreshold: 1, minimumCalls: 1000, windowSize: 1000 });
    return true;
  },
  /** Runs `n` calls that fail (or succeed): how many ran, how many the fleet refused. */
  async calls({ n, fail }) {
    let ran = 0;
    let fleetRefused = 0;
    for (let i = 0; i < n; i++) {
      try {
        await breaker.execute(() => {
          ran++;
          if (fail) throw new Error('boom');
          return 1;
        });
      } catch (err) {
        if (err.code === 'ECIRCUITOPEN' && err.fleet === true) fleetRefused++;
      }
    }
    return { ran, fleetRefused };
  },
  /** Tries to take a permit now: 'probe', 'admitted' or 'refused'; holds a probe until `release`. */
  tryProbe() {
    try {
      const permit = breaker.allow();
      commands.held = permit;
      return permit.isFleetProbe ? 'probe' : 'admitted';
    } catch {
      return 'refused';
    }
  },
  release({ success }) {
    if (commands.held) (success ? breaker.recordSuccess : breaker.recordFailure).call(breaker, commands.held);
    commands.held = undefined;
    return true;
  },
  status() {
    return breaker.fleetStatus();
  },
  events() {
    return events;
  },
  async stop() {
    fleet.close();
    try {
      if (client.disconnect) client.disconnect();
      else await client.quit();
    } catch {}
    return true;
  },
};

process.on('message', async ({ id, command, args }) => {
  try {
    const result = await commands[command](args ?? {});
    process.send({ id, ok: true, result });
  } catch (error) {
    process.send({ id, ok: false, error: { message: error.message, code: error.code } });
  }
});
