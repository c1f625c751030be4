/**
 * Endpoint negotiation: which URL, scheme and client certificate reach a registry.
 * Docker's order (docs/docker-rules.md): Hub pulls try each mirror, then
 * registry-1.docker.io; other hosts `https://host`, then `http://host` only when insecure,
 * and never once https reached the server. Within an https endpoint, certs.d client pairs
 * are tried in file-name order (the 2013–2014 Docker behaviour the docs still describe):
 * when the server refuses the handshake, or the ping answers 403, 404 or 5xx, the next
 * pair is tried, and the pair that worked is remembered for the host.
 */
import { lookupEndpoints, type APIEndpoint, type EndpointPurpose } from '../config/endpoints.js';
import { ErrorCode, GantryError } from '../errors.js';
import { checkOptions, InvalidOptionError } from '../options.js';
import { drainBody } from './body.js';
import { errorCodeOf, isUntrustedCertificate, TransportError } from './errors.js';
import { Transport, type TransportOptions } from './transport.js';
import { headerValues } from './types.js';

import { PING_TIMEOUT_MS } from './timeouts.js';

export { PING_TIMEOUT_MS };

/** One try of a ping: an endpoint's `/v2/` URL, with one client certificate or none. */
export interface PingAttempt {
  /** The `/v2/` URL tried. */
  readonly url: string;
  /** The client certificate presented (its file name in the certs.d folder); undefined when none was. */
  readonly clientCertificate?: string;
  /** The HTTP status it answered; undefined when the try failed. */
  readonly status?: number;
  /** Why the try failed, without the `METHOD URL: ` prefix; undefined when it got a status. */
  readonly error?: string;
}

/** What a successful {@link ping} found: the endpoint that answered, its TLS and certs.d facts, and every try. */
export interface PingResult {
  /** The registry as asked for (`host[:port]`). */
  readonly registry: string;
  /** The endpoint that answered. */
  readonly endpoint: APIEndpoint;
  /** `<endpoint>/v2/`. */
  readonly url: string;
  /** Whether the server's certificate was verified (false for http and insecure https). */
  readonly tlsVerified: boolean;
  /** The certs.d folder consulted for this endpoint (also when it does not exist). */
  readonly certsDir: string;
  /** Whether that certs.d folder exists. */
  readonly certsDirExists: boolean;
  /** The client certificate presented, after any fallback (file name in certsDir). */
  readonly clientCertificate?: string;
  /** The HTTP status `/v2/` answered with, e.g. 200, or 401 when the registry wants credentials. */
  readonly status: number;
  /** Raw `WWW-Authenticate` values of a 401. */
  readonly challenges: readonly string[];
  /** `Docker-Distribution-Api-Version`, when sent. */
  readonly apiVersion?: string;
  /** Every try, in order, for diagnostics. */
  readonly attempts: readonly PingAttempt[];
}

/** No endpoint answered; `attempts` says what each try met. */
export class NoEndpointError extends GantryError {
  readonly attempts: readonly PingAttempt[];
  constructor(message: string, attempts: readonly PingAttempt[], cause: unknown) {
    const code = cause instanceof GantryError ? cause.code : ErrorCode.NO_ENDPOINT;
    super(code, message, { cause, retryable: cause instanceof GantryError && cause.retryable });
    this.name = 'NoEndpointError';
    this.attempts = attempts;
  }
}

const NEXT_PAIR_STATUS = (s: number) => s === 403 || s === 404 || s >= 500;
/** Errors that mean "the server refused this client certificate": a TLS alert, or the socket cut during the handshake. */
const REFUSED_CERT = /^(UND_ERR_SOCKET|ECONNRESET|EPIPE|ERR_SSL_|ERR_TLS_|ERR_OSSL_)/;

/** An error's message without its `METHOD URL: ` prefix (the attempt names the URL). */
function describe(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^[A-Z]+ \S+: /, '');
}

/**
 * Pings `/v2/` on each endpoint of `host` until one answers, trying client pairs in order.
 * Every endpoint considered is recorded as one of the registry's own origins (user headers
 * go there; credentials too, unless it is a mirror). The TLS policy holds the candidate
 * pairs: a refused pair moves its origin to the next one, the pair that answers is settled.
 */
