// circuit-core/axios: one circuit breaker per origin for an axios instance.

import type { CircuitOpenError } from '../../index.js';
import type { HttpBreakerOptions, HttpExchange } from './record.js';

export type { HttpBreakerOptions, HttpExchange };

export type AttachOptions = HttpBreakerOptions & {
  /** The response of a request its origin's breaker refused (an axios response object). */
  fallback?: ((config: any, err: CircuitOpenError) => unknown) | undefined;
};

/** Wraps `instance.defaults.adapter`; returns `instance`. */
export function attach<T extends { defaults: { adapter?: unknown } }>(instance: T, options?: AttachOptions): T;
