/**
 * The transport: how gantry reaches registries. It owns the connection pools, the per-host
 * TLS policy and the set of registry origins, and exposes `send`, the layer stack every
 * request goes through.
 *
 * A request's path, top to bottom (the only place the order is written):
 *
 *   caller (client / auth)           builds TransportRequest
 *     │
 *     ├─ retry         idempotent requests with replayable bodies: connection errors, 408/429/5xx,
 *     │                backoff with full jitter, Retry-After; each try follows redirects anew
 *     ├─ redirect      follows ≤10 hops itself; every hop is a new request for its own origin,
 *     │                seen by every layer below; the caller's Authorization/Cookie never leave
 *     │                the first origin; never https → http
 *     ├─ (caller)      the auth layer (src/auth): credentials and challenges of the hop's origin,
 *     │                and only for a registry origin
 *     ├─ user headers  the user's extra headers, to registry origins only
 *     ├─ user-agent    on every hop, token requests included
 *     ├─ log           --debug trail, redacted
 *     └─ http          undici request; low-speed limit on the body
 *                        └─ pools → TLS policy (certs.d roots, the client pair of the origin)
 *                             → connector: TCP 30 s, TLS ≥1.2 10 s
 */
import type { LookupFunction } from 'node:net';
import { ServiceConfig } from '../config/service-config.js';
import { checkOptions } from '../options.js';
import { containersCertsRoots, defaultCertsDir } from '../tls/certs-dir.js';
import { TlsPolicy } from '../tls/policy.js';
import { RegistryOrigins } from './origins.js';
import { PoolSet } from './pools.js';
import { proxyFromEnvironment } from './proxy.js';
import { resolveTimeouts, type TimeoutOptions, type Timeouts } from './timeouts.js';
import type { Layer, Send, TransportContext } from './types.js';
import { httpSend } from './layers/http.js';
import { requestLog, type LogSink } from './layers/log.js';
import { redirect } from './layers/redirect.js';
import { retry, type RetryPolicy } from './layers/retry.js';
import { defaultUserAgent, userAgent } from './layers/user-agent.js';
import { userHeaders } from './layers/user-headers.js';

/**
 * How requests travel: registry configuration, certs.d, TLS verification, headers, proxies
 * (from the environment), retries, timeouts and logging. Every entry point takes these; an
 * option that makes no sense throws a {@link GantryError} with code `INVALID_OPTION` naming it.
 */
