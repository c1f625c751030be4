/**
 * The public API of the distribution client and the retry layer, pinned at the type level
 * (a changed signature fails `tsc`) and at run time (a missing or extra export fails here).
 *
 * The names are imported from the modules that `src/index.ts` re-exports; once they are
 * wired into `src/index.ts`, the import can point there without other changes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import * as client from '../../src/client/index.js';
import type {
  BlobHead,
  BlobStream,
  ListPage,
  ManifestHead,
  ManifestResult,
  OpenBlobStream,
  PutManifestResult,
  RateLimit,
  ReferrersResult,
  RegistryClient,
  RegistryClientOptions,
  RepositoryClient,
  UploadOptions,
  UploadResult,
} from '../../src/client/index.js';
import * as retryLayer from '../../src/transport/layers/retry.js';
import type { RetryPolicy } from '../../src/transport/layers/retry.js';
import type { MountingDestination } from '../../src/image/copy.js';
import type { ImageSource } from '../../src/image/types.js';
import type { Layer } from '../../src/transport/types.js';
import type { Digest } from '../../src/ref/digest.js';

/** `true` only when A and B are the same type. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok: T): void {}

// The shapes callers rely on.
expectType<Equals<Parameters<typeof client.RegistryClient.create>[0], RegistryClientOptions>>(true);
expectType<Equals<ReturnType<typeof client.RegistryClient.create>, RegistryClient>>(true);
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
expectType<Equals<ReturnType<typeof retryLayer.retry>, Layer>>(true);
expectType<Equals<Parameters<typeof retryLayer.retry>[0], RetryPolicy | undefined>>(true);
// A blob stream is a Readable; the registry pair plugs into the copy engine.
expectType<BlobStream extends Readable ? true : false>(true);
expectType<client.RegistryImageSource extends ImageSource ? true : false>(true);
expectType<client.RegistryImageDestination extends MountingDestination ? true : false>(true);

describe('public exports', () => {
  test('the distribution client exports exactly these values', () => {
    assert.deepEqual(Object.keys(client).sort(), [
      'BLOB_RESUME_DELAY_MS',
      'BLOB_RESUME_MAX_ATTEMPTS',
      'DEFAULT_CHUNK_BYTES',
      'InvalidResponseError',
      'MAX_LIST_PAGES',
      'MAX_LIST_PAGE_BYTES',
      'MAX_REFERRERS_PAGES',
      'MONOLITHIC_MAX_BYTES',
      'PullError',
      'RegistryClient',
      'RegistryImageDestination',
      'RegistryImageSource',
      'RepositoryClient',
      'UPLOAD_MAX_ATTEMPTS',
      'rateLimitOf',
      'readRateLimit',
      'referrersTag',
      'translatePullError',
    ]);
  });

  test('the retry layer exports its policy constants', () => {
    assert.deepEqual(Object.keys(retryLayer).sort(), [
      'RETRYABLE_STATUSES',
      'RETRY_AFTER_CAP_MS',
      'RETRY_BASE_DELAY_MS',
      'RETRY_MAX_ATTEMPTS',
      'RETRY_MAX_DELAY_MS',
      'abortableSleep',
      'backoffDelay',
      'isReplayable',
      'retry',
    ]);
  });

  test('every default is a number with the documented value', () => {
    assert.equal(client.MONOLITHIC_MAX_BYTES, 1024 * 1024);
    assert.equal(client.DEFAULT_CHUNK_BYTES, 8 * 1024 * 1024);
    assert.equal(client.UPLOAD_MAX_ATTEMPTS, 3);
    assert.equal(client.BLOB_RESUME_MAX_ATTEMPTS, 5);
    assert.equal(client.MAX_LIST_PAGE_BYTES, 16 * 1024 * 1024);
  });
});
