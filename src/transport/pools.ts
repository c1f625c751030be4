/**
 * Connection pools, one per (origin, TLS profile, proxy): the bottom of the transport,
 * where roots, client certificates, proxies, keep-alive and timeouts live. The TLS profile
 * of each request is asked of the per-host TLS policy (src/tls/policy.ts) here, for the
 * origin the request goes to: nothing above this file decides or carries it.
 */
import type { LookupFunction } from 'node:net';
import { Pool, ProxyAgent, type Dispatcher } from 'undici';
import type { TlsPolicy } from '../tls/policy.js';
import { profileKey, tlsConnectOptions, type TlsProfile } from '../tls/profile.js';
import { createConnector } from './connector.js';
import { proxyFor, type ProxyEnvironment } from './proxy.js';
import { BODY_IDLE_TIMEOUT_MS, HEADERS_TIMEOUT_MS, type Timeouts } from './timeouts.js';

export { BODY_IDLE_TIMEOUT_MS, HEADERS_TIMEOUT_MS };

/** Connections kept per origin: enough for parallel blob streams, bounded so a big image
 *  does not open a handshake per layer. */
export const MAX_CONNECTIONS_PER_ORIGIN = 8;
/** Idle keep-alive (Docker's IdleConnTimeout). */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;

export interface PoolSetOptions {
  readonly proxy: ProxyEnvironment;
  readonly tls: TlsPolicy;
  readonly timeouts: Timeouts;
  readonly lookup?: LookupFunction;
  readonly maxConnectionsPerOrigin?: number;
}

export class PoolSet {
  private readonly pools = new Map<string, Dispatcher>();
  private closed = false;

  constructor(private readonly options: PoolSetOptions) {}

  /** The dispatcher for a request to `url`, with the TLS profile the policy holds for its origin. */
  async dispatcherFor(url: URL): Promise<Dispatcher> {
    const tls = url.protocol === 'https:' ? await this.options.tls.profileFor(url) : undefined;
    if (this.closed) throw new Error('transport is closed');
    const proxy = proxyFor(url, this.options.proxy);
    const key = `${url.origin}|${tls ? profileKey(tls) : ''}|${proxy?.href ?? ''}`;
    let d = this.pools.get(key);
    if (!d) {
      d = this.create(url, tls, proxy);
      this.pools.set(key, d);
    }
    return d;
  }

  private create(url: URL, tls: TlsProfile | undefined, proxy: URL | undefined): Dispatcher {
    const t = this.options.timeouts;
    const connections = this.options.maxConnectionsPerOrigin ?? MAX_CONNECTIONS_PER_ORIGIN;
    const common = { connections, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: t.headersMs, bodyTimeout: t.bodyIdleMs };
    const tlsOptions = tls ? tlsConnectOptions(tls) : undefined;
    if (proxy) {
      // The host's TLS profile applies inside the tunnel (requestTls), not to the proxy.
      const auth = proxy.username ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` : undefined;
      const uri = new URL(proxy.href);
      uri.username = '';
      uri.password = '';
      return new ProxyAgent({
        uri: uri.href,
        ...(auth ? { token: auth } : {}),
        ...(tlsOptions ? { requestTls: { ...(tlsOptions as object), timeout: t.handshakeMs } } : {}),
        ...common,
      } as ProxyAgent.Options);
    }
    return new Pool(url.origin, {
      ...common,
      connect: createConnector({ connectMs: t.connectMs, handshakeMs: t.handshakeMs, ...(tlsOptions ? { tls: tlsOptions } : {}), ...(this.options.lookup ? { lookup: this.options.lookup } : {}) }),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((d) => d.close()));
  }
}
