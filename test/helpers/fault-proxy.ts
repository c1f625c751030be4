/**
 * A reverse proxy on 127.0.0.1 in front of a real registry that misbehaves on purpose, the
 * way networks and overloaded registries do: it resets connections part-way through a
 * response or an upload, answers 503 or 429 with `Retry-After`, drips a response slowly, or
 * ends a body short of its `Content-Length`. Faults are programmed per request (method and
 * path pattern, a number of times); random cut offsets come from a seeded PRNG so a failing
 * run can be reproduced. Every request is recorded with its `Range` header and, for a cut,
 * how many body bytes crossed before it, so tests can check that a resumed GET asks for
 * `bytes=<offset reached>-`; each rule counts how many times it fired, so a test can check
 * that its fault happened at all.
 *
 * Bodies stream through (backpressure honoured both ways); nothing is held whole.
 * `Location` headers that point at the upstream are rewritten to the proxy, so an upload
 * session keeps going through it.
 */
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Reset the client connection after `afterBytes` body bytes of the response (random within the body when omitted). */
  | { readonly kind: 'reset-response'; readonly afterBytes?: number }
  /** Reset the client connection after `afterBytes` bytes of the request body reached the upstream (random when omitted). */
  | { readonly kind: 'reset-request'; readonly afterBytes?: number }
  /** Let the upstream handle the request, then reset the client before it sees the answer (the work is done, the reply lost). */
  | { readonly kind: 'lose-response' }
  /** Answer with this status without asking the upstream (503 by default), with an optional `Retry-After`. */
  | { readonly kind: 'status'; readonly status?: number; readonly retryAfter?: string }
  /** Forward the response `chunkBytes` every `intervalMs` for `forMs`, then at full speed. */
  | { readonly kind: 'drip'; readonly chunkBytes?: number; readonly intervalMs?: number; readonly forMs?: number }
  /** Send `afterBytes` body bytes (random when omitted) of a response that announced more, then end the connection cleanly. */
  | { readonly kind: 'truncate'; readonly afterBytes?: number };

export interface FaultRule {
  /** Only requests with this method (any when omitted). */
  readonly method?: string;
  /** Tested against the request's path and query. */
  readonly path: RegExp;
  /** How many matching requests get the fault (default 1; `Infinity` for all). */
  readonly times?: number;
  readonly fault: Fault;
}

/** A rule as added: `fired` counts the requests it has faulted so far, so a test can tell a fault that never matched. */
export interface ProgrammedFault {
  readonly rule: FaultRule;
  readonly fired: number;
}

export interface ProxiedRequest {
  readonly method: string;
  /** Path and query as the client sent them. */
  readonly url: string;
  /** The `Range` header, when there was one. */
  readonly range: string | undefined;
  /** The status the client got (undefined when the upstream never answered). */
  status?: number;
  /** The fault applied, if any. */
  readonly fault: Fault['kind'] | undefined;
  /** For a cut (reset or truncate): body bytes that crossed before it. */
  cutAfter?: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, as it goes into an image reference. */
  readonly host: string;
  readonly url: string;
  /** Every request, in arrival order. */
  readonly requests: ProxiedRequest[];
  /** Adds a rule; rules are tried in order and the first one with faults left applies. */
  add(rule: FaultRule): ProgrammedFault;
  /** Drops all rules (the record stays). */
  clearFaults(): void;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The upstream origin, e.g. `http://127.0.0.1:5000`. */
  readonly upstream: string;
  /** Seed of the PRNG that picks random cut offsets. Default 1. */
  readonly seed?: number;
  /**
   * Before a cut, the proxy waits this long after the last byte left its socket, so the
   * client has consumed everything that was sent and the cut offset is exactly what it
   * holds (a client may drop bytes it had buffered but not consumed when the connection
   * breaks; it then asks for them again, which is correct but not what the tests pin).
   */
  readonly settleMs?: number;
}

const DEFAULT_SETTLE_MS = 100;
const DRIP_CHUNK_BYTES = 16 * 1024;
const DRIP_INTERVAL_MS = 50;
const DRIP_FOR_MS = 1000;
/** Offsets when a response does not say its length. */
const UNKNOWN_LENGTH = 64 * 1024;

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

/** mulberry32: a small seeded PRNG, numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves on the stream's next 'drain' or 'close', whichever comes first. */
function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Writes `chunk`, waiting for the socket to drain (or close) when its buffer is full. */
async function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.destroyed) throw new Error('client gone');
  if (!res.write(chunk)) await drained(res);
}

/** Resolves once everything written so far has left the socket. */
function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.write(Buffer.alloc(0), () => resolve())));
}

