/**
 * `gantry sync` as a library: mirror many repositories between registries, cheaply when
 * nothing changed, inside a rate-limit budget, split across processes by shard; and
 * `checkRateLimit`, Docker Hub's limit as announced. The guide is docs/sync.md.
 */
export { sync, destinationPath } from './sync.js';
export type { SyncOptions } from './sync.js';
export { readSyncConfig, parseSyncConfig, MAX_SYNC_CONFIG_BYTES } from './config-file.js';
export { DEFAULT_SYNC_JOBS, DEFAULT_REGISTRY_REQUESTS, DEFAULT_SYNC_BLOB_JOBS, MAX_NEWEST } from './config.js';
export type { SyncConfig, SyncSource, SyncDestination, SyncRepository, SyncTagFilter, SyncAccess } from './config.js';
export { parseShard } from './shard.js';
export type { SyncShard } from './shard.js';
export { RateLimitReserveError } from './gate.js';
export type { SyncRequestCounts } from './gate.js';
export { MAX_REPORT_ITEMS } from './report.js';
export type { SyncReport, SyncItem, SyncAction, SyncRegistryReport, SyncStop } from './report.js';
export { checkRateLimit } from './ratelimit.js';
export type { RateLimitResult } from './ratelimit.js';
