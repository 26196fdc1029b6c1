// circuit-core/undici: an interceptor for undici's Dispatcher#compose (undici >= 7).

import type { HttpBreakerOptions, HttpExchange } from './record.js';

export type { HttpBreakerOptions, HttpExchange };

/** An undici interceptor: `(dispatch) => (opts, handler) => boolean`. */
export type CircuitInterceptor = (
  dispatch: (opts: any, handler: any) => boolean,
) => (opts: any, handler: any) => boolean;

/** One breaker per origin for every request of the composed dispatcher. */
export function interceptor(options?: HttpBreakerOptions): CircuitInterceptor;
