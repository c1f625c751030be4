/** Docker Hub's rate-limit headers: parsed in the transport (src/transport/rate-limit.ts), where errors are built. */
export { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
