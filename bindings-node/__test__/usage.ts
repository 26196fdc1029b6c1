// A typed usage file: `tsc -p __test__/tsconfig.json` must accept it (strict mode). The
// `@ts-expect-error` lines must be rejected, so the declarations are not just `any`.
import { BreakerFamily, CircuitBreaker, CircuitOpenError, FamilyPermit, ManualClock, Permit, PermitError, TimeoutError } from 'circuit-core';
import { classifyError, classifyResponse, classifyStatus, parseRetryAfter } from 'circuit-core';
import { wrapFetch } from 'circuit-core/fetch';
import { interceptor } from 'circuit-core/undici';
import type { CircuitInterceptor } from 'circuit-core/undici';
import { attach } from 'circuit-core/axios';
import { register } from 'circuit-core/prometheus';
import type { Registration } from 'circuit-core/prometheus';
import { instrument } from 'circuit-core/opentelemetry';
import type { Instrumentation } from 'circuit-core/opentelemetry';
import { Registry } from 'prom-client';
import { metrics as otelMetrics } from '@opentelemetry/api';
import { StateError } from 'circuit-core';
import { HostRegion, RegionError } from 'circuit-core';
import type { HostRegionOptions, ProcessCounts, RegionErrorKind } from 'circuit-core';
import type { StateDocument, TransitionCount, TransitionReason } from 'circuit-core';
import type { HttpVerdict, MemberInfo, Outcome } from 'circuit-core';
import type { BreakerFamilyOptions, CallOptions, CircuitBreakerOptions, FamilyMetrics, FamilyTransition, Metrics, RecordFailureOptions, State, Transition } from 'circuit-core';

const clock = new ManualClock();
const advanced: number = clock.advance(10);
const now: number = clock.now();

const options: CircuitBreakerOptions = {
  name: 'typed',
  failureThreshold: 3,
  failureRateThreshold: 0.5,
  slowCallDuration: 100,
  slowCallRateThreshold: 0.8,
  minimumCalls: 10,
  windowDuration: 1000,
  windowBuckets: 10,
  resetTimeout: 1000,
  backoffMultiplier: 2,
  maxResetTimeout: 60_000,
  jitter: 0.1,
  jitterSeed: 42n,
  halfOpenMaxCalls: 2,
  successThreshold: 1,
  halfOpenMaxWait: 5000,
  timeout: 250,
  isFailure: (err: unknown) => !(err instanceof RangeError),
  fallback: (_sku: string, err: CircuitOpenError) => `cached (${err.reason})`,
  clock,
};
const breaker = new CircuitBreaker(options);
new CircuitBreaker();

// @ts-expect-error: durations are numbers
new CircuitBreaker({ resetTimeout: '1s' });
// @ts-expect-error: unknown option
new CircuitBreaker({ failureTreshold: 3 });
// @ts-expect-error: the clock must be a ManualClock
new CircuitBreaker({ clock: Date });

const state: State = breaker.state;
// @ts-expect-error: state is read-only
breaker.state = 'open';
// @ts-expect-error: not a state
const wrongState: State = 'half-open';

async function getStock(sku: string, count: number): Promise<{ sku: string; count: number }> {
  return { sku, count };
}
async function fetchUser(id: number, { signal }: CallOptions): Promise<{ id: number; aborted: boolean }> {
  return { id, aborted: signal.aborted };
}

