'use strict';
// How bench/run.js times its candidates: each candidate is a function making one call, timed as
// `calls` sequential awaited calls (a sample); every round takes one sample of every candidate,
// in alternating order (forward, then backward), so that drift and the other tenants of the
// machine hit all of them alike. Figures are medians over rounds; a ratio between two candidates
// is the median of their per-round ratios (two samples taken next to each other share the noise).

async function sample(call, calls) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await call();
  return Number(process.hrtime.bigint() - start) / calls;
}

/** The same, in CPU time of the process (user + system), which time spent descheduled by
 * other tenants of the machine does not inflate. */
async function cpuSample(call, calls) {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await call();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / calls;
}

/** Samples (ns per call) of each candidate, by label: `{ label: [ns, ...] }`. */
async function measure(candidates, { calls, rounds, warmup = Math.ceil(calls / 4), cpu = false }) {
  const take = cpu ? cpuSample : sample;
  for (const [, call] of candidates) await take(call, warmup);
  const samples = Object.fromEntries(candidates.map(([label]) => [label, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? candidates : [...candidates].reverse();
    for (const [label, call] of order) samples[label].push(await take(call, calls));
  }
  return samples;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** How many times faster `fast` is than `slow`: the median of `slow / fast` per round. */
function ratio(samples, slow, fast) {
  return median(samples[slow].map((ns, round) => ns / samples[fast][round]));
}

module.exports = { measure, median, ratio };
