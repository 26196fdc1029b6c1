'use strict';
// A child process of __test__/shared.test.js: opens a host region and a breaker in it, then
// answers the parent's commands over the IPC channel (one reply per command, `{ id, ... }`).

const { HostRegion, CircuitBreaker } = require('..');

let region;
let breaker;
const events = [];
const held = [];

function summary() {
  const m = breaker.metrics();
  return {
    state: breaker.state,
    failures: m.failures,
    successes: m.successes,
    admitted: m.admitted,
    own: breaker.processCounts(),
    events: events.slice(),
  };
}

const commands = {
  init({ path, capacity, manualClock, options }) {
    region = new HostRegion(path, { capacity, manualClock });
    breaker = new CircuitBreaker({ ...options, region });
    breaker.on('stateChange', (t) => events.push(t));
    return { pid: process.pid };
  },
  /** allow + recordFailure until a call is rejected; how many failures counted here. */
  failUntilOpen() {
    let counted = 0;
    for (;;) {
      let permit;
      try {
        permit = breaker.allow();
      } catch (err) {
        if (err.code !== 'ECIRCUITOPEN') throw err;
        break;
      }
      if (breaker.recordFailure(permit)) counted++;
    }
    return { counted, ...summary() };
  },
  /** `times` admissions, each permit kept unrecorded. */
  allow({ times }) {
    let admitted = 0;
    let rejected = 0;
    for (let i = 0; i < times; i++) {
      try {
        held.push(breaker.allow());
        admitted++;
      } catch (err) {
        if (err.code !== 'ECIRCUITOPEN') throw err;
        rejected++;
      }
    }
    return { admitted, rejected, probes: held.filter((p) => p.isProbe).length };
  },
  /** One failure through `executeSync`. */
  fail() {
    try {
      breaker.executeSync(() => {
        throw new Error('down');
      });
    } catch (err) {
      return { error: err.code ?? err.message };
    }
    return {};
  },
  /** One success through `execute` (the hot path of an asynchronous call). */
  async succeed() {
    await breaker.execute(async () => 'ok');
    return {};
  },
  summary,
};

process.on('message', async ({ id, command, args }) => {
  try {
    const result = await commands[command](args ?? {});
    process.send({ id, ok: true, result });
  } catch (err) {
    process.send({ id, ok: false, error: { message: err.message, code: err.code, kind: err.kind } });
  }
});
process.on('disconnect', () => process.exit(0));
