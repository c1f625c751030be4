/**
 * The public API, pinned at the type level (a changed signature fails `tsc`) and at run time
 * (a missing or extra export fails here): `src/index.ts` as a whole, and the distribution
 * client and retry layer modules it re-exports.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import * as client from '../../src/client/index.js';
import * as gantry from '../../src/index.js';
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

// The main entry points.
expectType<Equals<Parameters<typeof gantry.copy>[0], string | gantry.ImageLocation>>(true);
expectType<Equals<ReturnType<typeof gantry.copy>, Promise<gantry.CopyResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.inspect>, Promise<gantry.InspectResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.ping>, Promise<gantry.PingResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.listTagPages>, AsyncIterableIterator<ListPage>>>(true);
expectType<Equals<ReturnType<typeof gantry.listCatalogPages>, AsyncIterableIterator<ListPage>>>(true);
expectType<Equals<ReturnType<typeof gantry.listTags>, Promise<string[]>>>(true);
expectType<Equals<ReturnType<typeof gantry.login>, Promise<gantry.LoginResult>>>(true);
expectType<Equals<ReturnType<typeof gantry.Reference.parse>, gantry.Reference>>(true);
expectType<Equals<ConstructorParameters<typeof gantry.Transport>[0], gantry.TransportOptions | undefined>>(true);
expectType<gantry.TransportError extends gantry.GantryError ? true : false>(true);
expectType<gantry.RegistryError extends gantry.GantryError ? true : false>(true);

describe('public exports', () => {
  test('src/index.ts exports exactly these values', () => {
    assert.deepEqual(Object.keys(gantry).sort(), [
      'ACCEPT_MANIFESTS',
      'ANNOTATION_REF_NAME',
      'AuthError',
      'Authorizer',
      'BLOB_RESUME_DELAY_MS',
      'BLOB_RESUME_MAX_ATTEMPTS',
      'BODY_IDLE_TIMEOUT_MS',
      'CONNECT_TIMEOUT_MS',
      'COPY_BLOB_ATTEMPTS',
      'CertsDirError',
      'ChallengeStore',
      'ConfigError',
      'CredentialHelper',
      'CredentialsError',
      'DEFAULT_CERTS_DIR',
      'DEFAULT_CHUNK_BYTES',
      'DEFAULT_CLIENT_ID',
      'DEFAULT_COPY_JOBS',
      'DEFAULT_DAEMON_CONFIG_FILE',
      'DEFAULT_REGISTRY_HOST',
      'DOCKER_HUB_AUTH_KEY',
      'Digest',
      'DigestMismatchError',
      'DockerArchiveDestination',
      'DockerArchiveSource',
      'DockerConfigFile',
      'ErrorCode',
      'GantryError',
      'InvalidEndpointError',
      'InvalidReferenceError',
      'InvalidResponseError',
      'Keychain',
      'LOGIN_SUCCEEDED',
      'MAX_COLLECTED_LIST_BYTES',
      'MAX_COLLECTED_LIST_ENTRIES',
      'MAX_CONFIG_BYTES',
      'MAX_CONNECTIONS_PER_ORIGIN',
      'MAX_LIST_PAGES',
      'MAX_LIST_PAGE_BYTES',
      'MAX_MANIFEST_BYTES',
      'MAX_REDIRECTS',
      'MAX_REFERRERS_PAGES',
      'MAX_TOKEN_RESPONSE_BYTES',
      'MIN_TLS_VERSION',
      'MIN_TOKEN_LIFETIME_SECONDS',
      'MONOLITHIC_MAX_BYTES',
      'ManifestError',
      'MediaType',
      'NoEndpointError',
      'OciLayoutDestination',
      'OciLayoutSource',
      'PING_TIMEOUT_MS',
      'PullError',
      'RETRYABLE_STATUSES',
      'RETRY_AFTER_CAP_MS',
      'RETRY_BASE_DELAY_MS',
      'RETRY_MAX_ATTEMPTS',
      'RETRY_MAX_DELAY_MS',
      'Reference',
      'RegistryClient',
      'RegistryError',
      'RegistryImageDestination',
      'RegistryImageSource',
      'Repository',
      'RepositoryClient',
      'SearchError',
      'SearchOptionError',
      'ServiceConfig',
      'StaticKeychain',
      'TLS_HANDSHAKE_TIMEOUT_MS',
      'TokenCache',
      'Transport',
      'TransportError',
      'UPLOAD_MAX_ATTEMPTS',
      'VERSION',
      'authConfigKey',
      'authErrorFromResponse',
      'configDirectory',
      'connectRegistry',
      'convertToHostname',
      'copy',
      'copyImage',
      'createCertificateAuthority',
      'createSelfSigned',
      'defaultCertsDir',
      'deleteImage',
      'formatImageLocation',
      'formatPlatform',
      'formatScope',
      'hostCertsDir',
      'hostPlatform',
      'inspect',
      'isGantryError',
      'isImageManifest',
      'isIndex',
      'isSchema1',
      'issueCertificate',
      'listCatalog',
      'listCatalogPages',
      'listTagPages',
      'listTags',
      'login',
      'loginRegistryHost',
      'logout',
      'lookupEndpoints',
      'manifestDescriptor',
      'matchPlatform',
      'mergeScopes',
      'negotiate',
      'normalizeIndexName',
      'normalizePlatform',
      'openDestination',
      'openSource',
      'parseImageConfig',
      'parseImageLocation',
      'parseManifest',
      'parsePlatform',
      'parseRepository',
      'parseScope',
      'parseScopeList',
      'parseTokenResponse',
      'parseWwwAuthenticate',
      'ping',
      'pingPathFor',
      'rateLimitOf',
      'readCertsDirectory',
      'readDaemonConfig',
      'readRateLimit',
      'redactHeaders',
      'redactUrl',
      'referrersTag',
      'registryScope',
      'repositoryScope',
      'resolveDigest',
      'retry',
      'scopesFor',
      'search',
      'selectManifest',
      'serviceConfigFrom',
      'splitReposSearchTerm',
      'translatePullError',
      'unencryptedWarning',
      'validateIndexName',
      'validateMirror',
      'verifyingStream',
    ]);
  });

  test('the distribution client exports exactly these values', () => {
    assert.deepEqual(Object.keys(client).sort(), [
      'BLOB_RESUME_DELAY_MS',
      'BLOB_RESUME_MAX_ATTEMPTS',
      'DEFAULT_CHUNK_BYTES',
      'InvalidResponseError',
      'MAX_COLLECTED_LIST_BYTES',
      'MAX_COLLECTED_LIST_ENTRIES',
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
      'checkRetryPolicy',
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
    assert.equal(client.MAX_COLLECTED_LIST_BYTES, 32 * 1024 * 1024);
    assert.equal(client.MAX_COLLECTED_LIST_ENTRIES, 1_000_000);
  });
});
