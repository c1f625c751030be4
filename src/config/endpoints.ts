/**
 * Where to send a request for a registry, in the order to try (moby `lookupV2Endpoints`,
 * `daemon/pkg/registry/service_v2.go`). Docker Hub pulls go to the mirrors first; pushes
 * and logins never do, so the upstream's credentials never reach a mirror. An insecure
 * registry gets `https://` without certificate checks, then plain `http://`.
 */
import { ConfigError } from '../errors.js';
import { DOMAIN_RE } from '../ref/grammar.js';
import { LEGACY_DEFAULT_DOMAIN } from '../ref/reference.js';
import { goQuote } from './go-net.js';
import type { ServiceConfig } from './service-config.js';
import { INDEX_NAME } from './service-config.js';

/** Docker Hub's registry host (`DefaultRegistryHost`). */
export const DEFAULT_REGISTRY_HOST = 'registry-1.docker.io';
/** Docker Hub's registry API base (`DefaultV2Registry`). */
export const DEFAULT_V2_REGISTRY = `https://${DEFAULT_REGISTRY_HOST}`;

/** What the endpoints are for: only pulls may use mirrors. */
export type EndpointPurpose = 'pull' | 'push' | 'login';

/** One place to send a registry's requests, as tried in order: its base URL, `certs.d` name and TLS rule. */
export interface APIEndpoint {
  /**
   * The base URL of the registry API: the origin (`https://host:port/`), or for a mirror
   * configured with a path, that path as a prefix before `/v2/`.
   */
  readonly url: URL;
  /**
   * `host[:port]` as written, the name of the `certs.d` folder. (Docker itself applies no
   * `certs.d` to `registry-1.docker.io`; it uses the system roots there.)
   */
  readonly host: string;
  /** A Docker Hub mirror: registry errors from it fall back to the next endpoint. */
  readonly mirror: boolean;
  /** Whether to verify the server certificate; false on every `http://` endpoint. */
  readonly tlsVerify: boolean;
  /** Docker Hub itself (`registry-1.docker.io`), not a mirror of it. */
  readonly official: boolean;
}

export interface EndpointOptions {
  purpose: EndpointPurpose;
  /**
   * A per-command override, as skopeo's `--tls-verify`: `true` means https with
   * verification only, even for loopback and configured insecure registries; `false`
   * treats the registry as insecure (https without verification, then http). Default:
   * decided by the service configuration.
   */
  tlsVerify?: boolean;
}

/** The endpoints to try for `host` (a reference's domain, `host[:port]`), in order. */
export async function lookupEndpoints(config: ServiceConfig, host: string, options: EndpointOptions): Promise<APIEndpoint[]> {
  if (host === INDEX_NAME || host === LEGACY_DEFAULT_DOMAIN) return hubEndpoints(config, options);
  if (!DOMAIN_RE.test(host)) throw new ConfigError(`invalid registry host ${goQuote(host)}`);
  const verify = options.tlsVerify ?? (await config.isSecureIndex(host));
  const https = endpoint(`https://${host}`, host, { mirror: false, tlsVerify: verify, official: false });
  if (verify) return [https];
  return [https, endpoint(`http://${host}`, host, { mirror: false, tlsVerify: false, official: false })];
}

async function hubEndpoints(config: ServiceConfig, options: EndpointOptions): Promise<APIEndpoint[]> {
  const out: APIEndpoint[] = [];
  if (options.purpose === 'pull') {
    for (const configured of config.mirrors) {
      const mirror = /^https?:\/\//.test(configured) ? configured : `https://${configured}`;
      const host = authorityOf(mirror);
      const verify = options.tlsVerify ?? (await config.isSecureIndex(host));
      out.push(endpoint(mirror, host, { mirror: true, tlsVerify: verify, official: false }));
      if (options.tlsVerify === false && mirror.startsWith('https://')) {
        out.push(endpoint(`http://${mirror.slice('https://'.length)}`, host, { mirror: true, tlsVerify: false, official: false }));
      }
    }
  }
  // Docker Hub is always verified, unless the command explicitly turned verification off.
  const verify = options.tlsVerify ?? true;
  out.push(endpoint(DEFAULT_V2_REGISTRY, DEFAULT_REGISTRY_HOST, { mirror: false, tlsVerify: verify, official: true }));
  if (!verify) {
    out.push(endpoint(`http://${DEFAULT_REGISTRY_HOST}`, DEFAULT_REGISTRY_HOST, { mirror: false, tlsVerify: false, official: true }));
  }
  return out;
}

/** The `host[:port]` of a validated mirror URL, as written (Go's `URL.Host`). */
function authorityOf(url: string): string {
  const rest = url.slice(url.indexOf('://') + 3);
  const end = rest.search(/[/?#]/);
  return end < 0 ? rest : rest.slice(0, end);
}

function endpoint(base: string, host: string, flags: Omit<APIEndpoint, 'url' | 'host'>): APIEndpoint {
  let url: URL;
  try {
    url = new URL(base);
  } catch (err) {
    throw new ConfigError(`invalid registry host ${goQuote(host)}`, { cause: err });
  }
  return Object.freeze({ url, host, ...flags });
}
