// Type declarations of the `circuit-core` package (hand-written; checked by `tsc --noEmit` against
// `__test__/usage.ts`). Durations are milliseconds.

import { EventEmitter } from 'node:events';

/** The states of a breaker, spelled as in every circuit binding. */
export type State = 'closed' | 'open' | 'half_open' | 'forced_open' | 'disabled';

/** Why `allow` refused a call. */
export type RejectReason = 'open' | 'half_open_full' | 'forced_open';

/** Why a transition happened. */
export type TransitionReason =
  | 'failure_threshold'
  | 'failure_rate'
  | 'slow_call_rate'
  | 'open_elapsed'
  | 'probe_failure'
  | 'half_open_max_wait'
  | 'probe_success'
  | 'reset'
  | 'force_open'
  | 'disable';

/** A state change, as emitted with 'stateChange' (and 'open', 'halfOpen', 'close'). */
export interface Transition {
  readonly from: State;
  readonly to: State;
  readonly reason: TransitionReason;
  /** When, in ms on the breaker's clock (for a lazy transition: the instant it became due). */
  readonly at: number;
  /** Whether another process made it (a breaker in a `HostRegion`; delivered at this process's
   * next operation on the breaker); always `false` for a breaker of one process. */
  readonly remote: boolean;
  /** The generation the transition started (every transition starts one). */
  readonly generation: number;
}

/** The last argument of every call made by a breaker configured with `timeout`. */
export interface CallOptions {
  /** This call's own signal, aborted with a `TimeoutError` if the call times out. */
  readonly signal: AbortSignal;
}

/** The options of `recordFailure(permit, options)`. */
export interface RecordFailureOptions {
  /** The dependency's own retry time in ms (an HTTP `Retry-After`); `undefined` or 0: none. */
  retryAfter?: number | undefined;
}

export interface CircuitBreakerOptions {
  /** Carried by rejections and errors. */
  name?: string;
  /** Consecutive failures that trip the breaker; 0 turns the rule off. Default 5 (0 when a rate rule is set). */
  failureThreshold?: number;
  /** Trip when failures / calls in the window >= this, in (0, 1]. Default: off. */
  failureRateThreshold?: number;
  /** A call that took strictly longer than this (ms) is slow. Default: off. */
  slowCallDuration?: number;
  /** Trip when slow calls / calls in the window >= this, in (0, 1]; needs `slowCallDuration`. */
  slowCallRateThreshold?: number;
  /** Outcomes the window needs before a rate rule may trip. Default 20 (at most `windowSize`). */
  minimumCalls?: number;
  /** Count window: the last `windowSize` outcomes. Default 100. */
  windowSize?: number;
  /** Time window over this many ms (instead of a count window). */
  windowDuration?: number;
  /** Buckets of the time window. Default 10. */
  windowBuckets?: number;
  /** First open duration, ms. Default 30000. */
  resetTimeout?: number;
  /** Open-duration growth per re-opening from half-open, >= 1. Default 1. */
  backoffMultiplier?: number;
  /** Cap of the open duration, ms. Default max(resetTimeout, 300000). */
  maxResetTimeout?: number;
  /** Random reduction of each open duration, in [0, 1). Default 0. */
  jitter?: number;
  /**
   * Seed of the jitter sequence, for reproducible runs: a whole number in [0, 2^64 - 1] (a bigint
   * above 2^53 - 1); anything else throws a `RangeError`. Default: random per breaker.
   */
  jitterSeed?: number | bigint;
  /** Probes admitted per half-open period, 1..10000. Default 1. */
  halfOpenMaxCalls?: number;
  /** Probe successes that close the breaker, in 1..halfOpenMaxCalls. Default halfOpenMaxCalls. */
  successThreshold?: number;
  /** Re-open if the first probe gets no verdict within this many ms; 0 = off. Default: the open
   * duration that preceded half-open, at least 30 s, while a probe is out, so a probe that never
   * settles cannot wedge the breaker. */
  halfOpenMaxWait?: number;
  /**
   * Per-call timeout (ms) for `execute`/`wrap`: the call receives `{ signal }` as its last
   * argument, is aborted, recorded as a failure and rejected with a `TimeoutError` when it runs
   * longer. Default: none.
   */
  timeout?: number;
  /**
   * Decides whether a thrown value counts as a failure (`true`) or is ignored (`false`).
   * Default: every thrown value is a failure, except an `AbortError` caused by an explicit abort
   * (`controller.abort()`) of an `AbortSignal` the caller passed among the arguments (directly or
   * as `{ signal }`). A timeout is a failure: a signal aborted with a `TimeoutError`
   * (`AbortSignal.timeout(ms)`), or an error named `TimeoutError` (what `fetch` rejects with then).
   */
  isFailure?: (error: unknown) => boolean;
  /** Called with the call's arguments plus the `CircuitOpenError` when the breaker rejects a call; its result is returned instead. */
  fallback?: (...args: any[]) => unknown;
  /** A `ManualClock` to run on (tests); default: the monotonic clock. */
  clock?: ManualClock;
  /**
   * A state document to restore (`breaker.toJSON()`, `exportState()`, or its JSON text, written by
   * any circuit binding): the new breaker takes it on before anything can use it. A refused
   * document throws a `StateError` (`code: 'ESTATEINVALID'`, `field`) and creates nothing.
   */
  state?: StateDocument | string;
  /** The wall-clock instant of the restore (ms since the epoch, or a `Date`), which measures the
   * time passed since the export; default `Date.now()`. For tests; only with `state`. */
  stateAt?: number | Date;
  /**
   * A `HostRegion`: the breaker is the region's breaker of its `name` (required), one breaker
   * shared by every process that opens the region (docs/node.md, "Host-shared breakers"). It runs
   * on the region's clock, so `clock` and `state` cannot be combined with it. A refusal (a breaker
   * of that name with other options, a full region, no name) throws a `RegionError`.
   */
  region?: HostRegion;
  /**
   * A `RedisFleet` (`redisFleet(client, options)`): a call runs only if this breaker and the
   * fleet breaker of its `name` (required) both admit it; a fleet refusal is a
   * `CircuitOpenError` with `fleet: true`.
   */
  fleet?: RedisFleet;
}

