/**
 * `gantry/server`: the embedded registry. Everything a library user may import from the
 * server entry is exported here, by name.
 */
export { createRegistryServer } from './registry-server.js';
export type { RegistryServer } from './registry-server.js';
export { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STORAGE } from './options.js';
export type { RegistryServerOptions, RegistryAuthOptions, RegistryTlsOptions, RegistryTokenIssuer, TokenAccess } from './options.js';
export { RegistryErrorCode, RegistryRequestError } from './errors.js';
export { Htpasswd } from './htpasswd.js';
export { registryServerOptionsFromCli, parseListen } from './cli-options.js';
export { loadTokenConfig, parseTokenConfig } from './token-config.js';
export type { TokenAuth } from './token-config.js';
export { TokenIssuer } from './token-issuer.js';
export type { RegistryServeFlags } from './cli-options.js';
export type { Storage, UploadSession, ReferrerDescriptor, StoredManifest } from './storage/types.js';
