/**
 * The origins a transport knows to be a registry's own: every endpoint that negotiation
 * considered for a registry the caller named (`https://host`, `http://host` when insecure,
 * the Docker Hub mirrors the user configured). Everything else a request can reach — a
 * redirect's storage host, a token realm, a host a hostile server points at — is foreign.
 *
 * Per-origin decisions are made at the hop against this set: the user's extra headers go
 * only to registry origins, and credentials only to registry origins that are not mirrors
 * (src/auth/authorizer.ts). A hop to a foreign origin gets neither, whatever the registry
 * that redirected there was given.
 */

/** What an origin is to the transport: an endpoint of which registry, and whether a mirror of it. */
export interface RegistryOrigin {
  /** The registry as the caller named it (`localhost:5000`, `docker.io`). */
  readonly registry: string;
  /** A Docker Hub mirror: user headers yes, credentials never. */
  readonly mirror: boolean;
}

/** The set of origins that are a registry's own endpoints; a layer asks it whether a hop's origin is foreign. */
export class RegistryOrigins {
  private readonly byOrigin = new Map<string, RegistryOrigin>();

  /** Records `origin` (`https://host:port`) as an endpoint of `registry`. */
  add(origin: string, registry: string, mirror = false): void {
    const known = this.byOrigin.get(origin);
    // An origin that is a registry in its own right is never demoted to a mirror.
    if (known && !known.mirror) return;
    this.byOrigin.set(origin, Object.freeze({ registry, mirror }));
  }

  /** The registry whose endpoint `url` is, or undefined for a foreign origin. */
  get(url: URL): RegistryOrigin | undefined {
    return this.byOrigin.get(url.origin);
  }

  /** True when `url`'s origin is an endpoint of a registry (a mirror included). */
  has(url: URL): boolean {
    return this.byOrigin.has(url.origin);
  }
}
