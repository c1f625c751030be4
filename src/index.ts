/**
 * gantry's public API. Everything a library user may import is exported here, by name;
 * `test/unit/exports.test.ts` pins this list.
 */
export { VERSION } from './version.js';
export { ErrorCode, GantryError, InvalidReferenceError, ConfigError, isGantryError } from './errors.js';
export type { GantryErrorOptions } from './errors.js';
export { redactUrl, redactHeaders } from './redact.js';