async function main(): Promise<void> {
  const stock: { sku: string; count: number } = await breaker.execute(getStock, 'apple', 3);
  // @ts-expect-error: wrong argument type
  await breaker.execute(getStock, 'apple', '3');
  // @ts-expect-error: missing argument
  await breaker.execute(getStock, 'apple');

  const sync: number = await breaker.execute((a: number, b: number) => a + b, 1, 2);
  const user: { id: number; aborted: boolean } = await breaker.execute(fetchUser, 7);

  const direct: number = breaker.executeSync((x: number) => x * 2, 21);
  // @ts-expect-error: the result is a number
  const directWrong: string = breaker.executeSync((x: number) => x * 2, 21);

  const wrapped: (sku: string, count: number) => Promise<{ sku: string; count: number }> = breaker.wrap(getStock);
  const wrappedUser: (id: number) => Promise<{ id: number; aborted: boolean }> = breaker.wrap(fetchUser);
  await wrapped('pear', 1);
  await wrappedUser(1);
  // @ts-expect-error: wrong parameter type
  await wrapped(1, 1);

  const permit: Permit = breaker.allow();
  const generation: number = permit.generation;
  const probe: boolean = permit.isProbe;
  const fleetProbe: boolean = permit.isFleetProbe;
  const admittedAt: number | undefined = permit.admittedAt;
  const counted: boolean = breaker.recordSuccess(permit) || breaker.recordFailure(permit) || breaker.recordIgnored(permit);
  const retried: boolean = breaker.recordFailure(breaker.allow(), { retryAfter: 30_000 });
  const noRetryTime: RecordFailureOptions = {};
  breaker.recordFailure(breaker.allow(), noRetryTime);
  // @ts-expect-error: retryAfter is a number of milliseconds
  breaker.recordFailure(breaker.allow(), { retryAfter: '30s' });
  // @ts-expect-error: permits are issued by allow()
  new Permit();

  const m: Metrics = breaker.metrics();
  const rate: number = m.failureRate + m.slowRate + m.consecutiveFailures + m.windowCalls + m.timeInState;
  const retryAfter: number | undefined = m.retryAfter;
  breaker.reset();
  breaker.forceOpen();
  breaker.disable();
  const next: number | undefined = breaker.nextTransitionAt();

  breaker.on('stateChange', (t: Transition) => {
    const from: State = t.from;
    const reason: string = t.reason;
    const at: number = t.at;
    void [from, reason, at];
  });
  breaker.on('open', (t) => void t.to);
  breaker.once('reject', (err) => {
    const code: 'ECIRCUITOPEN' = err.code;
    const after: number | undefined = err.retryAfter;
    void [code, after];
  });
  breaker.on('timeout', (err) => void err.timeout);
  breaker.on('success', (result) => void result);
  breaker.on('failure', (error) => void error);
  // @ts-expect-error: a stateChange listener receives a Transition
  breaker.on('stateChange', (t: number) => void t);

  try {
    await breaker.execute(getStock, 'x', 1);
  } catch (err) {
    if (err instanceof CircuitOpenError) {
      const reason: 'open' | 'half_open_full' | 'forced_open' = err.reason;
      const name: string | undefined = err.breakerName;
      void [reason, name, err.state, err.code, err.retryAfter];
    } else if (err instanceof TimeoutError) {
      const code: 'ETIMEDOUT' = err.code;
      void code;
    } else if (err instanceof PermitError) {
      void err.code;
    }
  }
  void [advanced, now, state, wrongState, stock, sync, user, direct, directWrong, generation, probe, fleetProbe, admittedAt, counted, rate, retryAfter, next];
}

void main;

// Families: the breaker options plus maxKeys and idleTtl; get() gives a CircuitBreaker.
const familyOptions: BreakerFamilyOptions = { name: 'hosts', maxKeys: 100, idleTtl: 60_000, failureThreshold: 2, clock };
const hosts = new BreakerFamily(familyOptions);
const member: CircuitBreaker = hosts.get('a.example:443');
const overflow: CircuitBreaker = hosts.overflow;
const familySize: number = hosts.size;
const familyKeys: string[] = hosts.keys();
const present: boolean = hosts.has('a.example:443');
const familyMetrics: FamilyMetrics = hosts.metrics();
const memberMetrics: Metrics | undefined = familyMetrics.members['a.example:443'];
const counts: number = familyMetrics.evicted + familyMetrics.overflowed;
hosts.on('stateChange', (t: FamilyTransition) => {
  const key: string | null = t.key;
  const to: State = t.to;
  void [key, to];
});
// @ts-expect-error: maxKeys is a number
void new BreakerFamily({ maxKeys: '10' });
// @ts-expect-error: get takes a string key
hosts.get(42);
void [member, overflow, familySize, familyKeys, present, memberMetrics, counts, familyMetrics.overflow.state];

// The family's call-scoped API.
const familyPermit: FamilyPermit = hosts.allow('b.example:443');
const permitKey: string = familyPermit.key;
const familyCounted: boolean = hosts.recordFailure(familyPermit, { retryAfter: 30_000 });
hosts.recordSuccess(hosts.allow('c'));
hosts.recordIgnored(hosts.allow('c'));
const memberInfo: MemberInfo = hosts.inspect('b.example:443');
const memberState: State = memberInfo.state;
const executed: Promise<number> = hosts.execute('c', async (a: number, b: number) => a + b, 1, 2);
// @ts-expect-error: the arguments must match fn's parameters
void hosts.execute('c', async (a: number) => a, 'one');
// @ts-expect-error: FamilyPermit objects come from family.allow()
void new FamilyPermit();
void [permitKey, familyCounted, memberState, executed, familyPermit.overflow, familyPermit.isProbe];

// The HTTP classifier.
const statusOutcome: Outcome = classifyStatus(503);
const errorOutcome: Outcome = classifyError('connect');
const verdict: HttpVerdict = classifyResponse(429, '30', Date.now());
const verdictAfter: number | null = verdict.retryAfter;
const parsed: number | null = parseRetryAfter('120');
// @ts-expect-error: not an error kind
classifyError('refused');
void [statusOutcome, errorOutcome, verdictAfter, parsed];

// The HTTP integrations.
const guardedFetch: typeof fetch = wrapFetch(fetch, {
  failureThreshold: 5,
  maxKeys: 100,
  timeout: 2_000,
  fallback: (request: Request, err: CircuitOpenError) => new Response(`${request.url} ${err.key ?? ''}`),
  isFailure: ({ status }) => (status === 404 ? true : undefined),
});
const sharedFetch = wrapFetch(fetch, { family: hosts });
// @ts-expect-error: `family` or the options of a new one, not both
wrapFetch(fetch, { family: hosts, maxKeys: 3 });
const undiciInterceptor: CircuitInterceptor = interceptor({ failureThreshold: 2 });
const axiosLike = attach({ defaults: {} }, { failureThreshold: 2, fallback: (config: unknown, err: CircuitOpenError) => ({ config, err }) });
void [guardedFetch, sharedFetch, undiciInterceptor, axiosLike];

