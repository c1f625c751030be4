/**
 * gantry: a container-registry client for Node.js, with Docker's rules for reaching a
 * registry (certs.d, mutual TLS, insecure registries, mirrors, proxies, credentials).
 *
 * This entry is the whole public API of `gantry`, by name; `test/unit/exports.test.ts` pins
 * it. The embedded registry is `gantry/server`; helpers for tests (a throw-away registry, a
 * test PKI) are `gantry/testing`. Every other module is internal and may change in any
 * release. The guide is `docs/client-api.md`; the generated reference is `docs/api/`.
 *
 * @packageDocumentation
 */
export { VERSION } from './version.js';

// Errors: one class with a stable code; the registry's own error list on RegistryError.
export { ErrorCode, GantryError, isGantryError } from './errors.js';
export type { GantryErrorOptions } from './errors.js';
export { RegistryError } from './transport/errors.js';
export type { RegistryErrorEntry } from './transport/errors.js';

// Values: references, digests, media types (parsed once at the edge).
export { Digest, Reference, Repository } from './ref/index.js';
export type { DigestAlgorithm } from './ref/index.js';
export { MediaType } from './oci/media-types.js';
export type { Descriptor } from './oci/descriptor.js';
export type { Manifest, ImageManifest, IndexManifest, Schema1Manifest } from './oci/manifest.js';
export type { Platform } from './oci/platform.js';
export type { ImageConfig, HistoryEntry } from './oci/config.js';

// Configuration: insecure registries, mirrors, daemon.json.
export { ServiceConfig } from './config/service-config.js';
export type { ServiceOptions, HostLookup, IndexInfo } from './config/service-config.js';
export { readDaemonConfig, serviceConfigFrom } from './config/daemon-json.js';
export { RegistriesConf } from './config/registries-conf.js';
export type { RegistriesConfOptions, RegistryConf, RegistryEndpointConf, PullSource, PullFromMirror } from './config/registries-conf.js';
export type { DaemonConfig, DaemonProxies, ServiceConfigSources } from './config/daemon-json.js';

// How requests travel: the options every entry point takes.
export type { TransportOptions } from './transport/transport.js';
export type { TimeoutOptions, Timeouts, LowSpeedLimit } from './transport/timeouts.js';
export type { RetryPolicy, RetryInfo } from './transport/layers/retry.js';
export type { LogSink } from './transport/layers/log.js';
export type { Layer, Send, TransportContext, TransportRequest, TransportResponse, Headers, ResponseHeaders } from './transport/types.js';
export type { RegistryOrigins, RegistryOrigin } from './transport/origins.js';
export type { Scope } from './ref/scope.js';

// Reaching a registry.
export { ping } from './transport/endpoint.js';
export type { PingOptions, PingResult, PingAttempt } from './transport/endpoint.js';
export type { APIEndpoint, EndpointPurpose } from './config/endpoints.js';

// Credentials and login.
export { Keychain } from './auth/keychain.js';
export type { Credentials, CredentialSource, KeychainOptions, StoreResult, EraseResult } from './auth/keychain.js';
export type { ConfigLocationOptions } from './auth/docker-config.js';
export { login, logout } from './login/login.js';
export type { LoginCredentials, LoginOptions, LoginResult, LogoutResult } from './login/login.js';

// The distribution API.
export { connectRegistry } from './client/connect.js';
export type { RegistryAccessOptions, ConnectedRegistry } from './client/connect.js';
// The upstream of `gantry serve`'s pull-through cache (createRegistryServer's proxy.connect).
export { connectUpstream } from './upstream/connect-upstream.js';
export type { ConnectedUpstream, UpstreamRemote, UpstreamManifest, UpstreamManifestHead, UpstreamBlob } from './upstream/connect-upstream.js';
export { RegistryClient, RepositoryClient } from './client/registry-client.js';
export type { RegistryClientOptions, Access } from './client/registry-client.js';
export type { GetManifestOptions, ManifestResult, ManifestHead, PutManifestResult } from './client/manifests.js';
export type { BlobHead, BlobStream, GetBlobOptions } from './client/blobs.js';
export type { OpenBlobStream, UploadOptions, UploadResult } from './client/uploads.js';
export type { ListOptions, ListPage } from './client/pagination.js';
export type { ReferrersOptions, ReferrersResult, PutReferrerResult } from './client/referrers.js';
export type { RateLimit } from './transport/rate-limit.js';
export { resolveDigest, listTags, listTagPages, listCatalog, listCatalogPages, deleteImage } from './client/operations.js';

// Images: copy and inspect between registries, OCI layouts and docker archives.
export { copy, parseImageLocation, formatImageLocation } from './image/transports.js';
export type { ImageLocation, CopyImagesOptions } from './image/transports.js';
export type { CopyOptions, CopyEvent, CopyResult, ImageStartEvent, ImageEndEvent, ManifestEvent, BlobEvent, BlobProgressEvent } from './image/copy.js';
export { inspect } from './image/inspect.js';
export type { InspectOptions, InspectResult, InspectLayer } from './image/inspect.js';
export { referrerTree } from './image/referrers.js';
// Artifacts: files in an OCI manifest, as oras pushes and pulls them.
export { pushArtifact } from './image/artifact.js';
export type { ArtifactFile, ArtifactLayer, PushedArtifactLayer, PushArtifactOptions, PushArtifactResult } from './image/artifact.js';
export { pullArtifact } from './image/artifact-pull.js';
export type { PullArtifactOptions, PullArtifactResult, PulledArtifactFile, SkippedArtifactLayer } from './image/artifact-pull.js';
export type { ReferrerTree, ReferrerNode, ReferrerTreeManifest, ReferrerTreeOptions } from './image/referrers.js';

// Docker Hub (v1) search.
export { search } from './search/search.js';
export type { SearchOptions, SearchResult, SearchResponse } from './search/search.js';
// Sync: mirror many repositories (docs/sync.md); Docker Hub's rate limit.
export { sync, readSyncConfig, parseSyncConfig, parseShard, checkRateLimit, RateLimitReserveError } from './sync/index.js';
export type { SyncConfig, SyncSource, SyncDestination, SyncRepository, SyncTagFilter, SyncAccess, SyncOptions, SyncShard, SyncReport, SyncItem, SyncAction, SyncRegistryReport, SyncStop, SyncRequestCounts, RateLimitResult } from './sync/index.js';
