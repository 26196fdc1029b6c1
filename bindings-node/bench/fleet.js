'use strict';
// The fleet level's cost on the Node call path: the same closed `allow` + `recordSuccess` pair
// with and without a fleet breaker (`redisFleet` over ioredis and a real redis-server started
// here on a random loopback port, synced every 250 ms on the event loop between samples), in
// interleaved rounds, in one process run.
//   node bench/fleet.js [--quick] [--write ../BENCHMARKS.md]
// Writes the section between `<!-- node-fleet:begin -->` and `<!-- node-fleet:end -->`.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Redis = require('ioredis');
const { CircuitBreaker, redisFleet } = require('..');

const REDIS = '/usr/bin/redis-server';
const BEGIN = '<!-- node-fleet:begin -->';
const END = '<!-- node-fleet:end -->';
const TARGET = 0.95;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function pairs(breaker, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) breaker.recordSuccess(breaker.allow());
  return Number(process.hrtime.bigint() - start) / n;
}

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const write = args.includes('--write') ? args[args.indexOf('--write') + 1] : undefined;
  const [calls, rounds] = quick ? [20_000, 11] : [200_000, 31];
  if (!fs.existsSync(REDIS)) throw new Error(`${REDIS} is missing: the fleet benchmark needs it (scripts/need-redis)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'circuit-fleet-bench-'));
  const pidfile = path.join(dir, 'redis.pid');
  const port = 20000 + Math.floor(Math.random() * 20000);
  execFileSync(REDIS, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', pidfile]);
  for (let i = 0; i < 100 && !fs.existsSync(pidfile); i++) await sleep(20);
  const pid = Number(fs.readFileSync(pidfile, 'utf8'));
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  let result;
  try {
    const fleet = redisFleet(client, { syncInterval: 250 });
    const local = new CircuitBreaker({ name: 'bench-local' });
    const fleeted = new CircuitBreaker({ name: 'bench-fleet', fleet });
    for (let i = 0; i < 500 && !(fleeted.fleetStatus()?.syncs > 0); i++) {
      fleeted.recordSuccess(fleeted.allow());
      await sleep(10);
    }
    if (!(fleeted.fleetStatus()?.syncs > 0)) throw new Error('the fleet never synced with redis-server');
    const candidates = { local, fleet: fleeted };
    const samples = { local: [], fleet: [] };
    for (const b of Object.values(candidates)) pairs(b, calls / 10);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['local', 'fleet'] : ['fleet', 'local'];
      for (const name of order) samples[name].push(pairs(candidates[name], calls));
      await sleep(1); // the fleet's sync runs on the event loop between samples
    }
    const syncs = fleeted.fleetStatus().syncs;
    fleet.close();
    const ratios = samples.local.map((l, i) => l / samples.fleet[i]);
    result = { local: median(samples.local), fleet: median(samples.fleet), value: median(ratios), syncs };
  } finally {
    client.disconnect();
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `allow + recordSuccess: local ${result.local.toFixed(1)} ns, with a fleet ${result.fleet.toFixed(1)} ns, ratio ${result.value.toFixed(3)} (syncs: ${result.syncs})`,
  );
  if (write) {
    const cpu = os.cpus()[0]?.model?.trim() ?? os.arch();
    const section = [
      BEGIN,
      '## Node: the fleet level on the call path (`bindings-node/bench/fleet.js`)',
      '',
      'Command: `make bench-node` (= `node bench/fleet.js --write ../BENCHMARKS.md`), against a `redis-server` on loopback started by the script, through ioredis.',
      `Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}. One run; ${rounds} interleaved rounds of ${calls.toLocaleString('en-US')} closed \`allow\` + \`recordSuccess\` pairs; ns/pair are medians, the ratio the median of per-round ratios. The fleet breaker syncs every 250 ms on the event loop between samples (${result.syncs} syncs).`,
      '',
      '| candidate | ns/pair |',
      '| --- | --- |',
      `| local breaker alone | ${result.local.toFixed(1)} |`,
      `| local + fleet breaker (\`redisFleet\`, \`onStoreFailure\` local) | ${result.fleet.toFixed(1)} |`,
      '',
      '| ratio (bigger is better) | value | target | met |',
      '| --- | --- | --- | --- |',
      `| closed-state pair: local ns / local + fleet ns (target: within 5%) | ${result.value.toFixed(3)} | ${TARGET} | ${result.value >= TARGET ? 'yes' : 'NO'} |`,
      END,
    ].join('\n');
    let text = fs.existsSync(write) ? fs.readFileSync(write, 'utf8') : '';
    const a = text.indexOf(BEGIN);
    const b = text.indexOf(END);
    text = a >= 0 && b >= 0 ? text.slice(0, a) + section + text.slice(b + END.length) : `${text.trimEnd()}\n\n${section}\n`;
    fs.writeFileSync(write, text);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
