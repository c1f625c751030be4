/**
 * gantry's public API. Everything a library user may import is exported here, by name;
 * `test/unit/exports.test.ts` pins this list.
 */
export { VERSION } from './version.js';
export { ErrorCode, GantryError, InvalidReferenceError, ConfigError, isGantryError } from './errors.js';
export type { GantryErrorOptions } from './errors.js';
export { redactUrl, redactHeaders } from './redact.js';

// References (pure values, parsed once at the edge).
export { Digest, Reference, Repository, parseRepository, splitReposSearchTerm } from './ref/index.js';
export type { DigestAlgorithm } from './ref/index.js';

// Registry service configuration: insecure registries, mirrors, endpoints, daemon.json.
export { ServiceConfig, validateMirror, validateIndexName, normalizeIndexName } from './config/service-config.js';
export type { HostLookup, IndexInfo, ServiceOptions } from './config/service-config.js';
export { lookupEndpoints, DEFAULT_REGISTRY_HOST } from './config/endpoints.js';
export type { APIEndpoint, EndpointOptions, EndpointPurpose } from './config/endpoints.js';
export { readDaemonConfig, serviceConfigFrom, DEFAULT_DAEMON_CONFIG_FILE } from './config/daemon-json.js';
export type { DaemonConfig, DaemonProxies, ServiceConfigSources } from './config/daemon-json.js';

// Per-host TLS: certs.d, system roots, generated certificates.
export { CertsDirError, DEFAULT_CERTS_DIR, defaultCertsDir, hostCertsDir, readCertsDirectory } from './tls/certs-dir.js';
export type { CertsDirectory, ClientCertificate } from './tls/certs-dir.js';
export { MIN_TLS_VERSION } from './tls/profile.js';
export type { TlsProfile } from './tls/profile.js';
export { createCertificateAuthority, issueCertificate, createSelfSigned } from './pki/x509.js';
export type { CertificateAndKey, CertificateAuthorityOptions, CertificateOptions, KeyType } from './pki/x509.js';