/** A metrics snapshot; durations in ms. */
export interface Metrics {
  state: State;
  /** Starts at 0, +1 per transition. */
  generation: number;
  consecutiveFailures: number;
  windowCalls: number;
  windowFailures: number;
  windowSlow: number;
  failureRate: number;
  slowRate: number;
  admitted: number;
  /** The sum of the three below. */
  rejected: number;
  rejectedOpen: number;
  rejectedHalfOpenFull: number;
  rejectedForcedOpen: number;
  successes: number;
  failures: number;
  ignored: number;
  slow: number;
  stale: number;
  opened: number;
  /** Time since the current state was entered. */
  timeInState: number;
  /** Time until a probe may be admitted, when open. */
  retryAfter: number | undefined;
  /** The lifetime transition counts, one entry per (from, to, reason) that happened (not a
   * scalar of the core's schema). */
  transitions: TransitionCount[];
}

/** How many times one transition happened over the breaker's lifetime. */
export interface TransitionCount {
  readonly from: State;
  readonly to: State;
  readonly reason: TransitionReason;
  readonly count: number;
}

/** The portable state document (docs/observability.md, "State documents"): JSON written and read
 * by every circuit binding. Durations are ms; `jitter_state` is a string (a 64-bit value). */
export interface StateDocument {
  format: 'circuit-breaker-state';
  version: number;
  name: string | null;
  config_fingerprint: string;
  exported_at_unix_ms: number;
  state: State;
  generation: number;
  backoff_attempt: number;
  open_remaining_ms: number | null;
  open_duration_ms: number;
  probe_successes: number;
  consecutive_failures: number;
  time_in_state_ms: number;
  window:
    | { kind: 'count'; outcomes: string }
    | { kind: 'time'; bucket_ms: number; head_age_ms: number; buckets: [number, number, number][] }
    | null;
  totals: {
    admitted: number;
    rejected_open: number;
    rejected_half_open_full: number;
    rejected_forced_open: number;
    successes: number;
    failures: number;
    ignored: number;
    slow: number;
    stale: number;
    opened: number;
  };
  transitions: TransitionCount[];
  jitter_state: string;
}

