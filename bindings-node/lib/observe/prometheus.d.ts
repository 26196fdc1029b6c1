// circuit-core/prometheus: the metric set (docs/observability.md) as prom-client metrics.

import type { BreakerFamily, CircuitBreaker } from '../../index.js';

/** The part of a prom-client `Registry` this module uses (any prom-client `Registry` is one). */
export interface PromRegistry {
  registerMetric(metric: unknown): void;
  removeSingleMetric(name: string): void;
}

export interface RegisterOptions {
  /** The registry to export through; default prom-client's global `register`. */
  registry?: PromRegistry | undefined;
}

/** What `register` returns. */
export interface Registration {
  /** Stops exporting the source (its samples vanish from the next scrape); idempotent. */
  unregister(): void;
}

/**
 * Exports a breaker or a family (every member and its overflow breaker, with `key` labels)
 * through a prom-client registry: one Gauge or Counter per family of the metric set, filled from
 * one snapshot at each scrape. Throws if `source` is already registered with that registry, and
 * an error with `code: 'ERR_MODULE_NOT_FOUND'` if prom-client is not installed.
 */
export function register(source: CircuitBreaker | BreakerFamily, options?: RegisterOptions): Registration;