function abruptly(socket: Socket): void {
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const random = seededRandom(options.seed ?? 1);
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const rules: { rule: FaultRule; left: number; fired: number }[] = [];
  const requests: ProxiedRequest[] = [];
  const agent = new http.Agent({ keepAlive: true });
  let origin = '';

  const offset = (given: number | undefined, length: number): number => given ?? 1 + Math.floor(random() * Math.max(1, length - 1));

  const take = (req: IncomingMessage): Fault | undefined => {
    for (const r of rules) {
      if (r.left <= 0 || (r.rule.method && r.rule.method !== req.method) || !r.rule.path.test(req.url ?? '')) continue;
      r.left--;
      r.fired++;
      return r.rule.fault;
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const fault = take(req);
    const record: ProxiedRequest = { method: req.method ?? '', url: req.url ?? '', range: req.headers.range, fault: fault?.kind };
    requests.push(record);
    const socket = req.socket;

    if (fault?.kind === 'status') {
      req.resume();
      const status = fault.status ?? 503;
      const body = JSON.stringify({ errors: [{ code: status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', message: `fault proxy: ${status}` }] });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
      res.end(body);
      record.status = status;
      return;
    }

    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: upstream.host };
    for (const h of HOP_BY_HOP) delete headers[h];
    const upstreamReq = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent });
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      upstreamReq.once('response', resolve);
      upstreamReq.once('error', reject);
    });
    answered.catch(() => undefined);
    // A client that goes away mid-exchange takes the upstream request with it.
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });

    // The request body: forwarded whole, or cut after `afterBytes` with a reset.
    if (fault?.kind === 'reset-request') {
      const length = Number(req.headers['content-length'] ?? UNKNOWN_LENGTH);
      const cut = offset(fault.afterBytes, length);
      let sent = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        const part = chunk.subarray(0, cut - sent);
        sent += part.length;
        if (!upstreamReq.write(part)) await drained(upstreamReq);
        if (sent >= cut) break;
      }
      record.cutAfter = sent;
      await sleep(settleMs);
      abruptly(socket);
      upstreamReq.destroy();
      return;
    }
    req.pipe(upstreamReq);

    let ures: IncomingMessage;
    try {
      ures = await answered;
    } catch {
      abruptly(socket);
      return;
    }
    record.status = ures.statusCode;
    if (fault?.kind === 'lose-response') {
      await once(ures.resume(), 'end').catch(() => undefined);
      abruptly(socket);
      return;
    }
    const out: http.OutgoingHttpHeaders = { ...ures.headers };
    for (const h of HOP_BY_HOP) delete out[h];
    const location = ures.headers.location;
    if (location?.startsWith(upstream.origin)) out.location = origin + location.slice(upstream.origin.length);
    res.writeHead(ures.statusCode ?? 502, ures.statusMessage, out);

    if (fault?.kind === 'reset-response' || fault?.kind === 'truncate') {
      const length = Number(ures.headers['content-length'] ?? UNKNOWN_LENGTH);
      const cut = offset(fault.afterBytes, length);
      let sent = 0;
      res.flushHeaders();
      for await (const chunk of ures as AsyncIterable<Buffer>) {
        const part = chunk.subarray(0, cut - sent);
        sent += part.length;
        await write(res, part);
        if (sent >= cut) break;
      }
      record.cutAfter = sent;
      ures.destroy();
      await flushed(socket);
      await sleep(settleMs);
      if (fault.kind === 'truncate') socket.end(); // a clean FIN: the body is short of its Content-Length, nothing else is wrong
      else abruptly(socket);
      return;
    }
    if (fault?.kind === 'drip') {
      const chunkBytes = fault.chunkBytes ?? DRIP_CHUNK_BYTES;
      const until = Date.now() + (fault.forMs ?? DRIP_FOR_MS);
      for await (const chunk of ures as AsyncIterable<Buffer>) {
        for (let i = 0; i < chunk.length; ) {
          const dripping = Date.now() < until;
          const n = dripping ? chunkBytes : chunk.length - i;
          await write(res, chunk.subarray(i, i + n));
          i += n;
          if (dripping) await sleep(fault.intervalMs ?? DRIP_INTERVAL_MS);
        }
      }
      res.end();
      return;
    }
    ures.once('error', () => abruptly(socket)); // the upstream died mid-body: so does the client's response
    ures.pipe(res);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => abruptly(req.socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    url: origin,
    requests,
    add: (rule) => {
      const entry = { rule, left: rule.times ?? 1, fired: 0 };
      rules.push(entry);
      return {
        rule,
        get fired() {
          return entry.fired;
        },
      };
    },
    clearFaults: () => void rules.splice(0),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}
