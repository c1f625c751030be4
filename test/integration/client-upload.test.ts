/**
 * Blob uploads against an in-process registry whose upload rules the test sets: one that
 * requires chunked uploads (refuses streamed bodies, asks for a minimum chunk length, moves
 * the session with every answer), one that fails a session half way, one that keeps less of
 * a chunk than it was sent, and mounts that succeed or fall back to an upload.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RegistryImageDestination } from '../../src/image/registry.js';
import { MONOLITHIC_MAX_BYTES } from '../../src/client/uploads.js';
import { Reference } from '../../src/ref/reference.js';
import { RegistryError } from '../../src/transport/errors.js';
import { ErrorCode, type GantryError } from '../../src/errors.js';
import { Digest } from '../../src/ref/digest.js';
import { Transport } from '../../src/transport/transport.js';
import type { Layer } from '../../src/transport/types.js';
import { formatScope } from '../../src/ref/scope.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';

const NO_CERTS = join(tmpdir(), 'gantry-client-test-no-certs.d');

interface Rules {
  /** Refuse a PATCH without Content-Range (416) and a PUT with a body (413). */
  requireChunks?: boolean;
  /** `OCI-Chunk-Min-Length`. */
  minChunk?: number;
  /** Answer this PATCH (1-based, over the server's life) with 500. */
  failPatch?: number;
  /** Keep only this many bytes of the first chunked PATCH. */
  keepOfFirstChunk?: number;
  /** Repositories a mount may come from (others: 202, a normal session). */
  mountable?: string[];
}

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  contentRange?: string;
  length: number;
}

interface FakeRegistry {
  server: TestServer;
  seen: Seen[];
  blobs: Map<string, Buffer>;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function fakeRegistry(rules: Rules): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>(); // `${repo}@${digest}`
  const sessions = new Map<string, { repo: string; parts: Buffer[]; size: number; state: number }>();
  const seen: Seen[] = [];
  let patches = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = await readAll(req);
    seen.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, ...(req.headers['content-range'] ? { contentRange: String(req.headers['content-range']) } : {}), length: body.length });
    if (url.pathname === '/v2/') return void res.writeHead(200).end();
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (blob && req.method === 'HEAD') {
      const b = blobs.get(`${blob[1]}@${blob[2]}`);
      return void res.writeHead(b ? 200 : 404, b ? { 'content-length': b.length } : {}).end();
    }
    const start = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname);
    if (start && req.method === 'POST') {
      const repo = start[1]!;
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount && from && rules.mountable?.includes(from) && blobs.has(`${from}@${mount}`)) {
        blobs.set(`${repo}@${mount}`, blobs.get(`${from}@${mount}`)!);
        return void res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}` }).end();
      }
      const id = randomUUID();
      sessions.set(id, { repo, parts: [], size: 0, state: 0 });
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${id}?_state=0`, range: '0-0', ...(rules.minChunk ? { 'oci-chunk-min-length': rules.minChunk } : {}) });
      return void res.end();
    }
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f-]+)$/.exec(url.pathname);
    const session = upload ? sessions.get(upload[2]!) : undefined;
    if (!upload || !session) return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}');
    // The session moves with every answer: a client that reuses an old Location is refused.
    if (url.searchParams.get('_state') !== String(session.state)) return void res.writeHead(400).end('{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"stale _state"}]}');
    const next = (): string => `/v2/${session.repo}/blobs/uploads/${upload[2]}?_state=${++session.state}`;
    if (req.method === 'PATCH') {
      patches++;
      if (rules.failPatch === patches) {
        sessions.delete(upload[2]!);
        return void res.writeHead(500).end();
      }
      const range = req.headers['content-range'];
      if (!range && rules.requireChunks) return void res.writeHead(416).end();
      let data = body;
      if (range) {
        const m = /^(\d+)-(\d+)$/.exec(String(range));
        if (!m || Number(m[1]) !== session.size || Number(m[2]) - Number(m[1]) + 1 !== body.length) return void res.writeHead(416).end();
        if (rules.keepOfFirstChunk !== undefined && session.parts.length === 0) data = body.subarray(0, rules.keepOfFirstChunk);
      }
      session.parts.push(data);
      session.size += data.length;
      return void res.writeHead(202, { location: next(), range: `0-${session.size - 1}` }).end();
    }
    if (req.method === 'PUT') {
      if (body.length > 0 && rules.requireChunks) return void res.writeHead(413).end();
      const all = Buffer.concat([...session.parts, body]);
      const digest = url.searchParams.get('digest');
      if (digest !== sha(all)) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}');
      sessions.delete(upload[2]!);
      blobs.set(`${session.repo}@${digest}`, all);
      return void res.writeHead(201, { location: `/v2/${session.repo}/blobs/${digest}`, 'docker-content-digest': digest }).end();
    }
    res.writeHead(405).end();
  };
  const server = await startHttpServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  return { server, seen, blobs };
}

