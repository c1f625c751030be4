/**
 * The distribution API of one registry (OCI distribution-spec v1.1, Docker registry API v2):
 * a `RegistryClient` per host, a `RepositoryClient` per repository. The client negotiates
 * the endpoint once (https, then http for insecure hosts; mirrors for Docker Hub pulls) and
 * builds every URL from it, so a mirror's path prefix is kept.
 *
 * Every request names the token scopes it needs, so the auth layer (when the transport has
 * one) asks for one token per operation: `pull` for reads, `pull,push` for a push session,
 * `delete` for deletes, `registry:catalog:*` for the catalog. Without an auth layer the
 * scopes are simply not used.
 */
import type { Readable } from 'node:stream';
import type { EndpointPurpose } from '../config/endpoints.js';
import type { Descriptor } from '../oci/descriptor.js';
import { InvalidOptionError } from '../options.js';
import { Digest } from '../ref/digest.js';
import { repositoryScope, type Scope } from '../ref/scope.js';
import { Reference, Repository } from '../ref/reference.js';
import { negotiate, type PingResult } from '../transport/endpoint.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import type { TransportRequest, TransportResponse } from '../transport/types.js';
import { getBlob, headBlob, deleteBlob, type BlobHead, type GetBlobOptions, type BlobStream } from './blobs.js';
import {
  deleteManifest,
  getManifest,
  headManifest,
  putManifest,
  type GetManifestOptions,
  type ManifestHead,
  type ManifestResult,
  type PutManifestResult,
} from './manifests.js';
import { catalogPages, tagPages, flatten, type ListOptions, type ListPage } from './pagination.js';
import { putReferrer, referrers, type PutReferrerResult, type ReferrersOptions, type ReferrersResult } from './referrers.js';
import { mountBlob, uploadBlob, type OpenBlobStream, type UploadOptions, type UploadResult } from './uploads.js';
import { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
import type { Access, Query } from './target.js';

/** Options for `RegistryClient.create`: the registry, the transport (shared or its own) and what the client is for. */
export interface RegistryClientOptions {
  /** The registry as it appears in references: `host[:port]`, or `docker.io` for Docker Hub. */
  readonly host: string;
  /**
   * A transport to share (its pools, TLS decisions and auth layer). Not closed by `close()`.
   * @internal `connectRegistry` passes its own; callers give `transportOptions`.
   */
  readonly transport?: Transport;
  /** Options for a transport of the client's own, closed by `close()`. Ignored with `transport`. */
  readonly transportOptions?: TransportOptions;
  /**
   * What the client is for. `pull` (the default) may use Docker Hub mirrors; `push` never
   * does, so a push cannot land on a mirror and upstream credentials never reach one.
   */
  readonly purpose?: EndpointPurpose;
  /** Told the ping's result once the endpoint is negotiated (the auth layer learns challenges from it). */
  readonly onEndpoint?: (ping: PingResult) => void;
}

export type { Access } from './target.js';

/**
 * A client for one registry: negotiates its endpoint once (https, then http for insecure
 * registries; Docker Hub mirrors for pulls), lists its catalog, and hands out a
 * {@link RepositoryClient} per repository. {@link connectRegistry} makes one with
 * credentials; `RegistryClient.create` makes an anonymous one. Close it when done.
 */
export class RegistryClient {
  /** `host[:port]` as given. */
  readonly host: string;
  /** @internal The transport every request goes through. */
  readonly transport: Transport;
  /** What the client is for: `pull` may use Docker Hub mirrors, `push` and `login` never do. */
  readonly purpose: EndpointPurpose;
  /** The rate limit the registry announced on its latest answer, if it does (Docker Hub). */
  lastRateLimit: RateLimit | undefined;
  private readonly ownsTransport: boolean;
  private readonly onEndpoint: ((ping: PingResult) => void) | undefined;
  private negotiation: Promise<PingResult> | undefined;

  private constructor(options: RegistryClientOptions) {
    if (typeof options?.host !== 'string' || !options.host || /[/\s]/.test(options.host)) {
      throw new InvalidOptionError('RegistryClient.create', 'host', options?.host, 'a registry host[:port] without scheme or path');
    }
    this.host = options.host;
    this.purpose = options.purpose ?? 'pull';
    this.onEndpoint = options.onEndpoint;
    this.ownsTransport = !options.transport;
    this.transport = options.transport ?? new Transport(options.transportOptions ?? {});
  }

  /** A client for `options.host`; nothing is sent until the first request. */
  static create(options: RegistryClientOptions): RegistryClient {
    return new RegistryClient(options);
  }

  /**
   * The endpoint that answered the ping, negotiated once (the promise is shared by
   * concurrent callers and forgotten on failure, so a later call tries again).
   */
  endpoint(): Promise<PingResult> {
    if (!this.negotiation) {
      const p = negotiate(this.transport, this.host, this.purpose).then((ping) => {
        this.onEndpoint?.(ping);
        return ping;
      });
      this.negotiation = p;
      p.catch(() => {
        if (this.negotiation === p) this.negotiation = undefined;
      });
    }
    return this.negotiation;
  }

  /** @internal `<endpoint>/v2/<path>` with `query` (undefined values left out). */
  async url(path: string, query: Query = {}): Promise<URL> {
    const { endpoint } = await this.endpoint();
    const base = endpoint.url.href.endsWith('/') ? endpoint.url.href : `${endpoint.url.href}/`;
    const url = new URL(`v2/${path}`, base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** @internal Sends through the transport's full stack (retry, auth, redirect). */
  async send(req: TransportRequest): Promise<TransportResponse> {
    const res = await this.transport.send(req);
    const rl = readRateLimit(res.headers);
    if (rl) this.lastRateLimit = rl;
    return res;
  }

  /** A client for `path` (`library/ubuntu`) on this registry. */
  repository(path: string | Repository): RepositoryClient {
    const repo = typeof path === 'string' ? Repository.from(this.host, path) : path;
    return new RepositoryClient(this, repo);
  }

  /** A client for the repository of `ref`, which must be on this registry. */
  repositoryClient(ref: Reference | string): RepositoryClient {
    const r = typeof ref === 'string' ? Reference.parse(ref) : ref;
    if (r.repository.domain !== this.host) {
      throw new TypeError(`RegistryClient for ${this.host}: ${r.familiar()} is on another registry (${r.repository.domain})`);
    }
    return new RepositoryClient(this, r.repository);
  }

  /** Every repository name in the registry (`GET /v2/_catalog`), page by page underneath. */
  catalog(options: ListOptions = {}): AsyncIterableIterator<string> {
    return flatten(catalogPages(this, options), (p) => p.items);
  }

  /** The catalog as pages, with each page's rate limit. */
  catalogPages(options: ListOptions = {}): AsyncIterableIterator<ListPage> {
    return catalogPages(this, options);
  }

  /** Closes the transport when the client created it. */
  async close(): Promise<void> {
    if (this.ownsTransport) await this.transport.close();
  }
}

/**
 * The distribution API on one repository: manifests, blobs, uploads, tags, referrers. Every
 * download is checked for size and digest as it streams, every request asks for the token
 * scopes it needs. Get one from {@link RegistryClient.repository}. (Methods only; the work
 * lives in one module per job.)
 */
export class RepositoryClient {
  /** The registry this repository is on. */
  readonly client: RegistryClient;
  /** The repository's name (registry and path). */
  readonly repository: Repository;

  /** @internal Use {@link RegistryClient.repository}. */
  constructor(client: RegistryClient, repository: Repository) {
    this.client = client;
    this.repository = repository;
  }

  /** The path inside the registry, e.g. `library/ubuntu`. */
  get path(): string {
    return this.repository.path;
  }

  /** The token scopes for `access` (push scopes name push first: some registries read only the first). */
  scopes(access: Access): Scope[] {
    if (access === 'push') return [repositoryScope(this.path, ['push', 'pull'])];
    if (access === 'delete') return [repositoryScope(this.path, ['delete'])];
    return [repositoryScope(this.path, ['pull'])];
  }

  /** @internal `/v2/<path>/<rest>`. */
  url(rest: string, query: Query = {}): Promise<URL> {
    return this.client.url(`${this.path}/${rest}`, query);
  }

  /** A reference to `tagOrDigest` in this repository, for messages and results. */
  reference(target: string | Digest | Reference): Reference {
    if (target instanceof Reference) return target;
    if (target instanceof Digest) return Reference.of(this.repository, { digest: target });
    return target.includes(':') ? Reference.of(this.repository, { digest: Digest.parse(target) }) : Reference.of(this.repository, { tag: target });
  }

  /**
   * A manifest by tag or digest, with its exact bytes and the digest computed from them. A
   * manifest asked for by digest must hash to it; `Docker-Content-Digest` is checked; at most
   * 4 MiB. With `options.platform`, an index is resolved to that platform's image (the index
   * is returned as `index`).
   */
  getManifest(target: string | Digest | Reference, options: GetManifestOptions = {}): Promise<ManifestResult> {
    return getManifest(this, this.reference(target), options);
  }

  /** The digest, media type and size of a manifest; undefined when the registry has none (404). */
  headManifest(target: string | Digest | Reference, options: GetManifestOptions = {}): Promise<ManifestHead | undefined> {
    return headManifest(this, this.reference(target), options);
  }

  /**
   * Stores `bytes` as they are under a tag or digest, sent with `Content-Type: mediaType`. A
   * digest target must be the digest of `bytes`.
   */
  putManifest(target: string | Digest, bytes: Buffer, mediaType: string, options: { signal?: AbortSignal } = {}): Promise<PutManifestResult> {
    return putManifest(this, typeof target === 'string' && target.includes(':') ? Digest.parse(target) : target, bytes, mediaType, options);
  }

  /** Deletes a manifest by digest (a tag, where the registry allows deleting tags). */
  deleteManifest(target: string | Digest, options: { signal?: AbortSignal } = {}): Promise<void> {
    return deleteManifest(this, typeof target === 'string' && target.includes(':') ? Digest.parse(target) : target, options);
  }

  /** A blob's size and digest; undefined when the repository has no such blob (404). */
  headBlob(digest: Digest | string, options: { signal?: AbortSignal } = {}): Promise<BlobHead | undefined> {
    return headBlob(this, typeof digest === 'string' ? Digest.parse(digest) : digest, options);
  }

  /** A blob as a stream that fails unless its bytes match `desc` (size and digest). */
  getBlob(desc: Pick<Descriptor, 'digest' | 'size'>, options: GetBlobOptions = {}): Promise<BlobStream> {
    return getBlob(this, desc, options);
  }

  /** Deletes a blob from the repository. */
  deleteBlob(digest: Digest | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    return deleteBlob(this, typeof digest === 'string' ? Digest.parse(digest) : digest, options);
  }

  /** Uploads a blob unless it is there; mounts it from `mountFrom` when the registry can. */
  uploadBlob(desc: Pick<Descriptor, 'digest' | 'size'>, openStream: OpenBlobStream | (() => Readable), options: UploadOptions = {}): Promise<UploadResult> {
    return uploadBlob(this, desc, openStream as OpenBlobStream, options);
  }

  /** Mounts a blob from another repository of this registry; false when the registry would not. */
  mountBlob(desc: Pick<Descriptor, 'digest' | 'size'>, from: string | Repository, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return mountBlob(this, desc, typeof from === 'string' ? from : from.path, options);
  }

  /** The repository's tags, following the registry's pages (`n`, `last`, `Link`). */
  tags(options: ListOptions = {}): AsyncIterableIterator<string> {
    return flatten(tagPages(this, options), (p) => p.items);
  }

  /** The repository's tags as the registry's pages, each with its rate limit. */
  tagPages(options: ListOptions = {}): AsyncIterableIterator<ListPage> {
    return tagPages(this, options);
  }

  /**
   * Pushes a manifest with a `subject` by its digest and makes it a referrer of the subject:
   * indexed by the registry (`OCI-Subject`), else added to the `sha256-<hex>` referrers tag
   * with a read-modify-write that never drops another writer's entry.
   */
  putReferrer(bytes: Buffer, mediaType: string, options: { signal?: AbortSignal } = {}): Promise<PutReferrerResult> {
    return putReferrer(this, bytes, mediaType, options);
  }

  /** The manifests whose `subject` is `digest` (referrers API, else the `sha256-<hex>` tag). */
  referrers(digest: Digest | string, options: ReferrersOptions = {}): Promise<ReferrersResult> {
    return referrers(this, typeof digest === 'string' ? Digest.parse(digest) : digest, options);
  }
}
