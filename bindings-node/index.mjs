// ESM entry: the same objects as the CommonJS entry (`index.js`), so `instanceof` agrees
// between `import` and `require`. The default export is the CommonJS module object.
import circuit from './index.js';

export const {
  BreakerFamily,
  CircuitBreaker,
  CircuitOpenError,
  FamilyPermit,
  HostRegion,
  ManualClock,
  Permit,
  PermitError,
  RegionError,
  StateError,
  TimeoutError,
  classifyError,
  classifyResponse,
  classifyStatus,
  parseRetryAfter,
} = circuit;
export default circuit;
