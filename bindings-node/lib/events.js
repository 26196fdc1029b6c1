'use strict';
// Event delivery: transitions drained from the engine's queue become 'stateChange' plus 'open',
// 'halfOpen' or 'close'; calls emit 'reject', 'success', 'failure' and 'timeout'. A throwing (or
// rejecting) listener is reported as a process warning and the breaker carries on.

const { STATES, REASONS } = require('./schema.js');
const { TRANSITION_FIELDS } = require('./protocol.js');
const { isThenable } = require('./classify.js');

/** The event emitted, besides 'stateChange', when a state is entered. */
const STATE_EVENTS = STATES.map((s) => ({ open: 'open', half_open: 'halfOpen', closed: 'close' })[s]);

function warnListener(breaker, event, err) {
  const label = breaker.name === undefined ? '' : ` \`${breaker.name}\``;
  const warning = new Error(`a '${event}' listener of circuit breaker${label} threw; the breaker carries on`, {
    cause: err,
  });
  warning.name = 'CircuitBreakerWarning';
  warning.code = 'ECIRCUITLISTENER';
  process.emitWarning(warning);
}

/**
 * Calls each listener of `event` on `breaker`; a throwing (or rejecting) listener is reported as
 * a warning. Unlike a plain `EventEmitter.emit`, a listener removed while this event is being
 * emitted (by an earlier listener) is not called for it (docs/semantics.md, "Observability": once
 * removed, never called again).
 */
/** Whether `listeners[i]` keeps a registration in `current`: a function registered twice of which
 * one registration was removed gets only one call (as many calls as it has registrations left). */
function stillRegistered(current, listeners, i) {
  const listener = listeners[i];
  let before = 0;
  for (let j = 0; j < i; j++) if (listeners[j] === listener) before++;
  let left = 0;
  for (const each of current) if (each === listener) left++;
  return left > before;
}

function emit(breaker, event, arg) {
  if (breaker._eventsCount === 0 || breaker.listenerCount(event) === 0) return;
  const listeners = breaker.rawListeners(event);
  for (let i = 0; i < listeners.length; i++) {
    const listener = listeners[i];
    if (i > 0 && !stillRegistered(breaker.rawListeners(event), listeners, i)) continue;
    try {
      const returned = listener.call(breaker, arg);
      if (isThenable(returned)) returned.then(undefined, (err) => warnListener(breaker, event, err));
    } catch (err) {
      warnListener(breaker, event, err);
    }
  }
}

/** Emits the transitions of one drained batch (`NativeBreaker.drain()`), in order. */
function emitTransitions(breaker, batch) {
  for (let i = 0; i < batch.length; i += TRANSITION_FIELDS) {
    const transition = Object.freeze({
      from: STATES[batch[i]],
      to: STATES[batch[i + 1]],
      reason: REASONS[batch[i + 2]],
      at: batch[i + 3],
      remote: batch[i + 4] === 1,
      generation: batch[i + 5],
    });
    emit(breaker, 'stateChange', transition);
    const specific = STATE_EVENTS[batch[i + 1]];
    if (specific !== undefined) emit(breaker, specific, transition);
  }
}

module.exports = { emit, emitTransitions, warnListener };