/** What went wrong with a host region (`RegionError.kind`). */
export type RegionErrorKind =
  | 'io'
  | 'not_found'
  | 'symlink'
  | 'not_regular_file'
  | 'truncated'
  | 'size_mismatch'
  | 'foreign'
  | 'newer_version'
  | 'unknown_version'
  | 'not_ready'
  | 'bad_header'
  | 'bad_record'
  | 'invalid_options'
  | 'layout_mismatch'
  | 'clock_mismatch'
  | 'invalid_name'
  | 'invalid_options_text'
  | 'full'
  | 'options_mismatch'
  | 'lock_not_recoverable'
  | 'lock'
  | 'clock_not_manual'
  | 'unnamed'
  | 'breaker'
  | 'unsupported'
  | 'other';

/** A host region could not be opened or used; the message names the path and the problem. */
export class RegionError extends Error {
  readonly name: 'RegionError';
  readonly code: 'ECIRCUITREGION';
  readonly kind: RegionErrorKind;
  /** The region's path. */
  readonly path: string;
  /** For `options_mismatch`: the differing options (camelCase; `window` for the window). */
  readonly options: string[] | undefined;
  constructor(kind: RegionErrorKind, message: string, path: string, options?: string[]);
}

/** The options of `new HostRegion(path, options)`. */
export interface HostRegionOptions {
  /** Breaker records, fixed when the file is created (1..65536). Default 64. */
  capacity?: number | undefined;
  /** A manual clock (tests and simulations; `advance` moves it for every process) instead of the
   * host's monotonic clock. Fixed when the file is created. Default `false`. */
  manualClock?: boolean | undefined;
}

/**
 * A file (typically under `/dev/shm`) mapped by every process on the host that opens the same
 * path: breakers created with `{ name, region }` and the same name are one breaker across those
 * processes. Created (mode 0600) if missing; an existing file is validated, and a bad one throws a
 * `RegionError`. Linux only.
 */
export class HostRegion {
  constructor(path: string, options?: HostRegionOptions);
  /** The path the region was opened at. */
  readonly path: string;
  /** The number of breaker records (fixed at creation). */
  readonly capacity: number;
  /** Whether the region runs on a manual clock. */
  readonly manualClock: boolean;
  /** Moves a manual clock forward by `ms` (>= 0) for every process; returns the new instant.
   * Throws a `RegionError` (`kind: 'clock_not_manual'`) for a host-clock region. */
  advance(ms: number): number;
  /** The current instant of the region's clock, ms. */
  now(): number;
}

/** `breaker.processCounts()`: this breaker object's own counts. */
export interface ProcessCounts {
  readonly admitted: number;
  readonly rejectedOpen: number;
  readonly successes: number;
  readonly failures: number;
  readonly ignored: number;
  readonly slow: number;
  readonly stale: number;
}

/** A state document was refused; nothing was created or changed. */
export class StateError extends Error {
  readonly name: 'StateError';
  readonly code: 'ESTATEINVALID';
  /** The document field at fault (a dotted path such as `window.buckets`), or `undefined` when
   * the whole document is (not JSON, not an object, too long). */
  readonly field: string | undefined;
  constructor(field: string | undefined, message: string);
}

/** Thrown (or used to reject) when the breaker refuses a call. `err.name === 'CircuitOpenError'`. */
export class CircuitOpenError extends Error {
  readonly name: 'CircuitOpenError';
  readonly code: 'ECIRCUITOPEN';
  /** The breaker's `name` option, if it has one. */
  readonly breakerName: string | undefined;
  readonly state: 'open' | 'half_open' | 'forced_open';
  readonly reason: RejectReason;
  /** Ms until a probe may be admitted (`reason === 'open'`), otherwise `undefined`. */
  readonly retryAfter: number | undefined;
  /** The key asked for, when a family's call-scoped API (`family.allow`, `family.execute`, the
   * HTTP integrations: the origin) refused the call; otherwise `undefined`. */
  readonly key?: string | undefined;
  /** Whether the fleet breaker refused the call (the local breaker had admitted it; `fleet`). */
  readonly fleet: boolean;
  constructor(breakerName: string | undefined, state: CircuitOpenError['state'], reason: RejectReason, retryAfter?: number, fleet?: boolean);
}

