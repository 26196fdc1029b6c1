#!/usr/bin/env node
'use strict';
// Side-by-side benchmark of one admitted, successful async call through each candidate
// (bench/candidates.js: a bare async call, a minimal hand-written wrapper, the floor any breaker
// pays, circuit's `execute`, `wrap` and two-step API, opossum and cockatiel), timed in one process
// as bench/measure.js says, plus the memory per breaker (bench/memory.js).
//
//   node bench/run.js [--calls N] [--rounds R] [--write ../BENCHMARKS.md] [--json FILE] [--no-memory]
//   node bench/run.js --quick --json FILE      the regression guard's few-second run
//
// Prints a markdown table; --write replaces the section between `<!-- node:begin -->` and
// `<!-- node:end -->` of the given file (appending it if absent); --json writes the ratios (and,
// in a full run, the figures) in the contract of scripts/bench-guard and scripts/bench-summary.
// --quick times only the floor, `execute`, opossum and cockatiel, with fewer and shorter rounds.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { candidates } = require('./candidates.js');
const { measure, median, ratio } = require('./measure.js');
const { memoryFigures } = require('./memory.js');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}
const QUICK = process.argv.includes('--quick');
const CALLS = Number(option('--calls', QUICK ? 20_000 : 300_000));
const ROUNDS = Number(option('--rounds', QUICK ? 15 : 9));
const WRITE = option('--write', undefined);
const JSON_OUT = option('--json', undefined);
const MEMORY = !QUICK && !process.argv.includes('--no-memory');

// The guard's ratios: how many times better circuit is (bigger is better). `target` is the
// issue's; `min` is the quick guard's bound, about 60-65% of what quick runs measure on this
// machine kind, loaded by other builds (floor/execute 0.70-1.19, typically 0.95; opossum/execute
// 6.5-8.8, typically 7.7; cockatiel/execute 1.4-2.3, typically 1.8), so that noise does not trip
// it, while a 2x slow-down of `execute` stays below it even in the best of the guard's three runs.
const RATIOS = [
  { name: 'execute_vs_floor', what: 'hand-written wrapper ns / `execute` ns', slow: 'floor', fast: 'execute', target: 0.8, min: 0.6 },
  { name: 'execute_vs_opossum', what: 'opossum 9 `fire` ns / `execute` ns', slow: 'opossum', fast: 'execute', target: 8.0, min: 4.5 },
  { name: 'execute_vs_cockatiel', what: 'cockatiel 3 `execute` ns / `execute` ns', slow: 'cockatiel', fast: 'execute', target: 2.0, min: 1.1 },
];

function fmt(ns) {
  return ns >= 1000 ? ns.toLocaleString('en-US', { maximumFractionDigits: 0 }) : ns.toFixed(0);
}
const bytes = (n) => Math.round(n).toLocaleString('en-US');

async function main() {
  const only = QUICK ? ['floor', 'execute', 'opossum', 'cockatiel'] : undefined;
  const { candidates: list, release } = candidates(only);
  const samples = await measure(
    list.map(([id, , call]) => [id, call]),
    { calls: CALLS, rounds: ROUNDS },
  );
  release();
  const ratios = RATIOS.map(({ slow, fast, ...r }) => ({ ...r, value: Number(ratio(samples, slow, fast).toFixed(3)) }));
  const memory = MEMORY ? memoryFigures() : [];
  const table = report(list, samples, ratios, memory);
  const header = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}, ${os.cpus().length} cores, ${os.type()} ${os.release()}, Node ${process.version}; ${versions()}.`,
    `Command: \`bindings-node/bench/run.sh\` (= \`node bench/run.js --write ../BENCHMARKS.md --json ../target/bench/node.json\` after \`npm ci\` and \`napi build --release\`) (${CALLS.toLocaleString('en-US')} sequential awaited calls per sample, ${ROUNDS} rounds round-robin; ns/call are medians, ratios medians of per-round ratios).`,
  ].join('\n');
  console.log(`${header}\n\n${table}`);
  if (WRITE !== undefined) write(WRITE, header, table);
  if (JSON_OUT !== undefined) writeJson(JSON_OUT, list, samples, ratios, memory);
}

