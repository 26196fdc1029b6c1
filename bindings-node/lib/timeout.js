'use strict';
// Calls made with the `timeout` option: their last argument, `{ signal }`.

let abortCall;

/**
 * The last argument of a call made with `timeout`: `{ signal }`, this call's own `AbortSignal`.
 * The signal is created when first read (creating one costs microseconds on Node 20, so calls
 * that never look at it do not pay) and aborted with the `TimeoutError` when the call times out.
 */
class CallOptions {
  #controller = undefined;
  #reason = undefined;

  /** This call's own `AbortSignal`: aborted (with a `TimeoutError`) if the call times out. */
  get signal() {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  static {
    abortCall = (options, reason) => {
      options.#reason = reason;
      if (options.#controller !== undefined) options.#controller.abort(reason);
    };
  }
}

module.exports = { CallOptions, abortCall };
