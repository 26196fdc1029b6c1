'use strict';
// A child process of __test__/shared-family.test.js: opens the host region given as JSON in argv,
// makes the same family in it, records `failures` failures on the member of each key in
// `trip` and touches each key in `claim`, then prints what it saw as one JSON line and exits.

const { HostRegion, BreakerFamily } = require('..');

const { path, capacity, manualClock, options, trip = [], claim = [], failures = 0 } = JSON.parse(process.argv[2]);
const region = new HostRegion(path, { capacity, manualClock });
const family = new BreakerFamily({ ...options, region });
const events = [];
family.on('stateChange', (t) => events.push({ key: t.key, from: t.from, to: t.to, remote: t.remote }));
const seen = {};
for (const key of claim) seen[key] = family.inspect(key);
for (const key of trip) {
  const member = family.get(key);
  for (let i = 0; i < failures; i++) member.recordFailure(member.allow());
  seen[key] = { name: member.name, state: member.state };
}
process.stdout.write(`${JSON.stringify({ pid: process.pid, seen, events })}\n`);