/** The options of `redisFleet(client, options)` (docs/fleet.md; durations in ms). Every instance
 * of a breaker name must use the same ones (else a 'mismatch' event). */
export interface RedisFleetOptions {
  /** How often each breaker syncs, ms (and at once on a would-trip or a verdict); the response
   * timeout of a round trip is max(syncInterval, 50). Default 250. */
  syncInterval?: number;
  /** What decides once the last successful sync is older than `maxStaleness`. Default 'local'. */
  onStoreFailure?: 'local' | 'open' | 'closed';
  /** The window the fleet's rates are measured over, ms. Default 10000. */
  window?: number;
  /** Buckets of the window. Default 10. */
  buckets?: number;
  /** Calls the window must hold, fleet-wide, before a rate can trip it. Default 20. */
  minimumCalls?: number;
  /** Fleet failure rate that opens it, in (0, 1]; `null`: no failure rule. Default 0.5. */
  failureRateThreshold?: number | null;
  /** Fleet slow-call rate that opens it (the local breaker's `slowCallDuration` classifies). Default none. */
  slowCallRateThreshold?: number | null;
  /** First open duration, ms. Default 30000. */
  resetTimeout?: number;
  /** Growth of the open duration per re-opening. Default 2. */
  backoffMultiplier?: number;
  /** Cap of the open duration, ms. Default 300000. */
  maxResetTimeout?: number;
  /** Probes admitted fleet-wide per half-open epoch. Default 1. */
  halfOpenMaxCalls?: number;
  /** Probe successes that close it. Default 1. */
  successThreshold?: number;
  /** How long a probe may take before its slot is given back, ms. Default 10000. */
  probeLease?: number;
  /** Staleness of the last sync beyond which `onStoreFailure` decides, ms. Default 2000. */
  maxStaleness?: number;
  /** Expiry of an abandoned breaker's key in the store, ms. Default 86400000. */
  keyExpiry?: number;
  /** Called with every fleet event (as the 'event' listeners). */
  onEvent?: (event: FleetEvent) => void;
  /** How long a fleet breaker no breaker holds may stay idle (closed, nothing to send, no probe)
   * before it is forgotten, ms (it rejoins the store's state when used again). Default 600000. */
  idleTtl?: number;
}

/** Something a sync learned about a fleet breaker. */
export interface FleetEvent {
  readonly name: string;
  readonly kind: 'transition' | 'store_degraded' | 'store_recovered' | 'mismatch';
  /** For a transition: the states left and entered, and the store's epoch after it. */
  readonly from: 'closed' | 'open' | 'half_open' | undefined;
  readonly to: 'closed' | 'open' | 'half_open' | undefined;
  readonly epoch: number | undefined;
  /** For a mismatch: the fingerprint of the options stored. */
  readonly stored: string | undefined;
}

/** The fleet level of a breaker. */
export interface FleetStatus {
  readonly state: 'closed' | 'open' | 'half_open';
  readonly epoch: number;
  readonly degraded: boolean;
  /** Ms since the last successful sync, or `null` before the first. */
  readonly staleness: number | null;
  readonly syncs: number;
  readonly syncFailures: number;
}

/** The fleet breakers of one service over one Redis (ioredis or node-redis client): one sync loop
 * on an unref'ed timer for every breaker attached with `{ name, fleet }` and every member of a
 * family made with `{ name, fleet }`. A fleet breaker no breaker holds that stayed idle for 10
 * minutes is forgotten (it rejoins the store's state when used again). */
