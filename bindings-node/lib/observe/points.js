'use strict';
// The one metric set every language exports (docs/observability.md), as the core declares it:
// `FAMILIES` (name, kind, help, labels, unit, otelName; `families()` of src/exposition.rs) and
// `snapshot(sources)`, one scrape's samples of breakers and families, built by the core
// (`exposition::points`, with the `name`/`key` labels). The exporters (prometheus.js,
// opentelemetry.js) only turn these into their library's objects.

const native = require('../../binding.js');
const { POINTS } = require('../metrics.js');
const { argumentError } = require('../errors.js');

/** The metric families, in the core's order: `{ name, kind, help, labels, unit, otelName }`,
 * where `labels` are the family's own (every sample also has `name`, a member's `key`). */
const FAMILIES = Object.freeze(
  native.families().map((f) => Object.freeze({ ...f, labels: Object.freeze([...f.labels]) })),
);

/** The labels any sample may carry, per family: `name`, `key`, then the family's own. */
const LABEL_NAMES = Object.freeze(Object.fromEntries(FAMILIES.map((f) => [f.name, Object.freeze(['name', 'key', ...f.labels])])));

/** Checks that `source` is a `CircuitBreaker` or a `BreakerFamily` (what can be exported). */
function checkSource(source, what = 'source') {
  if (source === null || typeof source !== 'object' || typeof source[POINTS] !== 'function') {
    throw argumentError(what, 'a CircuitBreaker or a BreakerFamily', source);
  }
  return source;
}

/** One snapshot of every source: family name -> array of `{ labels, value }`, every family
 * present (empty when no source has a sample of it). */
function snapshot(sources) {
  const byFamily = new Map(FAMILIES.map((f) => [f.name, []]));
  for (const source of sources) {
    for (const { family, labels, value } of source[POINTS]()) byFamily.get(family).push({ labels, value });
  }
  return byFamily;
}

/**
 * A snapshot shared by the callbacks of one collection: a scrape asks each family's metric in
 * turn, synchronously, and every one of them must see the same snapshot (and the sources be read
 * once per scrape, not once per family). The snapshot is dropped once the current synchronous run
 * ends.
 */
class ScrapeCache {
  #sources;
  #current;

  constructor(sources) {
    this.#sources = sources;
  }

  /** Family name -> samples, of this scrape. */
  get() {
    if (this.#current === undefined) {
      this.#current = snapshot(this.#sources);
      queueMicrotask(() => {
        this.#current = undefined;
      });
    }
    return this.#current;
  }
}

module.exports = { FAMILIES, LABEL_NAMES, checkSource, snapshot, ScrapeCache };