function versions() {
  return ['opossum', 'cockatiel'].map((name) => `${name} ${require(`${name}/package.json`).version}`).join(', ');
}

function report(list, samples, ratios, memory) {
  const has = (id) => samples[id] !== undefined;
  const rows = list.map(([id, label]) => {
    const cells = [label, fmt(median(samples[id]))];
    cells.push(has('floor') ? `${(1 / ratio(samples, 'floor', id)).toFixed(2)}x` : '-');
    for (const peer of ['opossum', 'cockatiel']) cells.push(has(peer) ? `${ratio(samples, peer, id).toFixed(1)}x` : '-');
    return `| ${cells.join(' | ')} |`;
  });
  const byName = Object.fromEntries(ratios.map((r) => [r.name, r]));
  const vsFloor = 1 / byName.execute_vs_floor.value;
  const targets = [
    ['`execute` <= 1.25x the hand-written wrapper', vsFloor <= 1.25, `${vsFloor.toFixed(2)}x`],
    ['`execute` >= 8x faster than opossum', byName.execute_vs_opossum.value >= 8, `${byName.execute_vs_opossum.value.toFixed(2)}x`],
    ['`execute` >= 2x faster than cockatiel', byName.execute_vs_cockatiel.value >= 2, `${byName.execute_vs_cockatiel.value.toFixed(2)}x`],
  ];
  const lines = [
    '| call (one admitted async success, awaited) | ns/call | vs floor | opossum / this | cockatiel / this |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    '| target | measured | met |',
    '| --- | --- | --- |',
    ...targets.map(([what, ok, measured]) => `| ${what} | ${measured} | ${ok ? 'yes' : 'NO'} |`),
  ];
  if (memory.length !== 0) {
    lines.push(
      '',
      '| memory per breaker (`bench/memory.js`) | breakers | rss | JS heap (heapUsed) | native (rss - heapTotal - external) |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...memory.map(
        (m) =>
          `| ${m.what} | ${m.count.toLocaleString('en-US')} | ${bytes(m.rss)} B | ${bytes(m.heapUsed)} B | ${bytes(m.rss - m.heapTotal - m.external)} B |`,
      ),
    );
    const map = memory.find((m) => m.id === 'map_100k');
    if (map !== undefined) {
      lines.push('', `100,000 keyed breakers: ${(map.rss * map.count / 2 ** 20).toFixed(0)} MiB rss in all, ${(map.heapUsed * map.count / 2 ** 20).toFixed(0)} MiB of it JS heap.`);
    }
  }
  return lines.join('\n');
}

function writeJson(file, list, samples, ratios, memory) {
  const figures = [
    ...list.map(([id, label]) => ({ name: `${id}_ns`, what: label, value: Number(median(samples[id]).toFixed(1)), unit: 'ns' })),
    ...memory.flatMap((m) => [
      { name: `memory_${m.id}_rss`, what: `${m.what}: rss per breaker`, value: Math.round(m.rss), unit: 'bytes' },
      { name: `memory_${m.id}_heap`, what: `${m.what}: JS heap per breaker`, value: Math.round(m.heapUsed), unit: 'bytes' },
      { name: `memory_${m.id}_native`, what: `${m.what}: native memory per breaker (rss - heapTotal - external)`, value: Math.round(m.rss - m.heapTotal - m.external), unit: 'bytes' },
    ]),
  ];
  const out = { suite: 'node', ratios, ...(QUICK ? {} : { figures }) };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.error(`wrote ${file}`);
}

function write(file, header, table) {
  const notes = fs.readFileSync(path.join(__dirname, 'NOTES.md'), 'utf8').trim();
  const section = ['<!-- node:begin -->', '## Node (`bindings-node/bench/run.js`)', '', header, '', table, '', notes, '<!-- node:end -->'].join('\n');
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
