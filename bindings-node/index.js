'use strict';
// The public API of the `circuit-core` package, one file per concept in lib/:
//   breaker.js   CircuitBreaker: execute, executeSync, wrap, allow/record*, control, metrics
//   family.js    BreakerFamily: one CircuitBreaker per key, bounded memory (the engine's Family);
//                family-permit.js FamilyPermit and family-execute.js its call-scoped API
//   permit.js    Permit (the two-step API)
//   errors.js    CircuitOpenError, TimeoutError, PermitError, StateError, RegionError
//   clock.js     ManualClock
//   fleet.js     RedisFleet, redisFleet: fleet-wide breakers over Redis (the `fleet` option)
//   region.js    HostRegion: breakers shared by every process on a host (the `region` option)
//   options.js   the constructor's options (the engine's come from the core's schema)
//   events.js    event delivery; classify.js the default error classification; timeout.js the
//                `{ signal }` of calls with `timeout`; metrics.js the metrics snapshot
//   http/        classify.js the core's HTTP classifier; record.js, fetch.js, undici.js, axios.js
//                the HTTP integrations (the subpaths circuit-core/fetch, circuit-core/undici, circuit-core/axios)
//   state.js     the portable state document (exportState, toJSON, the `state` option)
//   observe/     points.js the core's metric set; prometheus.js and opentelemetry.js its exporters
//                (the subpaths circuit-core/prometheus, circuit-core/opentelemetry)
//   schema.js    the core's schema as the addon exports it; protocol.js the numeric wire protocol
//                of the native fast path (src/protocol.rs is its Rust side)
// The native addon is loaded by `binding.js`, which wraps the loader napi build generates
// (`napi-loader.js`; src/ is its Rust) and says which platform lacks a binary and how to build one.

const { CircuitBreaker } = require('./lib/breaker.js');
const { BreakerFamily } = require('./lib/family.js');
const { CircuitOpenError, PermitError, RegionError, StateError, TimeoutError } = require('./lib/errors.js');
const { ManualClock } = require('./lib/clock.js');
const { HostRegion } = require('./lib/region.js');
const { RedisFleet, redisFleet, FLEET_SCRIPT, FLEET_SCRIPT_SHA1 } = require('./lib/fleet.js');
const { Permit } = require('./lib/permit.js');
const { FamilyPermit } = require('./lib/family-permit.js');
const { classifyStatus, classifyError, classifyResponse, parseRetryAfter } = require('./lib/http/classify.js');

module.exports = {
  BreakerFamily,
  CircuitBreaker,
  CircuitOpenError,
  FLEET_SCRIPT,
  FLEET_SCRIPT_SHA1,
  FamilyPermit,
  HostRegion,
  ManualClock,
  Permit,
  PermitError,
  RedisFleet,
  RegionError,
  StateError,
  TimeoutError,
  classifyError,
  classifyResponse,
  classifyStatus,
  parseRetryAfter,
  redisFleet,
};
