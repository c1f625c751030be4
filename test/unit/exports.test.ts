/**
 * The public API, pinned at the type level (a changed signature fails `tsc`) and at run time
 * (a missing or extra export fails here): the three entries `gantry`, `gantry/server` and
 * `gantry/testing`, from the sources and through package.json's `exports` map as a user of
 * the built package imports them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import * as gantry from '../../src/index.js';
import * as server from '../../src/server/index.js';
import * as testing from '../../src/testing/index.js';
import type {
  BlobHead,
  BlobStream,
  CopyResult,
  Digest,
  ImageLocation,
  InspectResult,
  ListPage,
  LoginResult,
  ManifestHead,
  ManifestResult,
  OpenBlobStream,
  PingResult,
  PutManifestResult,
  RateLimit,
  ReferrersResult,
  RegistryAccessOptions,
  RegistryClient,
  RegistryClientOptions,
  RepositoryClient,
  UploadOptions,
  UploadResult,
} from '../../src/index.js';
import { MONOLITHIC_MAX_BYTES, DEFAULT_CHUNK_BYTES, UPLOAD_MAX_ATTEMPTS } from '../../src/client/uploads.js';
import { BLOB_RESUME_MAX_ATTEMPTS } from '../../src/client/blobs.js';
import { MAX_COLLECTED_LIST_BYTES, MAX_COLLECTED_LIST_ENTRIES, MAX_LIST_PAGE_BYTES } from '../../src/client/pagination.js';

/** `true` only when A and B are the same type. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok: T): void {}

// The shapes callers rely on.
expectType<Equals<Parameters<typeof gantry.RegistryClient.create>[0], RegistryClientOptions>>(true);
expectType<Equals<ReturnType<typeof gantry.RegistryClient.create>, RegistryClient>>(true);
expectType<Equals<ReturnType<RegistryClient['repository']>, RepositoryClient>>(true);
expectType<Equals<ReturnType<RegistryClient['catalog']>, AsyncIterableIterator<string>>>(true);
expectType<Equals<ReturnType<RepositoryClient['tags']>, AsyncIterableIterator<string>>>(true);
expectType<Equals<ReturnType<RepositoryClient['tagPages']>, AsyncIterableIterator<ListPage>>>(true);
expectType<Equals<ReturnType<RepositoryClient['getManifest']>, Promise<ManifestResult>>>(true);
expectType<Equals<ReturnType<RepositoryClient['headManifest']>, Promise<ManifestHead | undefined>>>(true);
expectType<Equals<ReturnType<RepositoryClient['putManifest']>, Promise<PutManifestResult>>>(true);
expectType<Equals<ReturnType<RepositoryClient['headBlob']>, Promise<BlobHead | undefined>>>(true);
expectType<Equals<ReturnType<RepositoryClient['getBlob']>, Promise<BlobStream>>>(true);
expectType<Equals<ReturnType<RepositoryClient['uploadBlob']>, Promise<UploadResult>>>(true);
expectType<Equals<ReturnType<RepositoryClient['referrers']>, Promise<ReferrersResult>>>(true);
expectType<Equals<UploadResult['status'], 'exists' | 'mounted' | 'uploaded'>>(true);
expectType<Equals<Parameters<RepositoryClient['uploadBlob']>[2], UploadOptions | undefined>>(true);
expectType<Equals<Parameters<OpenBlobStream>, [offset: number]>>(true);
expectType<Equals<ManifestResult['digest'], Digest>>(true);
expectType<Equals<ManifestResult['bytes'], Buffer>>(true);
expectType<Equals<ManifestResult['rateLimit'], RateLimit | undefined>>(true);
expectType<BlobStream extends Readable ? true : false>(true);

// The main entry points.
expectType<Equals<Parameters<typeof gantry.connectRegistry>[2], RegistryAccessOptions | undefined>>(true);
expectType<Equals<Parameters<typeof gantry.copy>[0], string | ImageLocation>>(true);
expectType<Equals<ReturnType<typeof gantry.copy>, Promise<CopyResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.inspect>, Promise<InspectResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.ping>, Promise<PingResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.listTagPages>, AsyncIterableIterator<ListPage>>>(true);
expectType<Equals<ReturnType<typeof gantry.listCatalogPages>, AsyncIterableIterator<ListPage>>>(true);
expectType<Equals<ReturnType<typeof gantry.listTags>, Promise<string[]>>>(true);
expectType<Equals<ReturnType<typeof gantry.login>, Promise<LoginResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.Reference.parse>, gantry.Reference>>(true);
expectType<gantry.RegistryError extends gantry.GantryError ? true : false>(true);
expectType<Equals<ReturnType<typeof testing.startTestRegistry>, Promise<testing.TestRegistry>>>(true);

const MAIN = [
  'Digest',
  'ErrorCode',
  'GantryError',
  'Keychain',
  'MediaType',
  'RateLimitReserveError',
  'Reference',
  'RegistriesConf',
  'RegistryClient',
  'RegistryError',
  'Repository',
  'RepositoryClient',
  'ServiceConfig',
  'VERSION',
  'checkRateLimit',
  'connectRegistry',
  'connectUpstream',
  'copy',
  'deleteImage',
  'formatImageLocation',
  'inspect',
  'isGantryError',
  'listCatalog',
  'listCatalogPages',
  'listTagPages',
  'listTags',
  'login',
  'logout',
  'parseImageLocation',
  'parseShard',
  'parseSyncConfig',
  'ping',
  'pullArtifact',
  'pushArtifact',
  'readDaemonConfig',
  'readSyncConfig',
  'referrerTree',
  'resolveDigest',
  'search',
  'serviceConfigFrom',
  'sync',
];

const SERVER = [
  'DEFAULT_AUTH_BACKOFF_MS',
  'DEFAULT_AUTH_FAILURE_WINDOW_MS',
  'DEFAULT_AUTH_MAX_FAILURES',
  'DEFAULT_HOST',
  'DEFAULT_PORT',
  'DEFAULT_STORAGE',
  'DEFAULT_UPLOAD_PURGE_AGE_MS',
  'DEFAULT_UPLOAD_PURGE_INTERVAL_MS',
  'TokenIssuer',
  'createRegistryServer',
  'loadTokenConfig',
  'parseTokenConfig',
];

const TESTING = ['LOOPBACK_HOSTS', 'createTestPki', 'startTestRegistry'];

describe('public exports', () => {
  test('gantry exports exactly these values', () => {
    assert.deepEqual(Object.keys(gantry).sort(), MAIN);
  });

  test('gantry/server exports exactly these values', () => {
    assert.deepEqual(Object.keys(server).sort(), SERVER);
  });

  test('gantry/testing exports exactly these values', () => {
    assert.deepEqual(Object.keys(testing).sort(), TESTING);
  });

  test('the built package resolves its three entries by name, to the same lists', async () => {
    // A package may import itself by name through its own `exports` map: exactly what a user
    // of the published package gets (dist/, built by `npm test`'s pretest).
    const entries: [string, string[]][] = [['gantry', MAIN], ['gantry/server', SERVER], ['gantry/testing', TESTING]];
    for (const [name, expected] of entries) {
      const mod = (await import(name)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(mod).sort(), expected, name);
    }
    await assert.rejects(import('gantry/dist/client/registry-client.js' as string), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  });

  test('the defaults the guide documents', () => {
    assert.equal(MONOLITHIC_MAX_BYTES, 1024 * 1024);
    assert.equal(DEFAULT_CHUNK_BYTES, 8 * 1024 * 1024);
    assert.equal(UPLOAD_MAX_ATTEMPTS, 3);
    assert.equal(BLOB_RESUME_MAX_ATTEMPTS, 5);
    assert.equal(MAX_LIST_PAGE_BYTES, 16 * 1024 * 1024);
    assert.equal(MAX_COLLECTED_LIST_BYTES, 32 * 1024 * 1024);
    assert.equal(MAX_COLLECTED_LIST_ENTRIES, 1_000_000);
  });
});
