// Types shared by the HTTP integrations (circuit-core/fetch, circuit-core/undici, circuit-core/axios).

import type { BreakerFamily, BreakerFamilyOptions } from '../../index.js';

/** What `isFailure` is asked about: a response's `status`, or the `error` of an exchange without one. */
export interface HttpExchange {
  readonly status?: number;
  readonly error?: unknown;
}

/** Options shared by the integrations: a `family` to use, or the options of a new one. */
export type HttpBreakerOptions = (
  | { family: BreakerFamily }
  | (Omit<BreakerFamilyOptions, 'timeout' | 'isFailure' | 'fallback'> & { family?: undefined })
) & {
  /** `true`: a failure; `false`: a success (a response) or ignored (an error); `undefined`: the core's classifier. */
  isFailure?: ((exchange: HttpExchange) => boolean | undefined) | undefined;
};