const servers: TestServer[] = [];
const transports: Transport[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function setup(rules: Rules, layers: Layer[] = []): Promise<FakeRegistry & { client: RegistryClient }> {
  const reg = await fakeRegistry(rules);
  servers.push(reg.server);
  const transport = new Transport({ certsDir: NO_CERTS, retry: { sleep: async () => undefined }, layers });
  transports.push(transport);
  return { ...reg, client: RegistryClient.create({ host: reg.server.host, transport, purpose: 'push' }) };
}

function blobOf(size: number, seed: number): { data: Buffer; desc: { digest: Digest; size: number } } {
  const data = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    data[i] = x >>> 24;
  }
  return { data, desc: { digest: Digest.parse(sha(data)), size } };
}

/** A source that records the offsets it was opened at and serves in 64 KiB pieces. */
function source(data: Buffer): { open: (offset: number) => Readable; offsets: number[] } {
  const offsets: number[] = [];
  return {
    offsets,
    open: (offset) => {
      offsets.push(offset);
      const pieces: Buffer[] = [];
      for (let i = offset; i < data.length; i += 65536) pieces.push(data.subarray(i, Math.min(i + 65536, data.length)));
      return Readable.from(pieces);
    },
  };
}

const MiB = 1024 * 1024;

describe('uploads', () => {
  test('a blob already there is not uploaded', async () => {
    const { client, seen, blobs } = await setup({});
    const { data, desc } = blobOf(1000, 1);
    blobs.set(`app@${desc.digest}`, data);
    const src = source(data);
    assert.deepEqual(await client.repository('app').uploadBlob(desc, src.open), { status: 'exists', sessions: 0, chunked: false });
    assert.deepEqual(src.offsets, []);
    assert.deepEqual(seen.filter((s) => s.method !== 'GET').map((s) => s.method), ['HEAD']);
  });

  test('a small blob: POST then one PUT with the bytes', async () => {
    const { client, seen, blobs } = await setup({});
    const { data, desc } = blobOf(MONOLITHIC_MAX_BYTES, 2);
    const r = await client.repository('app').uploadBlob(desc, source(data).open);
    assert.equal(r.status, 'uploaded');
    assert.deepEqual(seen.filter((s) => s.path !== '/v2/').map((s) => s.method), ['HEAD', 'POST', 'PUT']);
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a large blob: one streamed PATCH with its length, then the commit', async () => {
    const { client, seen, blobs } = await setup({});
    const { data, desc } = blobOf(3 * MiB + 5, 3);
    assert.equal((await client.repository('app').uploadBlob(desc, source(data).open)).status, 'uploaded');
    const patches = seen.filter((s) => s.method === 'PATCH');
    assert.deepEqual(patches.map((p) => [p.length, p.contentRange]), [[data.length, undefined]]);
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a registry that requires chunks: chunked PATCHes honouring OCI-Chunk-Min-Length and each Location', async () => {
    const { client, seen, blobs } = await setup({ requireChunks: true, minChunk: 2 * MiB });
    const { data, desc } = blobOf(5 * MiB + 3, 4);
    const r = await client.repository('app').uploadBlob(desc, source(data).open, { chunkSize: 512 * 1024 });
    assert.deepEqual(r, { status: 'uploaded', sessions: 1, chunked: true });
    const patches = seen.filter((s) => s.method === 'PATCH');
    assert.deepEqual(patches.map((p) => p.contentRange), [`0-${2 * MiB - 1}`, `${2 * MiB}-${4 * MiB - 1}`, `${4 * MiB}-${5 * MiB + 2}`]);
    assert.deepEqual(patches.map((p) => p.query.get('_state')), ['0', '1', '2']);
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a registry that refuses a streamed body gets the blob again in chunks', async () => {
    const { client, seen, blobs } = await setup({ requireChunks: true });
    const { data, desc } = blobOf(3 * MiB, 5);
    const src = source(data);
    const r = await client.repository('app').uploadBlob(desc, src.open);
    assert.equal(r.status, 'uploaded');
    assert.equal(r.chunked, true);
    assert.deepEqual(src.offsets, [0, 0]);
    assert.ok(seen.some((s) => s.method === 'PATCH' && s.contentRange === `0-${data.length - 1}`));
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a session that fails half way is restarted from the start of the blob with a new POST', async () => {
    const { client, seen, blobs } = await setup({ failPatch: 2 });
    const { data, desc } = blobOf(3 * MiB, 6);
    const src = source(data);
    const r = await client.repository('app').uploadBlob(desc, src.open, { chunkSize: MiB });
    assert.deepEqual(r, { status: 'uploaded', sessions: 2, chunked: true });
    assert.deepEqual(src.offsets, [0, 0]);
    assert.equal(seen.filter((s) => s.method === 'POST').length, 2);
    const ranges = seen.filter((s) => s.method === 'PATCH').map((p) => p.contentRange);
    assert.deepEqual(ranges, [`0-${MiB - 1}`, `${MiB}-${2 * MiB - 1}`, `0-${MiB - 1}`, `${MiB}-${2 * MiB - 1}`, `${2 * MiB}-${3 * MiB - 1}`]);
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a registry that kept less than it was sent: the next chunk starts at its Range, re-read from the source', async () => {
    const keep = 300_000;
    const { client, seen, blobs } = await setup({ keepOfFirstChunk: keep });
    const { data, desc } = blobOf(2 * MiB, 7);
    const src = source(data);
    await client.repository('app').uploadBlob(desc, src.open, { chunkSize: MiB });
    assert.deepEqual(src.offsets, [0, keep]);
    assert.equal(seen.filter((s) => s.method === 'PATCH')[1]?.contentRange, `${keep}-${keep + MiB - 1}`);
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a source that is not the blob it claims fails before the commit', async () => {
    const { client, seen } = await setup({});
    const { data, desc } = blobOf(2 * MiB, 8);
    const other = Buffer.from(data);
    other[5] = other[5]! ^ 1;
    await assert.rejects(client.repository('app').uploadBlob(desc, source(other).open), (err: GantryError) => err.code === ErrorCode.DIGEST_MISMATCH);
    assert.equal(seen.filter((s) => s.method === 'PUT').length, 0);
  });

  test('a cross-repository mount: 201 is mounted, with both repositories in the scopes', async () => {
    const scopes: (readonly string[] | undefined)[] = [];
    const recordScopes: Layer = (next) => (req) => (scopes.push(req.scopes?.map(formatScope)), next(req));
    const { client, seen, blobs } = await setup({ mountable: ['base'] }, [recordScopes]);
    const { data, desc } = blobOf(5000, 9);
    blobs.set(`base@${desc.digest}`, data);
    const src = source(data);
    const r = await client.repository('app').uploadBlob(desc, src.open, { mountFrom: 'base' });
    assert.equal(r.status, 'mounted');
    assert.deepEqual(src.offsets, []);
    const post = seen.find((s) => s.method === 'POST');
    assert.equal(post?.query.get('mount'), desc.digest.toString());
    assert.equal(post?.query.get('from'), 'base');
    assert.ok(blobs.has(`app@${desc.digest}`));
    // The push scope first: some registries read only the first one.
    assert.deepEqual(scopes.at(-1), ['repository:app:push,pull', 'repository:base:pull']);
  });

  test('a mount answered with 202 falls back to an upload in the session it opened', async () => {
    const { client, seen, blobs } = await setup({});
    const { data, desc } = blobOf(5000, 10);
    const r = await client.repository('app').uploadBlob(desc, source(data).open, { mountFrom: 'elsewhere' });
    assert.equal(r.status, 'uploaded');
    assert.equal(seen.filter((s) => s.method === 'POST').length, 1);
    assert.ok(blobs.get(`app@${desc.digest}`)?.equals(data));
  });

  test('a one-shot source (the copy engine\'s) cannot restart a session: the session\'s own failure is reported', async () => {
    const { client, server, seen } = await setup({ failPatch: 1 });
    const { data, desc } = blobOf(2 * MiB, 11);
    const dest = new RegistryImageDestination(client, Reference.parse(`${server.host}/app:v1`));
    await assert.rejects(dest.putBlob({ mediaType: 'application/octet-stream', ...desc }, source(data).open(0)), (err: RegistryError) => err instanceof RegistryError && err.status === 500);
    assert.equal(seen.filter((s) => s.method === 'POST').length, 2);
  });
});