export class RedisFleet extends EventEmitter {
  constructor(client: object, options?: RedisFleetOptions);
  /** The names of the fleet breakers in use (breakers attached, family members `<name>/<key>`). */
  readonly names: string[];
  /** The fleet level of the fleet breaker `name`, or `undefined` if none is in use. */
  status(name: string): FleetStatus | undefined;
  /** Stops the sync loop (idempotent); the client is the caller's to close. */
  close(): void;
  on(event: 'event', listener: (event: FleetEvent) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** `new RedisFleet(client, options)`: `client` is an ioredis or node-redis (v4+) client. */
export function redisFleet(client: object, options?: RedisFleetOptions): RedisFleet;

/** The fleet script (Lua) and its SHA-1 (hex). */
export const FLEET_SCRIPT: string;
export const FLEET_SCRIPT_SHA1: string;

/** Rejects a call that ran longer than the breaker's `timeout`. */
export class TimeoutError extends Error {
  readonly name: 'TimeoutError';
  readonly code: 'ETIMEDOUT';
  readonly breakerName: string | undefined;
  /** The timeout, ms. */
  readonly timeout: number;
  constructor(breakerName: string | undefined, timeout: number);
}

/** A permit was recorded twice or handed to a breaker that did not issue it. */
export class PermitError extends Error {
  readonly name: 'PermitError';
  readonly code: 'EALREADYRECORDED' | 'EFOREIGNPERMIT';
  constructor(code: 'EALREADYRECORDED' | 'EFOREIGNPERMIT', message: string);
}

/** A clock that moves only when told to, starting at 0 ms; share one between many breakers. */
export class ManualClock {
  constructor();
  /** Moves the clock forward by `ms` (>= 0) and returns the new instant. */
  advance(ms: number): number;
  /** The current instant, ms. */
  now(): number;
}

/** An admitted call of the two-step API; record it exactly once. */
export class Permit {
  private constructor();
  /** The breaker generation the permit was admitted in. */
  readonly generation: number;
  /** Whether this permit is a half-open probe (of the local breaker or of the fleet). */
  readonly isProbe: boolean;
  /** Whether this permit holds the fleet's probe lease (a breaker with `fleet`); `isProbe` is true too. */
  readonly isFleetProbe: boolean;
  /** Admission instant on the breaker's clock (ms), when the clock was read. */
  readonly admittedAt: number | undefined;
  /** Whether an outcome was recorded with this permit. */
  readonly recorded: boolean;
}

/** The events of a breaker and their argument. */
export interface CircuitBreakerEvents {
  stateChange: [transition: Transition];
  open: [transition: Transition];
  halfOpen: [transition: Transition];
  close: [transition: Transition];
  reject: [error: CircuitOpenError];
  success: [result: unknown];
  failure: [error: unknown];
  timeout: [error: TimeoutError];
}

type Listener<E extends keyof CircuitBreakerEvents> = (...args: CircuitBreakerEvents[E]) => void;

export class CircuitBreaker extends EventEmitter {
  /** Throws a `TypeError` (wrong type, unknown option) or a `RangeError` (invalid value) naming the option. */
  constructor(options?: CircuitBreakerOptions);
  /** The `RedisFleet` the calls also go through, or `undefined`. */
  readonly fleet: RedisFleet | undefined;
  /** The fleet level's state, or `undefined` for a breaker without a fleet. */
  fleetStatus(): FleetStatus | undefined;

  /** The breaker's name, or `undefined`. */
  readonly name: string | undefined;
  /** The current state (due time-driven transitions applied first). */
  readonly state: State;

  /**
   * Runs `fn(...args)` if admitted (with `timeout`: `fn(...args, { signal })`) and records the
   * outcome. Resolves with its result; rejects with its error, a `CircuitOpenError` (unless a
   * `fallback` is set) or a `TimeoutError`.
   */
  execute<A extends unknown[], R>(fn: (...args: [...A, CallOptions]) => R | PromiseLike<R>, ...args: A): Promise<R>;
  execute<A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<R>;

  /** Runs synchronous `fn(...args)` if admitted, records the outcome and returns its result (`timeout` does not apply). */
  executeSync<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): R;

  /** A function with `fn`'s parameters (minus the trailing `CallOptions`) that runs `fn` through `execute`. */
  wrap<A extends unknown[], R>(fn: (...args: [...A, CallOptions]) => R | PromiseLike<R>): (...args: A) => Promise<R>;
  wrap<A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>): (...args: A) => Promise<R>;

  /** Asks to make a call: a `Permit`, or throws `CircuitOpenError`. */
  allow(): Permit;
  /** Records a success: `true` if it counted, `false` if the permit was stale. Throws `PermitError` if recorded before. */
  recordSuccess(permit: Permit): boolean;
  /**
   * Records a failure: `true` if it counted, `false` if the permit was stale. `retryAfter` (ms) is
   * the dependency's own retry time (an HTTP `Retry-After`): if this failure opens the breaker, it
   * stays open at least that long, capped by `maxResetTimeout`; `undefined` or 0 is an ordinary
   * failure, a negative or NaN value throws `RangeError`.
   */
  recordFailure(permit: Permit, options?: RecordFailureOptions): boolean;
  /** Records a neutral outcome (a probe's slot is returned): `true` if current, `false` if stale. */
  recordIgnored(permit: Permit): boolean;

