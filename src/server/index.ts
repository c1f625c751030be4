/**
 * `gantry/server`: the embedded registry. Everything a library user may import from the
 * server entry is exported here, by name.
 */
export { createRegistryServer } from './registry-server.js';
export type { RegistryServer } from './registry-server.js';
export {
  DEFAULT_AUTH_BACKOFF_MS,
  DEFAULT_AUTH_FAILURE_WINDOW_MS,
  DEFAULT_AUTH_MAX_FAILURES,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_STORAGE,
  DEFAULT_UPLOAD_PURGE_AGE_MS,
  DEFAULT_UPLOAD_PURGE_INTERVAL_MS,
} from './options.js';
export type {
  RegistryServerOptions,
  RegistryAuthOptions,
  RegistryAuthThrottleOptions,
  RegistryTlsOptions,
  RegistryTokenIssuer,
  RegistryUploadPurgingOptions,
  TokenAccess,
} from './options.js';
export type { AuthAttemptGuard } from './auth-throttle.js';
export { BCRYPT_QUEUE_MAX, BCRYPT_QUEUE_PER_CLIENT, BCRYPT_WORKERS } from './bcrypt-workers.js';
export { RegistryErrorCode, RegistryRequestError } from './errors.js';
export { Htpasswd } from './htpasswd.js';
export { registryServerOptionsFromCli, parseDuration, parseListen } from './cli-options.js';
export { loadTokenConfig, parseTokenConfig } from './token-config.js';
export type { TokenAuth } from './token-config.js';
export { TokenIssuer } from './token-issuer.js';
export type { RegistryServeFlags } from './cli-options.js';
export type { Storage, UploadSession, ReferrerDescriptor, StoredManifest } from './storage/types.js';
