/**
 * The v1 index endpoint `docker search` talks to (docs/docker-rules.md#search; moby
 * `daemon/pkg/registry/search_endpoint_v1.go`): the base URL derived from the index's
 * credential key, and the `_ping` that validates a private index, trying http only for
 * insecure registries. Docker Hub is never pinged and never reached over http.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { hostCertsDir } from '../tls/certs-dir.js';
import { readPrefix } from '../transport/body.js';
import { header } from '../transport/types.js';
import type { Transport } from '../transport/transport.js';
import { SearchOptionError } from './filters.js';

/** Docker Hub's v1 index, which search uses as is (`IndexServer`). */
export const INDEX_SERVER = 'https://index.docker.io/v1/';

/** The most of a `_ping` body read: it is `true` or `{"standalone": …}`. */
const MAX_PING_BODY_BYTES = 64 * 1024;

/** A v1 endpoint: `base` is the URL without `/v1/` (`https://host:5000`, `https://host/prefix`). */
export interface V1Endpoint {
  readonly base: URL;
}

/** The endpoint's string form, `<base>/v1/`, as Docker prints it in errors and builds URLs from. */
export function v1EndpointString(endpoint: V1Endpoint): string {
  return `${endpoint.base.href.replace(/\/$/, '')}/v1/`;
}

/**
 * `newV1EndpointFromStr` + `trimV1Address`: `https://` added when the address has neither
 * `http://` nor `https://`; a trailing `/` trimmed; `/v2` refused; a trailing `/v1` dropped.
 */
export function parseV1Endpoint(address: string): V1Endpoint {
  const withScheme = address.startsWith('http://') || address.startsWith('https://') ? address : `https://${address}`;
  const trimmed = withScheme.endsWith('/') ? withScheme.slice(0, -1) : withScheme;
  if (trimmed.endsWith('/v2')) throw new SearchOptionError(`search is not supported on v2 endpoints: ${withScheme}`);
  const base = trimmed.endsWith('/v1') ? trimmed.slice(0, -3) : trimmed;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new SearchOptionError(`invalid registry endpoint ${JSON.stringify(address)}: not a valid URL`);
  }
  return { base: url };
}

/** What a `_ping` says: whether the index is a standalone registry (not delegating auth to Hub). */
export interface V1PingResult {
  readonly standalone: boolean;
}

/**
 * `v1Endpoint.ping`: any HTTP answer counts (a 401 with a Basic challenge validates). The
 * `X-Docker-Registry-Standalone` header decides when present (`1` or `true`, any case, is
 * standalone); otherwise a JSON `{"standalone": bool}` body, defaulting to standalone when
 * the body says nothing or is not that object (a body of `true` included).
 */
export async function pingV1(transport: Transport, endpoint: V1Endpoint, signal?: AbortSignal): Promise<V1PingResult> {
  if (v1EndpointString(endpoint) === INDEX_SERVER) return { standalone: false };
  const url = new URL(`${v1EndpointString(endpoint)}_ping`);
  const res = await transport.sendPlain({ method: 'GET', url, timeout: 'ping', ...(signal ? { signal } : {}) });
  const flag = header(res.headers, 'x-docker-registry-standalone');
  if (flag) {
    await res.body.dump().catch(() => undefined);
    return { standalone: flag === '1' || flag.toLowerCase() === 'true' };
  }
  return { standalone: await standaloneFromBody(res.body) };
}

async function standaloneFromBody(body: Parameters<typeof readPrefix>[0]): Promise<boolean> {
  // A body that breaks off leaves a prefix that does not parse: the default below.
  const text = (await readPrefix(body, MAX_PING_BODY_BYTES)).toString('utf8');
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      // Go matches JSON keys without regard to case.
      const key = Object.keys(json).find((k) => k.toLowerCase() === 'standalone');
      const v = key === undefined ? undefined : (json as Record<string, unknown>)[key];
      if (typeof v === 'boolean') return v;
    }
  } catch {
    // Docker ignores a body it cannot decode and assumes sane defaults.
  }
  return true;
}

/** A v1 index that answered neither over https nor (when allowed) over http. */
export class InvalidEndpointError extends GantryError {
  constructor(code: ErrorCode, message: string, cause: unknown) {
    super(code, message, { cause });
    this.name = 'InvalidEndpointError';
  }
}

const codeOf = (err: unknown): ErrorCode => (err instanceof GantryError ? err.code : ErrorCode.NO_ENDPOINT);
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * `newV1Endpoint`: the endpoint of an index and its ping. Docker Hub is taken as valid. For
 * any other index `_ping` is tried over https; when that fails, a secure index gets Docker's
 * advice (the certs folder named is this transport's), an insecure one a second try over http.
 */
export async function resolveV1Endpoint(transport: Transport, address: string, indexName: string, signal?: AbortSignal): Promise<{ endpoint: V1Endpoint; ping: V1PingResult }> {
  const parsed = parseV1Endpoint(address);
  if (v1EndpointString(parsed) === INDEX_SERVER) return { endpoint: parsed, ping: { standalone: false } };
  const https = new URL(parsed.base.href);
  https.protocol = 'https:';
  const endpoint: V1Endpoint = { base: https };
  // The index searched is a registry origin (user headers go there); so is its http fallback when insecure.
  transport.origins.add(https.origin, indexName);
  try {
    return { endpoint, ping: await pingV1(transport, endpoint, signal) };
  } catch (e1) {
    // A cancelled search is not a reason to try plain http.
    if (signal?.aborted) throw e1;
    if (await transport.tls.verifies(indexName)) {
      const host = https.host;
      throw new InvalidEndpointError(
        codeOf(e1),
        `invalid registry endpoint ${v1EndpointString(endpoint)}: ${messageOf(e1)}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, ` +
          `please add \`--insecure-registry ${host}\` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, ` +
          `no need for the flag; simply place the CA certificate at ${hostCertsDir(transport.certsDir, host)}/ca.crt`,
        e1,
      );
    }
    const http = new URL(https.href);
    http.protocol = 'http:';
    const fallback: V1Endpoint = { base: http };
    transport.origins.add(http.origin, indexName);
    try {
      return { endpoint: fallback, ping: await pingV1(transport, fallback, signal) };
    } catch (e2) {
      throw new InvalidEndpointError(codeOf(e1), `invalid registry endpoint ${JSON.stringify(v1EndpointString(fallback))}. HTTPS attempt: ${messageOf(e1)}. HTTP attempt: ${messageOf(e2)}`, e2);
    }
  }
}
