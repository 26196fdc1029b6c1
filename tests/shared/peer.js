'use strict';
// The Node peer of tests/shared/run: one breaker of a manual-clock host region, driven by the
// command protocol described in tests/shared/driver.py (one command a line on stdin, one JSON line
// on stdout per command). Loads the binding built in place in bindings-node/.

const readline = require('node:readline');
const { CircuitBreaker, CircuitOpenError, HostRegion } = require('../../bindings-node');

const CAPACITY = 16;

let region = null;
let breaker = null;
const events = [];

function metricsFields() {
  const m = breaker.metrics();
  return {
    state: m.state,
    generation: m.generation,
    consecutive_failures: m.consecutiveFailures,
    admitted: m.admitted,
    failures: m.failures,
    successes: m.successes,
    rejected: m.rejected,
  };
}

function errorReply(what, err) {
  const reply = { ok: false, what, error: String(err && err.message), type: err && err.name };
  for (const key of ['code', 'kind', 'options', 'path']) {
    if (err && err[key] !== undefined) reply[key] = err[key];
  }
  return reply;
}

function attach(path, failureThreshold) {
  try {
    region = new HostRegion(path, { capacity: CAPACITY, manualClock: true });
  } catch (err) {
    return errorReply('HostRegion', err);
  }
  try {
    breaker = new CircuitBreaker({
      name: 'shared',
      region,
      failureThreshold,
      resetTimeout: 10_000,
      halfOpenMaxCalls: 1,
      successThreshold: 1,
    });
  } catch (err) {
    return errorReply('CircuitBreaker', err);
  }
  breaker.on('stateChange', (t) => {
    events.push({
      from: t.from,
      to: t.to,
      reason: t.reason,
      generation: t.generation, // not part of Node's Transition (undefined -> dropped by JSON)
      at_ms: Math.round(t.at * 1000) / 1000,
      remote: t.remote,
    });
  });
  return { ok: true, shared: true };
}

function call(outcome) {
  let permit;
  try {
    permit = breaker.allow();
  } catch (err) {
    if (err instanceof CircuitOpenError) {
      return { ok: true, admitted: false, reason: err.reason, metrics: metricsFields() };
    }
    throw err;
  }
  const probe = permit.isProbe;
  let counted;
  if (outcome === 'failure') counted = breaker.recordFailure(permit);
  else if (outcome === 'success') counted = breaker.recordSuccess(permit);
  else counted = breaker.recordIgnored(permit);
  return { ok: true, admitted: true, probe, counted, metrics: metricsFields() };
}

function handle(words) {
  const [command, ...args] = words;
  if (command === 'attach') {
    if (breaker) return { ok: false, error: 'already attached' };
    return attach(args[0], args.length > 1 ? Number(args[1]) : 4);
  }
  if (command === 'advance') {
    try {
      region.advance(Number(args[0]));
    } catch (err) {
      return errorReply('advance', err);
    }
    return { ok: true };
  }
  if (!breaker) return { ok: false, error: 'not attached' };
  switch (command) {
    case 'fail':
      return call('failure');
    case 'success':
      return call('success');
    case 'allow':
      return call('ignored');
    case 'state': {
      const state = breaker.state;
      return { ok: true, state, generation: breaker.metrics().generation };
    }
    case 'metrics':
      return { ok: true, metrics: metricsFields() };
    case 'events':
      return { ok: true, events: events.slice() };
    default:
      return { ok: false, error: `unknown command ${command}` };
  }
}

const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on('line', (line) => {
  const words = line.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return;
  let reply;
  try {
    reply = handle(words);
  } catch (err) {
    reply = errorReply(words[0], err);
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
});
