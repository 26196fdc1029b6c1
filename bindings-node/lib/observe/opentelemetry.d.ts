// circuit-core/opentelemetry: the metric set (docs/observability.md) as OpenTelemetry observable
// instruments.

import type { BreakerFamily, CircuitBreaker } from '../../index.js';

/** The part of an OpenTelemetry `Meter` (@opentelemetry/api) this module uses. */
export interface OtelMeter {
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): unknown;
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): unknown;
  addBatchObservableCallback(
    callback: (result: { observe(observable: unknown, value: number, attributes?: Record<string, string>): void }) => void,
    observables: unknown[],
  ): void;
}

/** What `instrument` returns. */
export interface Instrumentation {
  /** Stops observing the source (it is absent from the next collection); idempotent. */
  unregister(): void;
}

/**
 * Observes a breaker or a family (every member and its overflow breaker, with `key` attributes)
 * through `meter`: one ObservableCounter or ObservableGauge per family of the metric set, named
 * `circuit_breaker.<name>` (e.g. `circuit_breaker.calls`, `circuit_breaker.state`), read from one
 * snapshot at each collection. Throws if `source` is already instrumented on that meter.
 */
export function instrument(meter: OtelMeter, source: CircuitBreaker | BreakerFamily): Instrumentation;
