/**
 * The transport: how gantry reaches registries. It owns the connection pools and the
 * per-origin TLS decisions, and exposes `send`, the layer stack every request goes through.
 *
 * A request's path, top to bottom (the only place the order is written):
 *
 *   caller (client / auth)           builds TransportRequest
 *     │
 *     ├─ retry       idempotent requests with replayable bodies: connection errors, 408/429/5xx,
 *     │              backoff with full jitter, Retry-After; above auth, so each try is the
 *     │              authenticated request and a 401 is auth's business, not a retry
 *     ├─ auth        (added by src/auth: challenges, tokens; sits above redirect)
 *     ├─ redirect    follows ≤10 hops itself; Authorization only back to the first origin
 *     ├─ user-agent  User-Agent and X-Meta-* on every hop, token requests included
 *     ├─ log         --debug trail, redacted
 *     └─ http        undici request on the pool of (origin, TLS profile, proxy)
 *                      └─ pools → connector: TCP 30 s, TLS ≥1.2 10 s, certs.d roots/client pair
 */
import type { LookupFunction } from 'node:net';
import { defaultCertsDir, hostCertsDir, readCertsDirectory, type CertsDirectory } from '../tls/certs-dir.js';
import type { TlsProfile } from '../tls/profile.js';
import { ServiceConfig } from '../config/service-config.js';
import { PoolSet } from './pools.js';
import { proxyFromEnvironment } from './proxy.js';
import type { Layer, Send } from './types.js';
import { httpSend } from './layers/http.js';
import { requestLog, type LogSink } from './layers/log.js';
import { redirect } from './layers/redirect.js';
import { retry, type RetryPolicy } from './layers/retry.js';
import { defaultUserAgent, userAgent } from './layers/user-agent.js';

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
  /** Extra headers on every request (Docker's meta headers, `X-Meta-*`). */
  readonly headers?: Record<string, string>;
  /** Environment for proxy variables. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** DNS lookup override (tests map names to loopback). */
  readonly lookup?: LookupFunction;
  /** Connections per origin. */
  readonly maxConnectionsPerOrigin?: number;
  /** The `--debug` trail. Lines are already redacted. */
  readonly log?: LogSink;
  /** Layers the caller puts on top of redirect (the auth layer). Outermost first. */
  readonly layers?: readonly Layer[];
  /** Retries of idempotent requests (`send` only, not `sendPlain`). `false` disables them. Default: the RETRY_* constants. */
  readonly retry?: RetryPolicy | false;
}

export class Transport {
  readonly config: ServiceConfig;
  readonly certsDir: string;
  readonly tlsVerify: boolean | undefined;
  readonly send: Send;
  /** The bottom of the stack without caller layers: for token and ping requests. */
  readonly sendPlain: Send;
  private readonly pools: PoolSet;
  private readonly certsCache = new Map<string, Promise<CertsDirectory>>();
  /** Profiles decided by endpoint negotiation (the client pair that worked), by origin. */
  private readonly chosen = new Map<string, TlsProfile>();
  /** Profiles of origins no negotiation chose for (redirect targets, token realms), by origin. */
  private readonly defaults = new Map<string, Promise<TlsProfile>>();

  constructor(options: TransportOptions = {}) {
    this.config = options.config ?? ServiceConfig.create({});
    this.certsDir = options.certsDir ?? defaultCertsDir(options.env ?? process.env);
    this.tlsVerify = options.tlsVerify;
    this.pools = new PoolSet({
      proxy: proxyFromEnvironment(options.env ?? process.env),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.maxConnectionsPerOrigin ? { maxConnectionsPerOrigin: options.maxConnectionsPerOrigin } : {}),
    });
    const bottom = httpSend({ dispatcherFor: (url, tls) => this.pools.dispatcherFor(url, tls), profileFor: (url) => this.profileFor(url) });
    const stack: Layer[] = [redirect(), userAgent(defaultUserAgent(options.userAgent), options.headers ?? {})];
    if (options.log) stack.push(requestLog(options.log));
    this.sendPlain = compose(stack, bottom);
    const retries = options.retry === false ? [] : [retry(options.retry ?? {})];
    this.send = compose([...retries, ...(options.layers ?? [])], this.sendPlain);
  }

  /** A host's certs.d folder, read once per transport. */
  certsFor(host: string): Promise<CertsDirectory> {
    let p = this.certsCache.get(host);
    if (!p) {
      p = readCertsDirectory(hostCertsDir(this.certsDir, host));
      this.certsCache.set(host, p);
      p.catch(() => this.certsCache.delete(host));
    }
    return p;
  }

  /** Whether TLS to `host` is verified: the override, else Docker's insecure-registry rule. */
  async verifies(host: string): Promise<boolean> {
    if (this.tlsVerify !== undefined) return this.tlsVerify;
    return this.config.isSecureIndex(host);
  }

  /**
   * The TLS profile of an https origin: the one endpoint negotiation chose, else certs.d's
   * roots with its first client pair, verified unless the host is insecure.
   */
  async profileFor(url: URL): Promise<TlsProfile | undefined> {
    if (url.protocol !== 'https:') return undefined;
    const chosen = this.chosen.get(url.origin);
    if (chosen) return chosen;
    // Decided once per origin: the insecure check may resolve the host (CIDR rules), which
    // must not happen on every request to a storage or token host.
    let p = this.defaults.get(url.origin);
    if (!p) {
      p = (async () => {
        const certs = await this.certsFor(url.host);
        const client = certs.clients[0];
        return { verify: await this.verifies(url.host), ca: certs.ca, certsDir: certs.dir, ...(client ? { client } : {}) };
      })();
      this.defaults.set(url.origin, p);
      p.catch(() => this.defaults.delete(url.origin));
    }
    return p;
  }

  /** Remembers the profile that worked for an origin, for the life of the transport. */
  rememberProfile(origin: string, profile: TlsProfile): void {
    this.chosen.set(origin, profile);
  }

  async close(): Promise<void> {
    await this.pools.close();
  }
}

export function compose(layers: readonly Layer[], bottom: Send): Send {
  return layers.reduceRight<Send>((next, layer) => layer(next), bottom);
}
