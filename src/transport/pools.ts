/**
 * Connection pools, one per (origin, TLS profile, proxy): the bottom of the transport,
 * where roots, client certificates, proxies, keep-alive and timeouts live. Nothing above
 * this file sees them.
 */
import type { LookupFunction } from 'node:net';
import { Pool, ProxyAgent, type Dispatcher } from 'undici';
import { profileKey, tlsConnectOptions, type TlsProfile } from '../tls/profile.js';
import { createConnector, TLS_HANDSHAKE_TIMEOUT_MS } from './connector.js';
import { proxyFor, type ProxyEnvironment } from './proxy.js';

/** Connections kept per origin: enough for parallel blob streams, bounded so a big image
 *  does not open a handshake per layer (node-http-stack.md §2.1). */
export const MAX_CONNECTIONS_PER_ORIGIN = 8;
/** Idle keep-alive (Docker's IdleConnTimeout). */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** Time to wait for response headers. Generous: a registry may verify a large upload first. */
export const HEADERS_TIMEOUT_MS = 300_000;
/** Idle time allowed between two chunks of a body: blob streams have an idle timeout, not a total one. */
export const BODY_IDLE_TIMEOUT_MS = 60_000;

export interface PoolSetOptions {
  readonly proxy: ProxyEnvironment;
  readonly lookup?: LookupFunction;
  readonly maxConnectionsPerOrigin?: number;
}

export class PoolSet {
  private readonly pools = new Map<string, Dispatcher>();
  private closed = false;

  constructor(private readonly options: PoolSetOptions) {}

  /** The dispatcher for `url` with `tls` (ignored for http). */
  dispatcherFor(url: URL, tls: TlsProfile | undefined): Dispatcher {
    if (this.closed) throw new Error('transport is closed');
    const proxy = proxyFor(url, this.options.proxy);
    const https = url.protocol === 'https:';
    const key = `${url.origin}|${https && tls ? profileKey(tls) : ''}|${proxy?.href ?? ''}`;
    let d = this.pools.get(key);
    if (!d) {
      d = this.create(url, https ? tls : undefined, proxy);
      this.pools.set(key, d);
    }
    return d;
  }

  private create(url: URL, tls: TlsProfile | undefined, proxy: URL | undefined): Dispatcher {
    const connections = this.options.maxConnectionsPerOrigin ?? MAX_CONNECTIONS_PER_ORIGIN;
    const common = { connections, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, bodyTimeout: BODY_IDLE_TIMEOUT_MS };
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
        ...(tlsOptions ? { requestTls: { ...(tlsOptions as object), timeout: TLS_HANDSHAKE_TIMEOUT_MS } } : {}),
        ...common,
      } as ProxyAgent.Options);
    }
    return new Pool(url.origin, { ...common, connect: createConnector({ ...(tlsOptions ? { tls: tlsOptions } : {}), ...(this.options.lookup ? { lookup: this.options.lookup } : {}) }) });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((d) => d.close()));
  }
}
