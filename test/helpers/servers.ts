/**
 * Small real servers for transport tests: http and https (optionally requiring a client
 * certificate) that record what they saw, and a CONNECT proxy that maps every host to
 * loopback and records the targets it was asked for.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type LookupFunction } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  /** CN of the client certificate, when one was presented. */
  clientCn?: string;
}

export interface TestServer {
  port: number;
  /** `127.0.0.1:PORT` */
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export const registryHandler: Handler = (req, res) => {
  if (req.url === '/v2/') {
    res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
    res.end('{}');
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
};

async function listen(server: Server, handler: Handler, seen: Seen[]): Promise<TestServer> {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const sock = req.socket as TLSSocket;
    const cn = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate()?.subject?.CN : undefined;
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, ...(cn ? { clientCn: String(cn) } : {}) });
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host: `127.0.0.1:${port}`,
    seen,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export function startHttpServer(handler: Handler = registryHandler): Promise<TestServer> {
  return listen(createHttpServer(), handler, []);
}

export interface HttpsOptions {
  cert: string;
  key: string;
  /** Require a client certificate signed by one of these CAs. */
  clientCa?: string[];
}

export function startHttpsServer(opts: HttpsOptions, handler: Handler = registryHandler): Promise<TestServer> {
  const server = createHttpsServer({
    cert: opts.cert,
    key: opts.key,
    ...(opts.clientCa ? { ca: opts.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  });
  return listen(server, handler, []);
}

export interface TestProxy {
  port: number;
  url: string;
  /** `host:port` of every CONNECT received. */
  connects: string[];
  close(): Promise<void>;
}

/**
 * A CONNECT proxy that sends every tunnel to 127.0.0.1: on the port asked for, or on
 * `targetPort` whatever host and port were asked for.
 */
export async function startConnectProxy(targetPort?: number): Promise<TestProxy> {
  const connects: string[] = [];
  const server = createHttpServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on('connect', (req: IncomingMessage, client, head: Buffer) => {
    connects.push(req.url ?? '');
    const port = targetPort ?? Number((req.url ?? '').split(':').pop());
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connects,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A DNS lookup mapping every `*.test` name to 127.0.0.1 (and everything else to failure). */
export const testLookup: LookupFunction = (hostname, options, callback) => {
  const cb = callback as unknown as (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void;
  if (!hostname.endsWith('.test')) {
    const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    cb(err, '', 4);
    return;
  }
  if ((options as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};
