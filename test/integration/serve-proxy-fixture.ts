/**
 * What the pull-through cache tests share: images pushed to a real docker-registry upstream,
 * a recording reverse proxy between the cache and the upstream (it counts and times every
 * request, can slow a blob down or flip one of its bytes), and a `gantry serve` in proxy mode
 * on gantry's own upstream client.
 */
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { connectRegistry } from '../../src/client/connect.js';
import { Digest } from '../../src/ref/digest.js';
import { createRegistryServer, type RegistryProxyOptions, type RegistryServer } from '../../src/server/index.js';
import { connectUpstream } from '../../src/upstream/connect-upstream.js';
import { prngDigest, prngStream } from '../helpers/client-fixtures.js';
import { makeImage, makeIndex } from '../helpers/image-fixture.js';

/** An image as pushed: its top manifest's digest and every blob and child manifest. */
export interface SeededImage {
  digest: string;
  mediaType: string;
  /** Blob and child-manifest digests. */
  parts: string[];
}

/** Pushes a fixture image (an index of two platforms, or one image) to `host/repository:tag`. */
export async function seedImage(host: string, repository: string, tag: string, options: { seed?: string; index?: boolean; credentials?: { username: string; password: string } } = {}): Promise<SeededImage> {
  const { client, close } = await connectRegistry(host, 'push', options.credentials ? { credentials: options.credentials } : { anonymous: true });
  try {
    const repo = client.repository(repository);
    const pushImage = async (image: Awaited<ReturnType<typeof makeImage>>): Promise<void> => {
      for (const [digest, bytes] of image.blobs) await repo.uploadBlob({ digest: Digest.parse(digest), size: bytes.length }, () => Readable.from([bytes]));
    };
    if (options.index) {
      const { index, children } = await makeIndex();
      for (const child of children) {
        await pushImage(child);
        await repo.putManifest(child.manifest.digest, child.manifest.bytes, child.manifest.mediaType);
      }
      await repo.putManifest(tag, index.bytes, index.mediaType);
      const parts = children.flatMap((c) => [c.manifest.digest.toString(), ...c.blobs.keys()]);
      return { digest: index.digest.toString(), mediaType: index.mediaType, parts };
    }
    const image = await makeImage({ seed: options.seed ?? tag });
    await pushImage(image);
    await repo.putManifest(tag, image.manifest.bytes, image.manifest.mediaType);
    return { digest: image.manifest.digest.toString(), mediaType: image.manifest.mediaType, parts: [...image.blobs.keys()] };
  } finally {
    await close();
  }
}

/** Uploads a pseudo-random blob of `size` bytes to `host/repository`; returns its digest. */
export async function seedBlob(host: string, repository: string, size: number, seed: number): Promise<string> {
  const digest = await prngDigest(size, seed);
  const { client, close } = await connectRegistry(host, 'push', { anonymous: true });
  try {
    await client.repository(repository).uploadBlob({ digest, size }, () => prngStream(size, seed));
  } finally {
    await close();
  }
  return digest.toString();
}

/** One request the proxy forwarded, with its times (ms since the epoch). */
export interface ForwardedRequest {
  method: string;
  path: string;
  status?: number;
  started: number;
  /** When the last byte of the answer left for the cache. */
  ended?: number;
  bytes: number;
}

