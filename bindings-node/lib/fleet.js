'use strict';
// Fleet breakers over Redis (docs/fleet.md; docs/node.md "Fleet breakers (Redis)"): `redisFleet`
// runs the store round trips of the core's sans-IO fleet breakers (`NativeFleet`, one per breaker
// name, src/fleet.rs) with an ioredis or node-redis client, on one unref'ed timer of the event
// loop. Nothing here runs on the call path: a breaker with `fleet` admits and records natively.

const { EventEmitter } = require('node:events');
const native = require('../binding.js');
const { typeError, argumentError, rangeError } = require('./errors.js');
const { FLEET_OPTIONS } = require('./schema.js');

const SCRIPT = native.fleetScript();
const SCRIPT_SHA1 = native.fleetScriptSha1();

/** The fleet options from the core's schema: camelCase name -> [snake_case name (as the core's
 * messages spell it), kind]. No option is typed here. */
const OPTIONS = FLEET_OPTIONS;
const CAMEL = Object.fromEntries(Object.entries(OPTIONS).map(([camel, [snake]]) => [snake, camel]));
const SNAKE = new RegExp(`\\b(${Object.keys(CAMEL).sort((a, b) => b.length - a.length).join('|')})\\b`, 'g');

/** The key of the method a breaker attaches itself with (`{ name, fleet }`). */
const ATTACH = Symbol('circuit.fleetAttach');
/** The key of the method a family takes the fleet set with (a fleet per member). */
const FLEET_SET = Symbol('circuit.fleetSet');

function fleetConfigError(problem) {
  const option = CAMEL[problem.option] ?? problem.option;
  return rangeError(option, problem.reason.replace(SNAKE, (snake) => CAMEL[snake]));
}

function checkOptions(options) {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
  const out = {};
  let onEvent;
  let idleTtl;
  for (const key of Object.keys(options)) {
    const value = options[key];
    if (value === undefined) continue;
    if (key === 'onEvent') {
      if (typeof value !== 'function') throw typeError(key, 'a function', value);
      onEvent = value;
    } else if (key === 'idleTtl') {
      if (typeof value !== 'number') throw typeError(key, 'a number of milliseconds', value);
      if (!(value >= 0 && value !== Infinity)) throw rangeError(key, `must be a finite number >= 0, got ${value}`);
      idleTtl = value;
    } else if (Object.hasOwn(OPTIONS, key)) {
      const [, kind, bounds] = OPTIONS[key];
      if (kind === 'text') {
        if (typeof value !== 'string') throw typeError(key, `a string (${bounds})`, value);
      } else if (kind === 'number' && bounds.includes('none')) {
        // A rate: null turns its rule off.
        if (value !== null && typeof value !== 'number') throw typeError(key, 'a number or null', value);
      } else if (typeof value !== 'number') {
        throw typeError(key, 'a number', value);
      }
      out[key] = value;
    } else {
      const err = new TypeError(`unknown fleet option \`${key}\``);
      err.code = 'ERR_INVALID_ARG_VALUE';
      err.option = key;
      throw err;
    }
  }
  return { engine: out, onEvent, idleTtl };
}

function createSet(engine, idleTtl) {
  const created = native.createFleetSet(engine, idleTtl ?? null);
  if (!(created instanceof native.NativeFleetSet)) throw fleetConfigError(created);
  return created;
}

/** How to send the script with this client: ioredis or node-redis (v4+). */
function clientKind(client) {
  if (client === null || typeof client !== 'object') return undefined;
  if (typeof client.evalSha === 'function' && typeof client.eval === 'function') return 'node-redis';
  if (typeof client.evalsha === 'function' && typeof client.eval === 'function') return 'ioredis';
  return undefined;
}

const isNoScript = (err) => err != null && /^NOSCRIPT/.test(String(err.message ?? err));

