/**
 * What the distribution API's job modules (manifests, blobs, uploads, pagination, referrers)
 * need of a registry and of a repository: URLs built on the negotiated endpoint, the send
 * that goes through the transport's stack, and the token scopes of each kind of access.
 * `RegistryClient` and `RepositoryClient` (registry-client.ts) are these and hand themselves
 * to the job modules; the job modules know only this file, so the imports run one way.
 */
import type { Digest } from '../ref/digest.js';
import type { Reference, Repository } from '../ref/reference.js';
import type { Scope } from '../ref/scope.js';
import type { TransportRequest, TransportResponse } from '../transport/types.js';

/** What a request needs: the token scopes of a repository for one kind of operation. */
export type Access = 'pull' | 'push' | 'delete';

/** Query parameters of a registry URL; undefined values are left out. */
export type Query = Record<string, string | number | undefined>;

/** A registry as the job modules use it. */
export interface RegistryTarget {
  /** `host[:port]` as given. */
  readonly host: string;
  /** `<endpoint>/v2/<path>` with `query`, once the endpoint is negotiated. */
  url(path: string, query?: Query): Promise<URL>;
  /** Sends through the transport's full stack (retry, auth, redirect), noting the rate limit. */
  send(req: TransportRequest): Promise<TransportResponse>;
}

/** A repository of a registry as the job modules use it. */
export interface RepositoryTarget {
  /** The registry the repository is on. */
  readonly client: RegistryTarget;
  /** The repository's name. */
  readonly repository: Repository;
  /** The path inside the registry, e.g. `library/ubuntu`. */
  readonly path: string;
  /** The token scopes for `access`. */
  scopes(access: Access): Scope[];
  /** `/v2/<path>/<rest>` with `query`. */
  url(rest: string, query?: Query): Promise<URL>;
  /** A reference to `target` in this repository, for messages and results. */
  reference(target: string | Digest | Reference): Reference;
}
