// ESM entry: the same objects as the CommonJS entry (`index.js`), so `instanceof` agrees
// between `import` and `require`. The default export is the CommonJS module object.
import circuit from './index.js';

export const {
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
} = circuit;
export default circuit;
