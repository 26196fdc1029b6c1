#!/usr/bin/env node
'use strict';
// Side-by-side benchmark of one admitted, successful async call through each candidate, in one
// process run: a bare async call, a minimal hand-written wrapper (the floor any breaker pays),
// circuit's `execute` and two-step API, opossum and cockatiel. Candidates run round-robin for
// several rounds and each reports its median, so drift (JIT, CPU frequency, the other tenant of
// the machine) hits all of them alike.
//
//   node bench/run.js [--calls N] [--rounds R] [--write ../BENCHMARKS.md]
//
// Prints a markdown table; with --write, replaces the section between `<!-- node:begin -->` and
// `<!-- node:end -->` of the given file (appending it if absent).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { CircuitBreaker } = require('..');
const Opossum = require('opossum');
const { circuitBreaker, handleAll, ConsecutiveBreaker } = require('cockatiel');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}
const CALLS = Number(option('--calls', 300_000));
const ROUNDS = Number(option('--rounds', 9));
const WRITE = option('--write', undefined);

// The dependency being protected: an async function that succeeds at once.
async function dependency(x) {
  return x;
}

// The floor: what any breaker must do at least (count the outcome, refuse when open).
function handWrapper(fn) {
  let failures = 0;
  let open = false;
  return async function guarded(...args) {
    if (open) throw new Error('open');
    try {
      const value = await fn(...args);
      failures = 0;
      return value;
    } catch (err) {
      if (++failures >= 5) open = true;
      throw err;
    }
  };
}

// One breaker per candidate, as each peer has its own.
const breaker = new CircuitBreaker({ name: 'bench' });
const wrapped = new CircuitBreaker({ name: 'bench-wrap' }).wrap(dependency);
const twoStep = new CircuitBreaker({ name: 'bench-two-step' });
const rated = new CircuitBreaker({ name: 'bench-rate', failureRateThreshold: 0.5, windowSize: 100 });
const timed = new CircuitBreaker({ name: 'bench-timeout', timeout: 10_000 });
const guarded = handWrapper(dependency);
const opossum = new Opossum(dependency); // defaults: 10 s timeout per call, 10 s rolling window
const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });

const candidates = [
  ['bare async call', () => dependency(1)],
  ['hand-written wrapper (floor)', () => guarded(1)],
  ['circuit `execute`', () => breaker.execute(dependency, 1)],
  ['circuit `wrap`', () => wrapped(1)],
  [
    'circuit two-step (`allow` + `recordSuccess`)',
    async () => {
      const permit = twoStep.allow();
      let value;
      try {
        value = await dependency(1);
      } catch (err) {
        twoStep.recordFailure(permit);
        throw err;
      }
      twoStep.recordSuccess(permit);
      return value;
    },
  ],
  ['circuit `execute`, failure-rate window (two native calls)', () => rated.execute(dependency, 1)],
  ['circuit `execute` with `timeout` (per-call timer)', () => timed.execute(dependency, 1)],
  ['opossum 9 `fire` (defaults)', () => opossum.fire(1)],
  ['cockatiel 3 `execute` (ConsecutiveBreaker)', () => cockatiel.execute(() => dependency(1))],
];

async function loop(call, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - start) / n;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function fmt(ns) {
  return ns >= 1000 ? ns.toLocaleString('en-US', { maximumFractionDigits: 0 }) : ns.toFixed(0);
}

async function main() {
  for (const [, call] of candidates) await loop(call, Math.ceil(CALLS / 4)); // warm-up
  const samples = new Map(candidates.map(([label]) => [label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, call] of candidates) samples.get(label).push(await loop(call, CALLS));
  }
  opossum.shutdown();
  const ns = new Map([...samples].map(([label, values]) => [label, median(values)]));
  const floor = ns.get('hand-written wrapper (floor)');
  const opossumNs = ns.get('opossum 9 `fire` (defaults)');
  const cockatielNs = ns.get('cockatiel 3 `execute` (ConsecutiveBreaker)');

  const rows = [...ns].map(([label, value]) => {
    const vsFloor = `${(value / floor).toFixed(2)}x`;
    const vsOpossum = `${(opossumNs / value).toFixed(1)}x`;
    const vsCockatiel = `${(cockatielNs / value).toFixed(1)}x`;
    return `| ${label} | ${fmt(value)} | ${vsFloor} | ${vsOpossum} | ${vsCockatiel} |`;
  });
  const execute = ns.get('circuit `execute`');
  const targets = [
    ['`execute` <= 1.5x the hand-written wrapper', execute / floor <= 1.5, `${(execute / floor).toFixed(2)}x`],
    ['`execute` >= 8x faster than opossum', opossumNs / execute >= 8, `${(opossumNs / execute).toFixed(1)}x`],
    ['`execute` >= 2x faster than cockatiel', cockatielNs / execute >= 2, `${(cockatielNs / execute).toFixed(1)}x`],
  ];
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const versions = ['opossum', 'cockatiel']
    .map((name) => `${name} ${require(`${name}/package.json`).version}`)
    .join(', ');
  const table = [
    '| call (one admitted async success, awaited) | ns/call | vs floor | opossum / this | cockatiel / this |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    '| target | measured | met |',
    '| --- | --- | --- |',
    ...targets.map(([what, ok, measured]) => `| ${what} | ${measured} | ${ok ? 'yes' : 'NO'} |`),
  ].join('\n');
  const header = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${os.cpus().length} cores, ${os.type()} ${os.release()}, Node ${process.version}; ${versions}.`,
    `Command: \`bindings-node/bench/run.sh\` (= \`node bench/run.js --write ../BENCHMARKS.md\` after \`npm ci\` and \`napi build --release\`) (${CALLS.toLocaleString('en-US')} sequential awaited calls per round, ${ROUNDS} rounds round-robin, median).`,
  ].join('\n');
  console.log(`${header}\n\n${table}`);
  if (WRITE !== undefined) write(WRITE, header, table);
}

function write(file, header, table) {
  const notes = fs.readFileSync(path.join(__dirname, 'NOTES.md'), 'utf8').trim();
  const section = [
    '<!-- node:begin -->',
    '## Node (`bindings-node/bench/run.js`)',
    '',
    header,
    '',
    table,
    '',
    notes,
    '<!-- node:end -->',
  ].join('\n');
  const text = fs.readFileSync(file, 'utf8');
  const begin = text.indexOf('<!-- node:begin -->');
  const end = text.indexOf('<!-- node:end -->');
  const next =
    begin !== -1 && end > begin
      ? text.slice(0, begin) + section + text.slice(end + '<!-- node:end -->'.length)
      : `${text.replace(/\s*$/, '')}\n\n${section}\n`;
  fs.writeFileSync(file, next);
  console.error(`wrote the node section of ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