  /** To `closed` from any state: new generation, empty window, backoff reset. */
  reset(): void;
  /** To `forced_open`: rejects everything until `reset()` or `disable()`. */
  forceOpen(): void;
  /** To `disabled`: admits everything, only counts, until `reset()` or `forceOpen()`. */
  disable(): void;
  /** A metrics snapshot (for a breaker in a host region: region-wide). */
  metrics(): Metrics;
  /** This object's own counts: for a breaker in a host region, this process's (`metrics()` is
   * region-wide); otherwise the same counts as `metrics()`. `null` when it has none of its own. */
  processCounts(): ProcessCounts | null;
  /** When the next time-driven transition is due (ms on the breaker's clock), if one is scheduled. */
  nextTransitionAt(): number | undefined;
  /** The state document, exported at the wall-clock instant `at` (ms since the epoch or a
   * `Date`; default `Date.now()`). Outstanding probes are not part of the state. */
  exportState(at?: number | Date): StateDocument;
  /** `exportState()`: `JSON.stringify(breaker)` writes the state document. */
  toJSON(): StateDocument;
  /** Takes on a state document, imported at the wall-clock instant `at` (default `Date.now()`).
   * Only a breaker not used yet imports (prefer the `state` option); throws `StateError`
   * (nothing changes then). */
  importState(document: StateDocument | string, at?: number | Date): void;
  /** The current instant on the breaker's clock, ms. */
  now(): number;

  on<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
  once<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
  addListener<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
  prependListener<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
  prependOnceListener<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
  off<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
  removeListener<E extends keyof CircuitBreakerEvents>(event: E, listener: Listener<E>): this;
}

/** The options of `new BreakerFamily(...)`: the family's own, plus the options of every member. */
export interface BreakerFamilyOptions extends Omit<CircuitBreakerOptions, 'state' | 'stateAt' | 'region' | 'fleet'> {
  /**
   * A `RedisFleet`: every member `<name>/<key>` (and the overflow breaker `<name>/(overflow)`)
   * also goes through the fleet breaker of its own name, made on demand; a fleet refusal is a
   * `CircuitOpenError` with `fleet: true` and the member's `key`. The family needs a `name`.
   */
  fleet?: RedisFleet;
  /** Most members at once (default 1024; a whole number >= 1). */
  maxKeys?: number | undefined;
  /** Ms without a `get` after which an unpinned member is evicted (default 600000, 10 min; >= 0), on the family's clock. */
  idleTtl?: number | undefined;
  /**
   * A `HostRegion`: every member `<name>/<key>` and the overflow breaker `<name>/(overflow)` are
   * the region's breakers, one breaker per key across every process that opens the region
   * (docs/node.md, "Host-shared breakers"). The family needs a `name`, runs on the region's clock
   * (so `clock` cannot be combined with it), and answers new keys with the overflow breaker once
   * the region is full. Unnamed: a `RegionError`; the region refusing the overflow breaker (full,
   * other options): a `RangeError` with `option: 'region'` and the region's message.
   */
  region?: HostRegion;
}

/** A member's transition, as the family emits it with 'stateChange'. */
export interface FamilyTransition extends Transition {
  /** The member's key; `null` for the overflow breaker. */
  readonly key: string | null;
}

/** `family.metrics()`: every member's snapshot and the family's counts. */
export interface FamilyMetrics {
  /** Each member's snapshot, by key (an object without a prototype). */
  members: Record<string, Metrics>;
  /** The overflow breaker's snapshot. */
  overflow: Metrics;
  /** Members evicted so far (idle, or to make room). */
  evicted: number;
  /** `get` calls answered with the overflow breaker. */
  overflowed: number;
}

/** `family.inspect(key)`. */
export interface MemberInfo {
  /** `<name>/<key>` (`<key>` without a family name; `<name>/(overflow)` for the overflow breaker). */
  readonly name: string | undefined;
  readonly state: State;
  /** Whether the family answered with its overflow breaker. */
  readonly overflow: boolean;
}

