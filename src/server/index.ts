/**
 * `gantry/server`: the embedded registry (OCI distribution spec v1.1), as `gantry serve` runs
 * it: {@link createRegistryServer} with storage in memory or a directory, TLS and mutual TLS,
 * htpasswd or token auth, or as a pull-through cache of another registry (`proxy`, with the
 * {@link Upstream} it reads through); and the token issuer it can serve itself. Everything a library user
 * may import from the server entry is exported here, by name.
 *
 * @packageDocumentation
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
  RegistryProxyOptions,
  RegistryMetricsOptions,
  TokenAccess,
} from './options.js';
export type { Upstream, UpstreamBlob, UpstreamConnector, UpstreamManifest, UpstreamManifestHead, UpstreamRemote } from './proxy/upstream.js';
export type { AuthAttemptGuard } from './auth-throttle.js';
export { TokenIssuer } from './token/issuer.js';
export type { TokenIssuerOptions, TokenIssuerUser, VerifiedToken } from './token/issuer.js';
export type { AccessRule } from './token/access.js';
export type { AccessEntry } from './token/jwt.js';
export { loadTokenConfig, parseTokenConfig } from './token-config.js';
export type { TokenAuth } from './token-config.js';
