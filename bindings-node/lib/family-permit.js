'use strict';
// `FamilyPermit`, an admitted call of the call-scoped family API (`family.allow(key)`, then one
// of the family's `record*`). It holds the native member permit (src/member_permit.rs), which
// pins the member only until it is recorded: recording releases the native reference at once,
// whatever the garbage collector does with this object later. A permit collected unrecorded is
// recorded as ignored by the engine (which frees a probe's slot).

const { PermitError, argumentError } = require('./errors.js');

/** The key of the family method that issues permits. */
const ISSUE = Symbol('circuit.issueFamilyPermit');
/** `spendFamilyPermit(permit, family)`: the native permit to record, after checking it. */
let spendFamilyPermit;

/** An admitted call on the member for `key` (or on the overflow breaker). Record it exactly once
 * with the family's `recordSuccess`, `recordFailure` or `recordIgnored`. */
class FamilyPermit {
  #family;
  #native;
  #key;

  constructor(token, family, native, key) {
    if (token !== ISSUE) throw new TypeError('FamilyPermit objects are issued by BreakerFamily#allow()');
    this.#family = family;
    this.#native = native;
    this.#key = key;
  }

  /** The key the permit was asked for. */
  get key() {
    return this.#key;
  }

  /** Whether the family answered with its overflow breaker (the family was full of pinned members). */
  get overflow() {
    return this.#native.overflow;
  }

  /** The breaker generation the permit was admitted in. */
  get generation() {
    return this.#native.generation;
  }

  /** Whether this permit is a half-open probe. */
  get isProbe() {
    return this.#native.isProbe;
  }

  /** Whether an outcome was recorded with this permit. */
  get recorded() {
    return this.#native.recorded;
  }

  static {
    spendFamilyPermit = (permit, family) => {
      if (typeof permit !== 'object' || permit === null || !(#family in permit)) {
        throw argumentError('permit', 'a FamilyPermit from family.allow()', permit);
      }
      if (permit.#family !== family) {
        throw new PermitError('EFOREIGNPERMIT', 'permit was issued by a different breaker family');
      }
      if (permit.#native.recorded) {
        throw new PermitError('EALREADYRECORDED', 'permit already recorded: each permit takes exactly one outcome');
      }
      return permit.#native;
    };
  }
}

module.exports = { FamilyPermit, ISSUE, spendFamilyPermit };