/** An admitted call of `family.allow(key)`; record it once with the family's `record*`. */
export class FamilyPermit {
  private constructor();
  /** The key the permit was asked for. */
  readonly key: string;
  /** Whether the family answered with its overflow breaker. */
  readonly overflow: boolean;
  readonly generation: number;
  readonly isProbe: boolean;
  readonly recorded: boolean;
}

/** An outcome, as the HTTP classifier gives it. */
export type Outcome = 'success' | 'failure' | 'ignored';
/** How an HTTP exchange ended without a response. */
export type HttpErrorKind = 'connect' | 'timeout' | 'cancelled' | 'other';
/** `classifyResponse`: the outcome, and for a failure the `Retry-After` retry time (ms) or `null`. */
export interface HttpVerdict {
  readonly outcome: Outcome;
  readonly retryAfter: number | null;
}
/** The core's outcome for a response status: 5xx except 501, 408 and 429 fail; the rest succeed. */
export function classifyStatus(status: number): Outcome;
/** The core's outcome for an exchange without a response: `cancelled` is ignored, the rest fail. */
export function classifyError(kind: HttpErrorKind): Outcome;
/** The verdict on a response; `now` is wall-clock ms since the epoch (default `Date.now()`). */
export function classifyResponse(status: number, retryAfter?: string | null, now?: number): HttpVerdict;
/** A `Retry-After` value (delta-seconds or HTTP-date) in ms from `now`, or `null`. */
export function parseRetryAfter(value: string, now?: number): number | null;

/** The events of a family and their argument. */
export interface BreakerFamilyEvents {
  stateChange: [transition: FamilyTransition];
}

type FamilyListener<E extends keyof BreakerFamilyEvents> = (...args: BreakerFamilyEvents[E]) => void;

/**
 * One `CircuitBreaker` per key, created on first use and named `<name>/<key>`, with at most
 * `maxKeys` members (idle and least recently used members are evicted lazily unless pinned: open,
 * half-open, forced open, disabled, or held by a live `CircuitBreaker` object).
 */
export class BreakerFamily extends EventEmitter {
  /** Throws a `TypeError` (wrong type, unknown option) or a `RangeError` (invalid value) naming the option. */
  constructor(options?: BreakerFamilyOptions);
  /** The `name` option, or `undefined`. */
  readonly name: string | undefined;
  /** How many members the family holds (the overflow breaker not counted). */
  readonly size: number;
  /** The shared breaker `get` returns when the family is full and every member is pinned. */
  readonly overflow: CircuitBreaker;
  /** The breaker for `key` (the same object while the one returned before is alive), or `overflow`.
   * The object pins its member until it is garbage-collected: for one key per request, use the
   * call-scoped `allow`/`record*`, `execute` and `inspect`. */
  get(key: string): CircuitBreaker;
  /** Asks the member for `key` (or the overflow breaker) to admit a call: a permit that pins the
   * member until it is recorded, or throws `CircuitOpenError` (with `key`). */
  allow(key: string): FamilyPermit;
  /** Records a success; `true` if it counted, `false` if the permit was stale. Releases the member. */
  recordSuccess(permit: FamilyPermit): boolean;
  /** Records a failure (with the dependency's retry time, if given); releases the member. */
  recordFailure(permit: FamilyPermit, options?: RecordFailureOptions): boolean;
  /** Records a neutral outcome; releases the member. */
  recordIgnored(permit: FamilyPermit): boolean;
  /** Runs `fn(...args)` on the member for `key` like `breaker.execute`, holding nothing afterwards. */
  execute<A extends unknown[], R>(key: string, fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<R>;
  /** The name and state of the member for `key` (created on first use), holding nothing. */
  inspect(key: string): MemberInfo;
  /** Whether `key` has a member now (creates none). */
  has(key: string): boolean;
  /** The members' keys, in no particular order. */
  keys(): string[];
  /** Every member's metrics and the family's counts. */
  metrics(): FamilyMetrics;

  on<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
  once<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
  addListener<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
  prependListener<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
  prependOnceListener<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
  off<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
  removeListener<E extends keyof BreakerFamilyEvents>(event: E, listener: FamilyListener<E>): this;
}
