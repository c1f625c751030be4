/**
 * The upstream of `gantry serve --proxy-remote`, on gantry's own client: the registry the cache
 * reads through is reached as any other (certs.d, insecure registries, HTTP(S)_PROXY, token
 * auth, retries, resumed and verified blob downloads). The embedded registry stands beside the
 * client stack and never imports it; it receives `connectUpstream` as its `proxy.connect`.
 *
 * The shapes below are the server's `Upstream` interface (src/server/proxy/upstream.ts), declared
 * again here so that this layer does not import the server: a mismatch fails to compile where
 * the CLI passes one to the other.
 */
import type { Readable } from 'node:stream';
import { isDockerHub } from '../auth/hostname.js';
import { connectRegistry, type RegistryAccessOptions } from '../client/connect.js';
import type { RepositoryClient } from '../client/registry-client.js';
import { ServiceConfig } from '../config/service-config.js';
import { ErrorCode, isGantryError } from '../errors.js';
import { InvalidOptionError } from '../options.js';
import { Digest } from '../ref/digest.js';

/** The registry to read through, as `gantry serve --proxy-remote` names it. */
export interface UpstreamRemote {
  /** The registry's root URL: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  readonly url: string;
  /** The user name; absent: anonymous (stored credentials are never used for a cache). */
  readonly username?: string;
  /** The password or access token, with `username`. */
  readonly password?: string;
}

/** A manifest from the upstream; `bytes` hash to `digest`. */
export interface UpstreamManifest {
  /** The digest of `bytes`. */
  readonly digest: string;
  /** The manifest's media type. */
  readonly mediaType: string;
  /** The exact bytes. */
  readonly bytes: Buffer;
}

/** What a manifest HEAD told. */
export interface UpstreamManifestHead {
  /** `Docker-Content-Digest`, when sent. */
  readonly digest?: string;
  /** The Content-Type's media type, when sent. */
  readonly mediaType?: string;
  /** Content-Length, when sent. */
  readonly size?: number;
}

/** A blob download: its size, and its bytes (checked for size; the cache checks the digest as it commits). */
export interface UpstreamBlob {
  /** The size the upstream announced (a HEAD before the GET). */
  readonly size: number;
  /** The bytes (a body longer or shorter than `size` fails); destroying it cancels the download. */
  readonly stream: Readable;
}

/** An upstream registry for a pull-through cache (the server's `Upstream`). */
export interface ConnectedUpstream {
  /** A manifest by tag or digest; undefined when the upstream has none. */
  getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined>;
  /** A manifest's digest, media type and size; undefined when the upstream has none. */
  headManifest(repository: string, reference: string): Promise<UpstreamManifestHead | undefined>;
  /** A blob's size; undefined when the upstream has none. */
  headBlob(repository: string, digest: string): Promise<{
    /** The blob's size in bytes, as the upstream said. */
    readonly size: number;
  } | undefined>;
  /** A blob download; undefined when the upstream has none. */
  getBlob(repository: string, digest: string, options?: { readonly signal?: AbortSignal }): Promise<UpstreamBlob | undefined>;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

/** The registry name gantry's client knows `url`'s host by: `docker.io` for Docker Hub's hosts. */
function registryName(url: URL): string {
  return isDockerHub(url.host) || url.host === 'registry-1.docker.io' ? 'docker.io' : url.host;
}

/** Not found, the one answer that is not an error for a cache. */
function isNotFound(err: unknown): boolean {
  return isGantryError(err) && (err.code === ErrorCode.NOT_FOUND || (err as { status?: unknown }).status === 404);
}

async function unlessNotFound<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Connects to the upstream of a pull-through cache (`createRegistryServer`'s `proxy.connect`).
 * `remote.url` is `https://host[:port]` (verified TLS unless the host is insecure by `access`'s
 * rules; loopback is) or `http://host[:port]` (the host is then treated as an insecure registry).
 * With `remote.username`, those credentials are sent to the upstream only; without, it is read
 * anonymously. `access` adds the usual transport options (certs.d, timeouts, retries, a log).
 *
 * @example
 * const server = await createRegistryServer({
 *   storage: './cache',
 *   proxy: { remoteUrl: 'https://registry-1.docker.io', connect: connectUpstream },
 * });
 */
export async function connectUpstream(remote: UpstreamRemote, access: RegistryAccessOptions = {}): Promise<ConnectedUpstream> {
  let url: URL;
  try {
    url = new URL(remote.url);
  } catch {
    throw new InvalidOptionError('connectUpstream', 'url', remote.url, 'an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError('connectUpstream', 'url', remote.url, 'an http(s) URL');
  const host = registryName(url);
  const insecure = url.protocol === 'http:' ? [url.host] : [];
  const { client, close } = await connectRegistry(host, 'pull', {
    ...access,
    ...(insecure.length > 0 && !access.config ? { config: ServiceConfig.create({ insecureRegistries: insecure }) } : {}),
    ...(remote.username !== undefined && remote.password !== undefined ? { credentials: { username: remote.username, password: remote.password } } : { anonymous: true }),
  });
  const repo = (name: string): RepositoryClient => client.repository(name);
  return {
    getManifest: (repository, reference) =>
      unlessNotFound(async () => {
        const m = await repo(repository).getManifest(reference);
        return { digest: m.digest.toString(), mediaType: m.mediaType, bytes: m.bytes };
      }),
    headManifest: (repository, reference) =>
      unlessNotFound(async () => {
        const h = await repo(repository).headManifest(reference);
        if (!h) return undefined;
        return { ...(h.digest ? { digest: h.digest.toString() } : {}), ...(h.mediaType ? { mediaType: h.mediaType } : {}), ...(h.size !== undefined ? { size: h.size } : {}) };
      }),
    headBlob: (repository, digest) =>
      unlessNotFound(async () => {
        const h = await repo(repository).headBlob(Digest.parse(digest));
        if (!h) return undefined;
        if (h.size === undefined) throw new Error(`the upstream's HEAD of blob ${digest} has no Content-Length`);
        return { size: h.size };
      }),
    getBlob: (repository, digest, options = {}) =>
      unlessNotFound(async () => {
        const d = Digest.parse(digest);
        const r = repo(repository);
        // The client verifies a download against its descriptor: the size comes first.
        const head = await r.headBlob(d, options.signal ? { signal: options.signal } : {});
        if (!head) return undefined;
        if (head.size === undefined) throw new Error(`the upstream's HEAD of blob ${digest} has no Content-Length`);
        // The cache verifies every blob itself (the storage's commit hashes it, and no client gets
        // a blob's last byte before that): hashing here too cost a cold pull a third of its CPU.
        // Size is still enforced here (Content-Length, resumes), so a longer body is cut short.
        const stream = await r.getBlob({ digest: d, size: head.size }, { verify: false, ...(options.signal ? { signal: options.signal } : {}) });
        return { size: head.size, stream };
      }),
    close,
  };
}
