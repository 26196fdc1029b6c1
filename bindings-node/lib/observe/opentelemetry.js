'use strict';
// circuit-core/opentelemetry: the metric set (docs/observability.md) as OpenTelemetry observable
// instruments. `instrument(meter, source)` adds a breaker or a family to a meter: the first one
// creates one ObservableCounter or ObservableGauge per family of the set, named by its
// OpenTelemetry name (`circuit_breaker.calls` for `circuit_breaker_calls_total`), with its help as
// the description and its unit; one batch callback observes them all from one snapshot of every
// source instrumented on that meter (lib/observe/points.js) at each collection. Only the
// @opentelemetry/api interface of `meter` is used (an optional peer dependency: nothing is
// loaded here).

const { FAMILIES, checkSource, snapshot } = require('./points.js');
const { argumentError } = require('../errors.js');

/** The methods of an OpenTelemetry `Meter` this file calls. */
const METER_METHODS = ['createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback'];

/** meter -> its instruments and the sources observed through them (kept for the meter's life:
 * an instrument cannot be removed from a meter, and one left without sources observes nothing). */
const instrumented = new WeakMap();

class Observer {
  sources = new Set();

  constructor(meter) {
    this.instruments = FAMILIES.map((family) => {
      const options = { description: family.help, unit: family.unit };
      return family.kind === 'counter'
        ? meter.createObservableCounter(family.otelName, options)
        : meter.createObservableGauge(family.otelName, options);
    });
    const byName = new Map(FAMILIES.map((family, i) => [family.name, this.instruments[i]]));
    this.callback = (result) => {
      for (const [name, samples] of snapshot(this.sources)) {
        const instrument = byName.get(name);
        for (const { labels, value } of samples) result.observe(instrument, value, labels);
      }
    };
    meter.addBatchObservableCallback(this.callback, this.instruments);
  }
}

/**
 * Observes `source` (a `CircuitBreaker` or a `BreakerFamily`) through `meter` (an OpenTelemetry
 * `Meter`, e.g. `metrics.getMeter('circuit')`). Returns `{ unregister() }`; instrumenting the same
 * source twice on one meter throws.
 */
function instrument(meter, source) {
  if (meter === null || typeof meter !== 'object' || METER_METHODS.some((m) => typeof meter[m] !== 'function')) {
    throw argumentError('meter', 'an OpenTelemetry Meter', meter);
  }
  checkSource(source);
  let observer = instrumented.get(meter);
  if (observer === undefined) {
    observer = new Observer(meter);
    instrumented.set(meter, observer);
  }
  if (observer.sources.has(source)) {
    const err = new Error('this breaker or family is already instrumented on this meter');
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  observer.sources.add(source);
  let registered = true;
  return {
    /** Stops observing `source` (it is absent from the next collection); idempotent. */
    unregister() {
      if (!registered) return;
      registered = false;
      observer.sources.delete(source);
    },
  };
}

module.exports = { instrument };
