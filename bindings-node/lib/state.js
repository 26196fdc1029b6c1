'use strict';
// Portable breaker state (docs/semantics.md, "State export and import"): the versioned JSON
// document of `breaker.exportState()` / `toJSON()`, restored with the `state` option. The
// document is the core's (src/state.rs); this file checks the JavaScript arguments: a document
// as a string or an object (serialised with JSON.stringify), and the wall-clock instant, ms since
// the epoch, that measures the gap between export and import (default `Date.now()`).

const { StateError, typeError, rangeError } = require('./errors.js');

/** The JSON text of a state document given as `option` (a string, or an object such as
 * `breaker.toJSON()` or `JSON.parse(text)` returned). */
function documentText(value, option) {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') throw typeError(option, 'a state document (a string or an object)', value);
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    const wrapped = typeError(option, `a state document that JSON.stringify can write (${err.message})`, value);
    wrapped.cause = err;
    throw wrapped;
  }
  if (typeof text !== 'string') throw typeError(option, 'a state document that JSON.stringify can write', value);
  return text;
}

/** A wall-clock instant as ms since the epoch: a number >= 0 or a `Date`; `undefined` is now. */
function wallInstant(value, option) {
  if (value === undefined) return Date.now();
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number') throw typeError(option, 'a number of ms since the epoch or a Date', value);
  if (!(Number.isFinite(ms) && ms >= 0)) {
    throw rangeError(option, `must be a finite number of ms since the epoch (>= 0), got ${ms}`);
  }
  return ms;
}

/** The `StateError` of a native `StateProblem`. */
function stateError(problem) {
  return new StateError(problem.field ?? undefined, problem.message);
}

module.exports = { documentText, wallInstant, stateError };
