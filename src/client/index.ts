/**
 * The distribution client's public names (re-exported by `src/index.ts`). The functions
 * behind the RepositoryClient methods stay internal: the methods are the API.
 */
export { RegistryClient, RepositoryClient } from './registry-client.js';
export type { RegistryClientOptions, Access } from './registry-client.js';
export type { GetManifestOptions, ManifestResult, ManifestHead, PutManifestResult } from './manifests.js';
export { BLOB_RESUME_MAX_ATTEMPTS, BLOB_RESUME_DELAY_MS } from './blobs.js';
export type { BlobHead, BlobStream, GetBlobOptions } from './blobs.js';
export { MONOLITHIC_MAX_BYTES, DEFAULT_CHUNK_BYTES, UPLOAD_MAX_ATTEMPTS } from './uploads.js';
export type { OpenBlobStream, UploadOptions, UploadResult } from './uploads.js';
export { MAX_LIST_PAGE_BYTES, MAX_LIST_PAGES, MAX_COLLECTED_LIST_BYTES, MAX_COLLECTED_LIST_ENTRIES } from './pagination.js';
export type { ListOptions, ListPage } from './pagination.js';
export { referrersTag, MAX_REFERRERS_PAGES } from './referrers.js';
export type { ReferrersOptions, ReferrersResult } from './referrers.js';
export { PullError, InvalidResponseError, translatePullError, rateLimitOf } from './errors.js';
export { readRateLimit } from '../transport/rate-limit.js';
export type { RateLimit } from '../transport/rate-limit.js';
export { RegistryImageSource, RegistryImageDestination } from '../image/registry.js';
export type { RegistryDestinationOptions } from '../image/registry.js';
