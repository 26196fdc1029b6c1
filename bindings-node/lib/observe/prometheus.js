'use strict';
// circuit-core/prometheus: the metric set (docs/observability.md) as prom-client metrics. `register`
// adds a breaker or a family to a prom-client registry: the first one creates one Gauge or
// Counter per family of the set, whose `collect()` fills it at scrape time from one snapshot of
// every source registered with that registry (lib/observe/points.js); a call pays nothing for
// being exported. prom-client is an optional peer dependency, loaded on first use.

const { FAMILIES, LABEL_NAMES, checkSource, ScrapeCache } = require('./points.js');
const { argumentError } = require('../errors.js');

/** prom-client, or an error saying how to install it. */
function promClient() {
  try {
    return require('prom-client');
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    const missing = new Error('circuit-core/prometheus needs the prom-client package: npm install prom-client', { cause: err });
    missing.code = 'ERR_MODULE_NOT_FOUND';
    throw missing;
  }
}

/** registry -> its exporter: the sources registered with it and the metrics made for them. */
const exporters = new WeakMap();

class Exporter {
  sources = new Set();
  metrics = [];

  constructor(client, registry) {
    const cache = new ScrapeCache(this.sources);
    for (const family of FAMILIES) {
      const Metric = family.kind === 'counter' ? client.Counter : client.Gauge;
      const name = family.name;
      const config = {
        name,
        help: family.help,
        labelNames: LABEL_NAMES[name],
        registers: [registry],
        // Runs at scrape time: the samples of this scrape's snapshot, and only those (an evicted
        // member's or an unregistered breaker's samples vanish).
        collect() {
          this.reset();
          for (const { labels, value } of cache.get().get(name)) {
            if (family.kind === 'counter') this.inc(labels, value);
            else this.set(labels, value);
          }
        },
      };
      this.metrics.push(new Metric(config));
    }
    this.registry = registry;
  }

  remove() {
    for (const metric of this.metrics) this.registry.removeSingleMetric(metric.name);
  }
}

/**
 * Exports `source` (a `CircuitBreaker` or a `BreakerFamily`) through `registry` (default
 * prom-client's global `register`). Returns `{ unregister() }`; registering the same source twice
 * with one registry throws.
 */
function register(source, options = {}) {
  checkSource(source);
  if (options === null || typeof options !== 'object') throw argumentError('options', 'an object', options);
  const client = promClient();
  const registry = options.registry ?? client.register;
  if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function') {
    throw argumentError('registry', 'a prom-client Registry', registry);
  }
  let exporter = exporters.get(registry);
  if (exporter === undefined) {
    exporter = new Exporter(client, registry);
    exporters.set(registry, exporter);
  }
  if (exporter.sources.has(source)) {
    const err = new Error('this breaker or family is already registered with this registry');
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  exporter.sources.add(source);
  let registered = true;
  return {
    /** Stops exporting `source` (its samples vanish from the next scrape); idempotent. */
    unregister() {
      if (!registered) return;
      registered = false;
      exporter.sources.delete(source);
      if (exporter.sources.size === 0 && exporters.get(registry) === exporter) {
        exporter.remove();
        exporters.delete(registry);
      }
    },
  };
}

module.exports = { register };