export async function negotiate(transport: Transport, host: string, purpose: EndpointPurpose = 'pull'): Promise<PingResult> {
  const endpoints = await lookupEndpoints(transport.config, host, { purpose, ...(transport.tlsVerify !== undefined ? { tlsVerify: transport.tlsVerify } : {}) });
  for (const endpoint of endpoints) transport.origins.add(endpoint.url.origin, host, endpoint.mirror);
  const attempts: PingAttempt[] = [];
  const httpsReached = new Set<string>();
  let lastError: unknown;
  let firstError: unknown;
  for (const endpoint of endpoints) {
    if (endpoint.url.protocol === 'http:' && httpsReached.has(endpoint.url.host)) continue;
    const url = new URL('v2/', endpoint.url.href.endsWith('/') ? endpoint.url : `${endpoint.url.href}/`);
    const certs = await transport.tls.certsFor(url.host);
    for (;;) {
      const profile = await transport.tls.profileFor(url);
      const client = profile?.client;
      try {
        const res = await transport.sendPlain({ method: 'GET', url, timeout: 'ping' });
        await drainBody(res.body);
        attempts.push({ url: url.href, status: res.status, ...(client ? { clientCertificate: client.certFile } : {}) });
        if (endpoint.url.protocol === 'https:') httpsReached.add(endpoint.url.host);
        if (client && NEXT_PAIR_STATUS(res.status) && (await transport.tls.refuse(url, profile))) continue;
        await transport.tls.settle(url, profile);
        const apiVersion = headerValues(res.headers, 'docker-distribution-api-version')[0];
        return {
          registry: host,
          endpoint,
          url: url.href,
          tlsVerified: profile?.verify ?? false,
          certsDir: certs.dir,
          certsDirExists: certs.exists,
          ...(client ? { clientCertificate: client.certFile } : {}),
          status: res.status,
          challenges: res.status === 401 ? headerValues(res.headers, 'www-authenticate') : [],
          ...(apiVersion ? { apiVersion } : {}),
          attempts,
        };
      } catch (err) {
        const error = isUntrustedCertificate(err) ? untrusted(err, url, certs.dir) : err;
        attempts.push({ url: url.href, error: describe(error), ...(client ? { clientCertificate: client.certFile } : {}) });
        firstError ??= error;
        lastError = error;
        const code = (err instanceof TransportError ? err.cause_code : errorCodeOf(err)) ?? '';
        if (client && REFUSED_CERT.test(code) && (await transport.tls.refuse(url, profile))) continue;
        await transport.tls.reset(url);
        break;
      }
    }
  }
  if (attempts.length === 1) throw lastError;
  // Several endpoints failed: say what each met; keep the first (https) error's code.
  const lines = attempts.map((a) => `${a.url}${a.clientCertificate ? ` (client certificate ${a.clientCertificate})` : ''}: ${a.error ?? `status ${a.status}`}`);
  throw new NoEndpointError(`no endpoint of ${host} answered: ${lines.join('; ')}`, attempts, firstError ?? lastError);
}

/** Docker's advice for an unknown CA, naming the folder to put `ca.crt` in. */
/** The endpoint that failed names itself: a mirror's or Docker Hub's host, not the registry asked for. */
function untrusted(err: unknown, url: URL, certsDir: string): GantryError {
  const base = err instanceof Error ? err.message : String(err);
  const host = url.host;
  return new TransportError(
    ErrorCode.TLS,
    'GET',
    url,
    `${base.replace(/^GET \S+: /, '')}. The registry's certificate is not signed by a trusted authority: ` +
      `if you have its CA certificate, place it at ${certsDir}/ca.crt; if the registry supports only HTTP or HTTPS with an unknown CA certificate, ` +
      `add --insecure-registry ${host}`,
    { cause: err, causeCode: err instanceof TransportError ? err.cause_code : errorCodeOf(err) },
  );
}

/** Options for {@link ping}: the {@link TransportOptions} of its own transport, and what the endpoints are for. */
export interface PingOptions extends TransportOptions {
  /** Which endpoints to try: `pull` may use Docker Hub mirrors, `push` and `login` never do. Default `push`. */
  readonly purpose?: EndpointPurpose;
}

/** Pings a registry with a transport of its own: the library call behind `gantry ping`. */
export async function ping(host: string, options: PingOptions = {}): Promise<PingResult> {
  if (typeof host !== 'string' || host === '') throw new InvalidOptionError('ping', 'host', host, 'a registry host[:port]');
  checkOptions('ping', options).oneOf('purpose', ['pull', 'push', 'login']);
  const transport = new Transport(options);
  try {
    return await negotiate(transport, host, options.purpose ?? 'push');
  } finally {
    await transport.close();
  }
}