export interface TransportOptions {
  /** Insecure registries and mirrors. Default: loopback insecure, no mirrors. */
  readonly config?: ServiceConfig;
  /** The certs.d directory. Default: Docker's (`/etc/docker/certs.d`, rootless aware). */
  readonly certsDir?: string;
  /**
   * skopeo's `--tls-verify`: `true` forces https with verification for every registry this
   * transport reaches (loopback included); `false` treats them all as insecure.
   */
  readonly tlsVerify?: boolean;
  /** Appended to gantry's User-Agent. */
  readonly userAgent?: string;
  /**
   * Extra headers (Docker's meta headers, `X-Meta-*`, `--header`), sent to the registries'
   * own origins only: never to a redirect's storage host or a token realm.
   */
  readonly headers?: Record<string, string>;
  /** Environment for proxy variables. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** DNS lookup override (tests map names to loopback). */
  readonly lookup?: LookupFunction;
  /** Connections per origin, an integer from 1 to 1024. Default 8. */
  readonly maxConnectionsPerOrigin?: number;
  /** The `--debug` trail. Lines are already redacted. */
  readonly log?: LogSink;
  /** Layers the caller puts below redirect (the auth layer). Outermost first. */
  readonly layers?: readonly Layer[];
  /** Retries of idempotent requests (`send` only, not `sendPlain`). `false` disables them. Default: the RETRY_* constants. */
  readonly retry?: RetryPolicy | false;
  /** Time limits (connect, handshake, ping, headers, idle body, low speed). Default: Docker's. */
  readonly timeouts?: TimeoutOptions;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function checkTransportOptions(options: TransportOptions): void {
  checkOptions('Transport', options)
    .check('config', (v) => v instanceof ServiceConfig, 'a ServiceConfig')
    .string('certsDir')
    .boolean('tlsVerify')
    .check('userAgent', (v) => typeof v === 'string' && !/[\r\n]/.test(v), 'a string without line breaks')
    .check(
      'headers',
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.entries(v).every(([k, x]) => HEADER_NAME.test(k) && typeof x === 'string' && !/[\r\n\0]/.test(x)),
      'an object of header names to single-line string values',
    )
    .object('env')
    .func('lookup')
    .integer('maxConnectionsPerOrigin', 1, 1024)
    .func('log')
    .check('layers', (v) => Array.isArray(v) && v.every((l) => typeof l === 'function'), 'an array of layer functions')
    // A RetryPolicy's own fields are checked by retry() itself.
    .check('retry', (v) => v === false || (typeof v === 'object' && v !== null), 'false or a RetryPolicy');
}

export class Transport {
  readonly config: ServiceConfig;
  readonly certsDir: string;
  readonly tlsVerify: boolean | undefined;
  /** Time limits in force. */
  readonly timeouts: Timeouts;
  /** The per-host TLS policy: certs.d, the candidate client pairs, the pair each origin settled on. */
  readonly tls: TlsPolicy;
  /** The registries' own origins (recorded by endpoint negotiation). */
  readonly origins = new RegistryOrigins();
  readonly send: Send;
  /** The stack without retries and caller layers: for token and ping requests. */
  readonly sendPlain: Send;
  private readonly pools: PoolSet;

  constructor(options: TransportOptions = {}) {
    checkTransportOptions(options);
    this.config = options.config ?? ServiceConfig.create({});
    this.certsDir = options.certsDir ?? defaultCertsDir(options.env ?? process.env);
    this.tlsVerify = options.tlsVerify;
    this.timeouts = resolveTimeouts(options.timeouts, 'Transport');
    // No certs.d given: look for a host's folder as the containers tools do (their two roots,
    // then Docker's), so a CA placed for podman or skopeo is trusted too. Given: that one only.
    const searchRoots = options.certsDir === undefined ? containersCertsRoots({ env: options.env ?? process.env }) : undefined;
    this.tls = new TlsPolicy({ certsDir: this.certsDir, config: this.config, ...(searchRoots ? { searchRoots } : {}), ...(this.tlsVerify !== undefined ? { tlsVerify: this.tlsVerify } : {}) });
    this.pools = new PoolSet({
      proxy: proxyFromEnvironment(options.env ?? process.env),
      tls: this.tls,
      timeouts: this.timeouts,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.maxConnectionsPerOrigin ? { maxConnectionsPerOrigin: options.maxConnectionsPerOrigin } : {}),
    });
    const context: TransportContext = { origins: this.origins, timeouts: this.timeouts, isInsecure: async (host) => !(await this.tls.verifies(host)) };
    const bottom = httpSend({ dispatcherFor: (url) => this.pools.dispatcherFor(url), timeouts: this.timeouts });
    const below: Layer[] = [userHeaders(options.headers ?? {}, this.origins), userAgent(defaultUserAgent(options.userAgent))];
    if (options.log) below.push(requestLog(options.log));
    this.sendPlain = compose([redirect(), ...below], bottom, context);
    const retries = options.retry === false ? [] : [retry(options.retry ?? {})];
    this.send = compose([...retries, redirect(), ...(options.layers ?? []), ...below], bottom, context);
  }

  async close(): Promise<void> {
    await this.pools.close();
  }
}

export function compose(layers: readonly Layer[], bottom: Send, context: TransportContext): Send {
  return layers.reduceRight<Send>((next, layer) => layer(next, context), bottom);
}