function describeError(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** The script's reply as the array of whole numbers and strings the native side takes. */
function replyArray(reply) {
  if (!Array.isArray(reply)) return undefined;
  const out = new Array(reply.length);
  for (let i = 0; i < reply.length; i++) {
    const item = reply[i];
    if (typeof item === 'number' || typeof item === 'string') out[i] = item;
    else if (typeof item === 'bigint') out[i] = Number(item);
    else if (Buffer.isBuffer(item)) out[i] = item.toString('utf8');
    else return undefined;
  }
  return out;
}

/**
 * The fleet breakers of one service over one Redis (`redisFleet(client, options)`):
 * `new CircuitBreaker({ name, fleet })` makes a call run only if the local breaker and the fleet
 * breaker of that name both admit it; `new BreakerFamily({ name, fleet })` gives each member the
 * fleet breaker of its name (`<name>/<key>`). The fleet breakers are made on demand (one native
 * fleet set, src/fleet_set.rs); one no breaker holds that stayed idle for `idleTtl` (10 minutes)
 * is forgotten, and rejoins the store's state when used again. Emits 'event' with
 * `{ name, kind, from, to, epoch, stored }`.
 */
class RedisFleet extends EventEmitter {
  #client;
  #kind;
  /** The native fleet set: every fleet breaker of this fleet, by name. */
  #set;
  #timer = undefined;
  #closed = false;
  #tick;
  #timeout;
  /** Per name: the token of the round trip in flight (a late answer of a timed-out one is dropped). */
  #inFlight = new Map();
  #next = 0;

  constructor(client, options) {
    super();
    const kind = clientKind(client);
    if (kind === undefined) {
      throw argumentError('client', 'an ioredis or node-redis client (evalsha/evalSha and eval)', client);
    }
    const { engine, onEvent, idleTtl } = checkOptions(options);
    this.#set = createSet(engine, idleTtl); // checks every option now
    this.#client = client;
    this.#kind = kind;
    const interval = this.#set.syncInterval;
    this.#timeout = Math.max(interval, 50);
    this.#tick = Math.max(1, Math.min(10, interval / 2));
    if (onEvent !== undefined) this.on('event', onEvent);
  }

  /** The names of the fleet breakers in use (breakers attached, family members). */
  get names() {
    return this.#set.names();
  }

  #open() {
    if (this.#closed) {
      const err = new TypeError('this fleet is closed');
      err.code = 'ERR_INVALID_ARG_VALUE';
      err.option = 'fleet';
      throw err;
    }
    this.#schedule();
  }

  /** The native fleet breaker of `name` (one per name), starting the sync loop. */
  [ATTACH](name) {
    this.#open();
    return this.#set.fleet(name);
  }

  /** The native fleet set (a family's members each take the fleet of their name), starting the
   * sync loop. */
  [FLEET_SET]() {
    this.#open();
    return this.#set;
  }

  /** The fleet level of `name`: `{ state, epoch, degraded, staleness (ms or null), syncs,
   * syncFailures }`, or `undefined` when no fleet breaker of that name is in use. */
  status(name) {
    const status = this.#set.status(name);
    return status === null ? undefined : { ...status };
  }

  #schedule() {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#round();
      this.#schedule();
    }, this.#tick);
    this.#timer.unref();
  }

  #deliver(name, events) {
    for (const e of events) {
      const event = { name, kind: e.kind, from: e.from ?? undefined, to: e.to ?? undefined, epoch: e.epoch ?? undefined, stored: e.stored ?? undefined };
      try {
        this.emit('event', event);
      } catch (err) {
        process.emitWarning(`circuit fleet \`${name}\`: an 'event' listener threw: ${describeError(err)}`);
      }
    }
  }

  /** One round: a round trip for every breaker whose sync is due, events for the others. */
  #round() {
    const set = this.#set;
    for (const name of set.names()) {
      const request = set.poll(name);
      if (request === null) {
        this.#deliver(name, set.events(name));
        continue;
      }
      const token = ++this.#next;
      this.#inFlight.set(name, token);
      const timer = setTimeout(() => {
        if (this.#inFlight.get(name) !== token) return;
        this.#inFlight.delete(name);
        this.#deliver(name, set.fail(name, `timed out after ${this.#timeout} ms`));
      }, this.#timeout);
      timer.unref();
      const settle = (reply, err) => {
        clearTimeout(timer);
        if (this.#inFlight.get(name) !== token) return; // timed out: already failed
        this.#inFlight.delete(name);
        if (err === undefined) {
          const items = replyArray(reply);
          if (items !== undefined) return this.#deliver(name, set.complete(name, items));
          err = new Error(`unexpected reply ${String(reply)}`);
        }
        this.#deliver(name, set.fail(name, describeError(err)));
      };
      let sent;
      try {
        sent = this.#roundTrip(request.key, request.args);
      } catch (err) {
        settle(undefined, err);
        continue;
      }
      sent.then((reply) => settle(reply, undefined), (err) => settle(undefined, err ?? new Error('store error')));
    }
  }

  async #roundTrip(key, args) {
    const client = this.#client;
    if (this.#kind === 'ioredis') {
      try {
        return await client.evalsha(SCRIPT_SHA1, 1, key, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return await client.eval(SCRIPT, 1, key, ...args);
      }
    }
    try {
      return await client.evalSha(SCRIPT_SHA1, { keys: [key], arguments: args });
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return await client.eval(SCRIPT, { keys: [key], arguments: args });
    }
  }

  /** Stops the sync loop (idempotent). The breakers keep working on their last knowledge of the
   * fleet, then in the degraded mode. The client is the caller's to close. */
  close() {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** `new RedisFleet(client, options)`. */
function redisFleet(client, options) {
  return new RedisFleet(client, options);
}

module.exports = { RedisFleet, redisFleet, ATTACH, FLEET_SET, FLEET_SCRIPT: SCRIPT, FLEET_SCRIPT_SHA1: SCRIPT_SHA1 };