// The transport.
export { Transport } from './transport/transport.js';
export type { TransportOptions } from './transport/transport.js';
export type { TransportRequest, TransportResponse, Send, Layer } from './transport/types.js';
export { TransportError, RegistryError } from './transport/errors.js';
export type { RegistryErrorEntry } from './transport/errors.js';
export { ping, negotiate, NoEndpointError, PING_TIMEOUT_MS } from './transport/endpoint.js';
export type { PingOptions, PingResult, PingAttempt } from './transport/endpoint.js';
export { MAX_REDIRECTS } from './transport/layers/redirect.js';
export { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from './transport/connector.js';
export { MAX_CONNECTIONS_PER_ORIGIN, BODY_IDLE_TIMEOUT_MS } from './transport/pools.js';

// Authentication: challenges, scopes, tokens, Docker credentials, login.
export { parseWwwAuthenticate, ChallengeStore, pingPathFor } from './auth/challenge.js';
export type { Challenge } from './auth/challenge.js';
export { repositoryScope, registryScope, formatScope, parseScope, parseScopeList, mergeScopes } from './ref/scope.js';
export type { Scope } from './ref/scope.js';
export { parseTokenResponse, TokenCache, MIN_TOKEN_LIFETIME_SECONDS, MAX_TOKEN_RESPONSE_BYTES } from './auth/token-response.js';
export type { TokenResponse } from './auth/token-response.js';
export { AuthError, authErrorFromResponse } from './auth/errors.js';
export { Keychain, StaticKeychain, unencryptedWarning } from './auth/keychain.js';
export type { Credentials, CredentialSource, StoreResult, EraseResult, KeychainOptions } from './auth/keychain.js';
export { DockerConfigFile, configDirectory, CredentialsError } from './auth/docker-config.js';
export { CredentialHelper } from './auth/credential-helper.js';
export { convertToHostname, authConfigKey, DOCKER_HUB_AUTH_KEY } from './auth/hostname.js';
export { Authorizer, DEFAULT_CLIENT_ID, scopesFor } from './auth/authorizer.js';
export type { AuthorizerOptions } from './auth/authorizer.js';
export { login, logout, loginRegistryHost, LOGIN_SUCCEEDED } from './login/login.js';
export type { LoginCredentials, LoginOptions, LoginResult, LogoutResult } from './login/login.js';

// OCI values: media types, descriptors, manifests, platforms, image configs.
export {
  MediaType,
  ACCEPT_MANIFESTS,
  isIndex,
  isImageManifest,
  isSchema1,
  MAX_MANIFEST_BYTES,
  parseManifest,
  manifestDescriptor,
  parsePlatform,
  formatPlatform,
  normalizePlatform,
  matchPlatform,
  selectManifest,
  hostPlatform,
  parseImageConfig,
  ManifestError,
  DigestMismatchError,
  ANNOTATION_REF_NAME,
} from './oci/index.js';
export type { Descriptor, Manifest, ImageManifest, IndexManifest, Schema1Manifest, Platform, ImageConfig } from './oci/index.js';

// Images: sources and destinations, on-disk formats, copy.
export type { ImageSource, ImageDestination, RawManifest, PutManifestOptions, BlobOptions } from './image/types.js';
export { verifyingStream } from './hashing/verify.js';
export { OciLayoutSource, OciLayoutDestination } from './image/oci-layout.js';
export type { OciLayoutSourceOptions, OciLayoutDestinationOptions } from './image/oci-layout.js';
export { DockerArchiveSource, DockerArchiveDestination } from './image/docker-archive.js';
export type { DockerArchiveSourceOptions, DockerArchiveDestinationOptions } from './image/docker-archive.js';
export { copyImage, DEFAULT_COPY_JOBS, COPY_BLOB_ATTEMPTS } from './image/copy.js';
export type { CopyEvent, CopyOptions, CopyResult, MountingDestination } from './image/copy.js';
export { copy, parseImageLocation, formatImageLocation, openSource, openDestination } from './image/transports.js';
export type { ImageLocation, CopyImagesOptions, Opened } from './image/transports.js';
export { inspect, MAX_CONFIG_BYTES } from './image/inspect.js';
export type { InspectOptions, InspectResult, InspectLayer } from './image/inspect.js';

// The distribution API client.
export {
  RegistryClient,
  RepositoryClient,
  RegistryImageSource,
  RegistryImageDestination,
  PullError,
  InvalidResponseError,
  translatePullError,
  rateLimitOf,
  readRateLimit,
  referrersTag,
  MONOLITHIC_MAX_BYTES,
  DEFAULT_CHUNK_BYTES,
  UPLOAD_MAX_ATTEMPTS,
  BLOB_RESUME_MAX_ATTEMPTS,
  BLOB_RESUME_DELAY_MS,
  MAX_LIST_PAGE_BYTES,
  MAX_LIST_PAGES,
  MAX_COLLECTED_LIST_BYTES,
  MAX_COLLECTED_LIST_ENTRIES,
  MAX_REFERRERS_PAGES,
} from './client/index.js';
export type {
  RegistryClientOptions,
  Access,
  GetManifestOptions,
  ManifestResult,
  ManifestHead,
  PutManifestResult,
  BlobHead,
  BlobStream,
  GetBlobOptions,
  OpenBlobStream,
  UploadOptions,
  UploadResult,
  ListOptions,
  ListPage,
  ReferrersOptions,
  ReferrersResult,
  RateLimit,
  RegistryDestinationOptions,
} from './client/index.js';
export { connectRegistry } from './client/connect.js';
export type { RegistryAccessOptions, ConnectedRegistry } from './client/connect.js';
export { resolveDigest, listTags, listTagPages, listCatalog, listCatalogPages, deleteImage } from './client/operations.js';
export { retry, RETRY_MAX_ATTEMPTS, RETRY_BASE_DELAY_MS, RETRY_MAX_DELAY_MS, RETRY_AFTER_CAP_MS, RETRYABLE_STATUSES } from './transport/layers/retry.js';
export type { RetryPolicy, RetryInfo } from './transport/layers/retry.js';

// Docker Hub (v1) search.
export { search, SearchError } from './search/search.js';
export type { SearchOptions, SearchResult, SearchResponse } from './search/search.js';
export { SearchOptionError } from './search/filters.js';
export { InvalidEndpointError } from './search/v1-endpoint.js';