// Observability: transition counts, the exporters, the state document.
const counted: TransitionCount[] = new CircuitBreaker().metrics().transitions;
const firstReason: TransitionReason | undefined = counted[0]?.reason;
const registration: Registration = register(hosts, { registry: new Registry() });
registration.unregister();
register(new CircuitBreaker({ name: 'global' }));
const instrumentation: Instrumentation = instrument(otelMetrics.getMeter('circuit'), new CircuitBreaker());
instrumentation.unregister();
// @ts-expect-error: a breaker or a family
register({ name: 'x' });
const saved: StateDocument = new CircuitBreaker({ name: 'saved' }).toJSON();
const savedAt: StateDocument = new CircuitBreaker().exportState(Date.now());
const jitterState: string = saved.jitter_state;
const restored = new CircuitBreaker({ name: 'saved', state: saved, stateAt: new Date() });
const restoredFromText = new CircuitBreaker({ name: 'saved', state: JSON.stringify(saved) });
new CircuitBreaker().importState(savedAt, 0);
// @ts-expect-error: a family restores nothing
void new BreakerFamily({ state: saved });
// @ts-expect-error: a document is an object or a string
void new CircuitBreaker({ state: 42 });
try {
  void new CircuitBreaker({ state: '{}' });
} catch (err) {
  if (err instanceof StateError) {
    const code: 'ESTATEINVALID' = err.code;
    const field: string | undefined = err.field;
    void [code, field];
  }
}
void [firstReason, jitterState, restored, restoredFromText];

// Host-shared breakers (type-checked only: never run).
const regionOptions: HostRegionOptions = { capacity: 16, manualClock: false };
const hostRegion = new HostRegion('/dev/shm/typed.circuit', regionOptions);
const regionPath: string = hostRegion.path;
const regionCapacity: number = hostRegion.capacity;
const regionManual: boolean = hostRegion.manualClock;
const regionNow: number = hostRegion.advance(5) + hostRegion.now();
const sharedBreaker = new CircuitBreaker({ name: 'typed-shared', failureThreshold: 5, region: hostRegion });
sharedBreaker.on('stateChange', (t) => {
  const remote: boolean = t.remote;
  const generation: number = t.generation;
  void [remote, generation];
});
const ownCounts: ProcessCounts | null = sharedBreaker.processCounts();
if (ownCounts !== null) {
  const ownFailures: number = ownCounts.failures + ownCounts.rejectedOpen;
  void ownFailures;
}
// @ts-expect-error: a region is a HostRegion
void new CircuitBreaker({ name: 'x', region: '/dev/shm/x' });
const sharedFamily = new BreakerFamily({ name: 'f', maxKeys: 100, region: hostRegion });
sharedFamily.on('stateChange', (t) => {
  const heard: [string | null, boolean, number] = [t.key, t.remote, t.generation];
  void heard;
});
// @ts-expect-error: a family's region is a HostRegion
void new BreakerFamily({ name: 'f', region: '/dev/shm/f' });
// @ts-expect-error: capacity is a number
void new HostRegion('/dev/shm/x', { capacity: '8' });
try {
  void new HostRegion('/dev/shm/typed.circuit');
} catch (err) {
  if (err instanceof RegionError) {
    const code: 'ECIRCUITREGION' = err.code;
    const kind: RegionErrorKind = err.kind;
    const differing: string[] | undefined = err.options;
    const where: string = err.path;
    void [code, kind, differing, where];
  }
}
void [regionPath, regionCapacity, regionManual, regionNow];

// Fleet breakers over Redis.
import { RedisFleet, redisFleet, FLEET_SCRIPT, FLEET_SCRIPT_SHA1 } from 'circuit-core';
import type { FleetEvent, FleetStatus, RedisFleetOptions } from 'circuit-core';
{
  const fleetOptions: RedisFleetOptions = { syncInterval: 250, onStoreFailure: 'open', failureRateThreshold: null, slowCallRateThreshold: 0.5 };
  const fleet: RedisFleet = redisFleet({ evalsha() {}, eval() {} }, { ...fleetOptions, onEvent: (e: FleetEvent) => void e.kind });
  fleet.on('event', (event: FleetEvent) => {
    const epoch: number | undefined = event.epoch;
    void epoch;
  });
  const breaker = new CircuitBreaker({ name: 'payments', fleet });
  const status: FleetStatus | undefined = breaker.fleetStatus();
  const same: RedisFleet | undefined = breaker.fleet;
  const names: string[] = fleet.names;
  breaker.execute(() => 1).catch((err: unknown) => {
    if (err instanceof CircuitOpenError) {
      const byFleet: boolean = err.fleet;
      void byFleet;
    }
  });
  void [status, same, names, fleet.status('payments'), FLEET_SCRIPT.length, FLEET_SCRIPT_SHA1.length];
  fleet.close();
}
