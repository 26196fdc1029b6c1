'use strict';
// Memory per breaker as a Node program sees it: each figure is measured in a child process
// (node --expose-gc), which creates COUNT breakers, makes one call through each, keeps them
// alive and reports how much process.memoryUsage() grew per breaker between two collected
// heaps: rss (the whole process, so the engine's native memory is included), heapUsed (the
// JavaScript objects) and external (ArrayBuffers and other memory V8 is told about).
//
//   memoryFigures()                     in bench/run.js: every figure, in child processes
//   node --expose-gc bench/memory.js ID   one figure, printed as JSON (what the children run)

const { spawnSync } = require('node:child_process');

const FIGURES = [
  { id: 'consecutive', what: 'a consecutive-failure breaker (defaults)', options: {}, count: 20_000, keyed: false },
  {
    id: 'count_window',
    what: 'a 100-outcome count window (`failureRateThreshold: 0.5, windowSize: 100`)',
    options: { failureRateThreshold: 0.5, windowSize: 100 },
    count: 20_000,
    keyed: false,
  },
  {
    id: 'map_100k',
    what: '100,000 consecutive breakers in a `Map` keyed by string (`tenant-<i>`), Map and keys included',
    options: {},
    count: 100_000,
    keyed: true,
  },
];

function measureInThisProcess(figure) {
  const { CircuitBreaker } = require('..');
  const make = () => {
    const breaker = new CircuitBreaker(figure.options);
    breaker.executeSync(() => 1);
    return breaker;
  };
  for (let i = 0; i < 100; i++) make(); // load and warm everything a breaker uses
  const settle = () => {
    for (let i = 0; i < 4; i++) globalThis.gc();
    return process.memoryUsage();
  };
  const before = settle();
  const held = figure.keyed ? new Map() : [];
  for (let i = 0; i < figure.count; i++) {
    if (figure.keyed) held.set(`tenant-${i}`, make());
    else held.push(make());
  }
  const after = settle();
  const per = (key) => (after[key] - before[key]) / figure.count;
  const size = figure.keyed ? held.size : held.length;
  return {
    id: figure.id,
    count: size,
    rss: per('rss'),
    heapTotal: per('heapTotal'),
    heapUsed: per('heapUsed'),
    external: per('external'),
  };
}

/** Every figure, each from its own child process. */
function memoryFigures() {
  return FIGURES.map((figure) => {
    const run = spawnSync(process.execPath, ['--expose-gc', __filename, figure.id], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`bench/memory.js ${figure.id} failed: ${run.stderr}`);
    return { ...figure, ...JSON.parse(run.stdout) };
  });
}

if (require.main === module) {
  const figure = FIGURES.find((f) => f.id === process.argv[2]);
  if (figure === undefined || typeof globalThis.gc !== 'function') {
    console.error(`usage: node --expose-gc bench/memory.js ${FIGURES.map((f) => f.id).join('|')}`);
    process.exit(2);
  }
  console.log(JSON.stringify(measureInThisProcess(figure)));
}

module.exports = { memoryFigures };
