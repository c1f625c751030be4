/**
 * A hostile registry fixture: small HTTP(S) servers on several loopback addresses
 * (127.0.0.1, 127.0.0.2, 127.0.0.3 stand for three hosts), each with a script the test
 * sets, each recording every request and header it receives, so a test can assert what
 * each host was sent. Helpers script the attacks: redirects, challenges naming foreign
 * realms, bodies that drip, lists that paginate forever. Every loop is bounded.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  /** CN of the client certificate presented, over https with `requestCert`. */
  readonly clientCn?: string;
}

export type Script = (req: IncomingMessage, res: ServerResponse, host: HostileHost) => void;

export interface HostileHost {
  /** 127.0.0.x */
  readonly address: string;
  readonly port: number;
  /** `127.0.0.x:PORT` */
  readonly host: string;
  /** `http(s)://127.0.0.x:PORT` */
  readonly origin: string;
  /** Every request this host received, in order. */
  readonly received: Received[];
  /** What the host does with a request; replace it per test. Default: 404. */
  script: Script;
  /** Every header value this host received, joined: for "no secret reached this host" checks. */
  allHeaderText(): string;
  close(): Promise<void>;
}

export interface HostileOptions {
  /** Serve https with this certificate (it must name the addresses); `requestCert` asks for (and records) a client certificate. */
  readonly tls?: { cert: string; key: string; requestCert?: boolean };
}

const notFound: Script = (_req, res) => {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"errors":[{"code":"NOT_FOUND","message":"nothing here"}]}');
};

/** Starts one hostile host on `address` (a loopback address), port 0. */
export async function startHostileHost(address: string, options: HostileOptions = {}): Promise<HostileHost> {
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, requestCert: options.tls.requestCert ?? false, rejectUnauthorized: false })
    : createHttpServer();
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, address);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const host: HostileHost = {
    address,
    port,
    host: `${address}:${port}`,
    origin: `${options.tls ? 'https' : 'http'}://${address}:${port}`,
    received: [],
    script: notFound,
    allHeaderText() {
      return this.received.map((r) => JSON.stringify(r.headers)).join('\n');
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as TLSSocket;
    const cn = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate()?.subject?.CN : undefined;
    host.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, ...(cn ? { clientCn: String(cn) } : {}) });
    try {
      host.script(req, res, host);
    } catch (err) {
      res.writeHead(500);
      res.end(String(err));
    }
  });
  return host;
}

/** Three hosts: a (127.0.0.1), b (127.0.0.2), c (127.0.0.3). */
export async function startHostileHosts(options: HostileOptions = {}): Promise<{ a: HostileHost; b: HostileHost; c: HostileHost; close(): Promise<void> }> {
  const [a, b, c] = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((addr) => startHostileHost(addr, options)));
  return { a: a!, b: b!, c: c!, close: async () => void (await Promise.all([a!.close(), b!.close(), c!.close()])) };
}

/** Answers a redirect to `location`. */
export function redirectTo(res: ServerResponse, location: string, status = 307): void {
  res.writeHead(status, { location, 'content-length': '0' });
  res.end();
}

/** Answers 401 with these `WWW-Authenticate` values. */
export function challenge(res: ServerResponse, ...values: string[]): void {
  res.writeHead(401, { 'www-authenticate': values, 'content-type': 'application/json' });
  res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
}

/**
 * Sends `body` a few bytes at a time, `bytesPerTick` every `intervalMs`, for at most `maxMs`
 * (then the connection is cut). The first `head` bytes go at once.
 */
export function drip(req: IncomingMessage, res: ServerResponse, body: Buffer, options: { bytesPerTick: number; intervalMs: number; maxMs: number; head?: number; status?: number; headers?: Record<string, string> }): void {
  const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
  const start = range ? Number(range[1]) : 0;
  const part = body.subarray(start);
  res.writeHead(range ? 206 : (options.status ?? 200), {
    'content-length': String(part.length),
    ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    ...(options.headers ?? {}),
  });
  let offset = Math.min(options.head ?? 0, part.length);
  if (offset > 0) res.write(part.subarray(0, offset));
  const started = Date.now();
  const timer = setInterval(() => {
    if (res.destroyed || offset >= part.length) {
      clearInterval(timer);
      if (!res.destroyed) res.end();
      return;
    }
    if (Date.now() - started > options.maxMs) {
      clearInterval(timer);
      res.destroy();
      return;
    }
    const next = Math.min(part.length, offset + options.bytesPerTick);
    res.write(part.subarray(offset, next));
    offset = next;
  }, options.intervalMs);
  res.on('close', () => clearInterval(timer));
}

/** Headers and the first `head` bytes, then silence until the client gives up (or `maxMs`). */
export function stallBody(res: ServerResponse, total: number, head: number, maxMs: number): void {
  res.writeHead(200, { 'content-length': String(total), 'content-type': 'application/octet-stream' });
  res.write(Buffer.alloc(head, 0x61));
  const t = setTimeout(() => res.destroy(), maxMs);
  res.on('close', () => clearTimeout(t));
}