export interface RecordingProxy {
  url: string;
  requests: ForwardedRequest[];
  /** GETs (or `method`s) whose path matches. */
  count(path: RegExp, method?: string): number;
  /** Answers to GETs whose path matches go at `bytesPerSecond`. */
  throttle(path: RegExp, bytesPerSecond: number): void;
  /** The next `times` GET answers whose path matches have byte `offset` flipped. */
  corrupt(path: RegExp, offset: number, times?: number): void;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A reverse proxy on 127.0.0.1 in front of `upstream` that records every request. */
export async function startRecordingProxy(upstream: string): Promise<RecordingProxy> {
  const target = new URL(upstream);
  const requests: ForwardedRequest[] = [];
  const throttles: { path: RegExp; rate: number }[] = [];
  const corruptions: { path: RegExp; offset: number; left: number }[] = [];
  const agent = new http.Agent({ keepAlive: true });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: ForwardedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', started: Date.now(), bytes: 0 };
    requests.push(record);
    const headers = { ...req.headers, host: target.host };
    const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent });
    req.pipe(out);
    const [answer] = (await once(out, 'response')) as [IncomingMessage];
    record.status = answer.statusCode;
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    const isGet = req.method === 'GET';
    const rate = isGet ? throttles.find((t) => t.path.test(record.path))?.rate : undefined;
    const flip = isGet ? corruptions.find((c) => c.left > 0 && c.path.test(record.path)) : undefined;
    if (flip) flip.left--;
    const t0 = Date.now();
    for await (const chunk of answer as AsyncIterable<Buffer>) {
      let c = chunk;
      if (flip && record.bytes <= flip.offset && flip.offset < record.bytes + c.length) {
        c = Buffer.from(c);
        const at = flip.offset - record.bytes;
        c[at] = c[at]! ^ 0xff;
      }
      record.bytes += c.length;
      if (!res.write(c)) await once(res, 'drain');
      if (rate) {
        const due = t0 + (record.bytes / rate) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    }
    res.end();
    await once(res, 'finish');
    record.ended = Date.now();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (path, method = 'GET') => requests.filter((r) => r.method === method && path.test(r.path)).length,
    throttle: (path, rate) => void throttles.push({ path, rate }),
    corrupt: (path, offset, times = 1) => void corruptions.push({ path, offset, left: times }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}

/** A running cache and the log lines it wrote. */
export interface RunningCache {
  server: RegistryServer;
  /** `127.0.0.1:PORT`. */
  host: string;
  url: string;
  log: string[];
  close(): Promise<void>;
}

/**
 * `gantry serve` in proxy mode of `upstream`, on a free port, with gantry's own upstream client
 * (retrying quickly, so an upstream that is down is known to be within a second).
 */
export async function startCache(upstream: string, options: { storage?: string; proxy?: Partial<RegistryProxyOptions>; metrics?: boolean } = {}): Promise<RunningCache> {
  const log: string[] = [];
  const server = await createRegistryServer({
    listen: { host: '127.0.0.1', port: 0 },
    storage: options.storage ?? 'memory',
    ...(options.metrics ? { metrics: true } : {}),
    log: (line) => log.push(line),
    proxy: {
      remoteUrl: upstream,
      connect: (remote) => connectUpstream(remote, { retry: { maxAttempts: 2, baseDelayMs: 50 } }),
      ...options.proxy,
    },
  });
  return { server, host: new URL(server.url).host, url: server.url, log, close: () => server.close() };
}

/** A GET with node:http, timed: status, headers, body hash, time of the first body byte and of the end; `error` when it broke. */
export interface TimedGet {
  status: number;
  headers: http.IncomingHttpHeaders;
  digest: string;
  bytes: number;
  firstByte?: number;
  ended?: number;
  error?: string;
}

export async function timedGet(url: string, headers: Record<string, string> = {}): Promise<TimedGet> {
  const { createHash } = await import('node:crypto');
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const result: TimedGet = { status: 0, headers: {}, digest: '', bytes: 0 };
    const req = http.get(url, { headers, agent: false }, (res) => {
      result.status = res.statusCode ?? 0;
      result.headers = res.headers;
      res.on('data', (chunk: Buffer) => {
        result.firstByte ??= Date.now();
        result.bytes += chunk.length;
        hash.update(chunk);
      });
      res.on('end', () => {
        result.ended = Date.now();
        result.digest = `sha256:${hash.digest('hex')}`;
        resolve(result);
      });
      res.on('error', (err) => resolve({ ...result, error: err.message }));
      res.on('aborted', () => resolve({ ...result, error: 'aborted' }));
    });
    req.on('error', (err) => resolve({ ...result, error: err.message }));
  });
}

/** Any request with node:http; the body as text. */
export async function request(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
