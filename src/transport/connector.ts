/**
 * How a connection is made: TCP with its own timeout (30 s, Docker's dial timeout), then,
 * for https, the TLS handshake with its own (10 s, Docker's TLSHandshakeTimeout). undici's
 * connector does the TLS part so that session resumption keeps working; we hand it the
 * connected socket.
 */
import { connect as netConnect, type LookupFunction } from 'node:net';
import type { Socket } from 'node:net';
import { buildConnector } from 'undici';
import type { ConnectionOptions } from 'node:tls';

import { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from './timeouts.js';

export { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS };
/** TCP keep-alive probe interval (Docker's dialer KeepAlive). */
export const TCP_KEEPALIVE_MS = 30_000;

export interface ConnectorOptions {
  /** TLS options for https origins; undefined for http. */
  readonly tls?: ConnectionOptions;
  /** A DNS lookup to use instead of the system's (tests map names to loopback). */
  readonly lookup?: LookupFunction;
  /** DNS and TCP; default CONNECT_TIMEOUT_MS. */
  readonly connectMs?: number;
  /** The TLS handshake; default TLS_HANDSHAKE_TIMEOUT_MS. */
  readonly handshakeMs?: number;
}

class ConnectTimeoutError extends Error {
  readonly code = 'UND_ERR_CONNECT_TIMEOUT';
  constructor(host: string, port: number, ms: number) {
    super(`connect timed out after ${ms / 1000}s to ${host}:${port}`);
  }
}

export function createConnector(options: ConnectorOptions): buildConnector.connector {
  const connectMs = options.connectMs ?? CONNECT_TIMEOUT_MS;
  const tlsConnect = options.tls ? buildConnector({ ...(options.tls as buildConnector.BuildOptions), timeout: options.handshakeMs ?? TLS_HANDSHAKE_TIMEOUT_MS }) : undefined;
  return (opts, callback) => {
    if (opts.httpSocket) {
      // Already connected (a proxy tunnel): only the TLS part is ours.
      if (!tlsConnect) return callback(null, opts.httpSocket);
      return tlsConnect(opts, callback);
    }
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
    const socket: Socket = netConnect({ host: opts.hostname, port, noDelay: true, ...(options.lookup ? { lookup: options.lookup } : {}) });
    let done = false;
    const finish = (err: Error | null, s: Socket | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        callback(err, null);
      } else if (tlsConnect) {
        tlsConnect({ ...opts, httpSocket: s! }, callback);
      } else {
        callback(null, s!);
      }
    };
    const onError = (err: Error) => finish(err, null);
    const timer = setTimeout(() => finish(new ConnectTimeoutError(opts.hostname, port, connectMs), null), connectMs);
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    socket.once('error', onError);
    socket.once('connect', () => finish(null, socket));
  };
}
