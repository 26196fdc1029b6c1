'use strict';
// The errors the package throws: its own classes (`CircuitOpenError`, `TimeoutError`,
// `PermitError`, `StateError`, `RegionError`, public) and the argument errors every validating file builds (internal).

/** Thrown (or used to reject) when the breaker refuses a call. */
class CircuitOpenError extends Error {
  constructor(breakerName, state, reason, retryAfter, fleet = false) {
    const who = breakerName === undefined ? 'circuit' : `circuit \`${breakerName}\``;
    const after = retryAfter === undefined ? '' : `; retry after ${retryAfter} ms`;
    super(`${who} rejected the call (${fleet ? 'fleet ' : ''}${reason})${after}`);
    this.code = 'ECIRCUITOPEN';
    /** Whether the fleet breaker refused (the local breaker had admitted the call). */
    this.fleet = fleet === true;
    this.breakerName = breakerName;
    this.state = state;
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}
CircuitOpenError.prototype.name = 'CircuitOpenError';

/** Rejects a call that did not settle within the breaker's `timeout`. */
class TimeoutError extends Error {
  constructor(breakerName, timeout) {
    const who = breakerName === undefined ? 'circuit' : `circuit \`${breakerName}\``;
    super(`${who}: the call timed out after ${timeout} ms`);
    this.code = 'ETIMEDOUT';
    this.breakerName = breakerName;
    this.timeout = timeout;
  }
}
TimeoutError.prototype.name = 'TimeoutError';

/** A permit was misused: recorded twice (`EALREADYRECORDED`) or given to another breaker (`EFOREIGNPERMIT`). */
class PermitError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
PermitError.prototype.name = 'PermitError';

/** A state document was refused (`code: 'ESTATEINVALID'`): `field` names the document field at
 * fault (a dotted path such as `window.buckets`), `undefined` for a problem with the whole
 * document (not JSON, not an object, too long). Nothing was created or changed. */
class StateError extends Error {
  constructor(field, message) {
    super(field === undefined ? `invalid breaker state document: ${message}` : `invalid breaker state document: \`${field}\`: ${message}`);
    this.code = 'ESTATEINVALID';
    this.field = field;
  }
}
StateError.prototype.name = 'StateError';

/** A host region could not be opened or used (`code: 'ECIRCUITREGION'`): `kind` says what
 * went wrong (`options_mismatch`, `full`, `unnamed`, `foreign`, `truncated`, `newer_version`,
 * `clock_not_manual`, ...), `path` is the region's path, and for `options_mismatch` `options`
 * lists the differing options (camelCase; `window` for the window's kind and size). The message
 * is the engine's: it names the path and the problem (and each differing option with both values). */
class RegionError extends Error {
  constructor(kind, message, path, options) {
    super(message);
    this.code = 'ECIRCUITREGION';
    this.kind = kind;
    this.path = path;
    this.options = options;
  }
}
RegionError.prototype.name = 'RegionError';

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return value.constructor?.name ? `an instance of ${value.constructor.name}` : 'an object';
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 28 ? `${value.slice(0, 25)}...` : value)})`;
  return `type ${typeof value} (${String(value)})`;
}

function typeError(option, expected, value, code = 'ERR_INVALID_ARG_TYPE') {
  const err = new TypeError(`option \`${option}\` must be ${expected}, got ${describe(value)}`);
  err.code = code;
  err.option = option;
  return err;
}

function rangeError(option, reason) {
  const err = new RangeError(`invalid option \`${option}\`: ${reason}`);
  err.code = 'ERR_OUT_OF_RANGE';
  err.option = option;
  return err;
}

function argumentError(name, expected, value) {
  const err = new TypeError(`\`${name}\` must be ${expected}, got ${describe(value)}`);
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

module.exports = { CircuitOpenError, TimeoutError, PermitError, StateError, RegionError, describe, typeError, rangeError, argumentError };
