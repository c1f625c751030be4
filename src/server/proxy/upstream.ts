/**
 * What the pull-through cache needs from the registry it caches: manifests and blobs read by
 * repository, as verified values and streams. The server never talks HTTP to the upstream
 * itself (it stands beside the client stack, docs/architecture.md); whoever starts it passes a
 * connector that builds one of these. gantry's own is `connectUpstream` (src/upstream/, on
 * gantry's client: certs.d, proxies, token auth, retries, verification), which `gantry serve
 * --proxy-remote` uses.
 *
 * Not found is `undefined`, never an error. Anything else that goes wrong throws; an error that
 * carries the upstream's HTTP `status` (gantry's `RegistryError` does) is answered by that kind:
 * 401 and 403 as DENIED, 429 as TOOMANYREQUESTS, everything else as UNAVAILABLE (503).
 */
import type { Readable } from 'node:stream';

/** The upstream registry as configured: where it is and who to be there. */
export interface UpstreamRemote {
  /** The registry's root URL: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  readonly url: string;
  /** The user name for the upstream; absent: anonymous. */
  readonly username?: string;
  /** The password or access token, with `username`. */
  readonly password?: string;
}

/** A manifest as the upstream sent it, checked: `bytes` hash to `digest`. */
export interface UpstreamManifest {
  /** `sha256:…` of `bytes`. */
  readonly digest: string;
  /** Its media type (the manifest's `mediaType`, else the Content-Type). */
  readonly mediaType: string;
  /** The exact bytes (at most 4 MiB). */
  readonly bytes: Buffer;
}

/** What a manifest HEAD told; a field the upstream did not send is undefined. */
export interface UpstreamManifestHead {
  /** `Docker-Content-Digest`. */
  readonly digest?: string;
  /** The Content-Type's media type. */
  readonly mediaType?: string;
  /** Content-Length. */
  readonly size?: number;
}

/** A blob being downloaded from the upstream. */
export interface UpstreamBlob {
  /** The blob's size in bytes, known before the first byte. */
  readonly size: number;
  /**
   * The bytes; destroying the stream cancels the download. The cache checks them itself (size
   * and digest, as storage commits the blob) before anything is stored or any client gets a
   * blob's last byte, so the stream need not hash them; it should fail (an 'error') when the
   * upstream's body breaks or runs past `size`.
   */
  readonly stream: Readable;
}

/** One upstream registry, read through. */
export interface Upstream {
  /** A manifest by tag or digest; undefined when the upstream has none. */
  getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined>;
  /** A manifest's digest without its body (tag revalidation); undefined when the upstream has none. */
  headManifest(repository: string, reference: string): Promise<UpstreamManifestHead | undefined>;
  /** A blob's size; undefined when the upstream has none. */
  headBlob(repository: string, digest: string): Promise<{
    /** The blob's size in bytes, as the upstream said. */
    readonly size: number;
  } | undefined>;
  /** Starts a blob download; undefined when the upstream has none. `signal` cancels it. */
  getBlob(repository: string, digest: string, options?: { readonly signal?: AbortSignal }): Promise<UpstreamBlob | undefined>;
  /** Releases the upstream's connections (the server calls it when it closes). */
  close(): Promise<void>;
}

/** Builds the {@link Upstream} for a remote; called once when the server starts. */
export type UpstreamConnector = (remote: UpstreamRemote) => Upstream | Promise<Upstream>;
