// circuit-core/fetch: a fetch with one circuit breaker per origin.

import type { CircuitOpenError } from '../../index.js';
import type { HttpBreakerOptions, HttpExchange } from './record.js';

export type { HttpBreakerOptions, HttpExchange };

export type WrapFetchOptions = HttpBreakerOptions & {
  /** Ms for the response headers to arrive (a failure if they do not); default: none. */
  timeout?: number | undefined;
  /** The answer to a request its origin's breaker refused, instead of the `CircuitOpenError`. */
  fallback?: ((request: Request, err: CircuitOpenError) => Response | Promise<Response>) | undefined;
};

/** `fetch` protected by one breaker per origin; rejects with `CircuitOpenError` when refused. */
export function wrapFetch(fetch: typeof globalThis.fetch, options?: WrapFetchOptions): typeof globalThis.fetch;
