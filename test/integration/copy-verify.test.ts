/**
 * The copy verifies what it streams: a registry source that serves wrong bytes for a blob
 * (same size and different bytes, shorter, longer; framed by Content-Length or chunked; a
 * Range answered with 416 or with the same short body again) fails the copy with
 * DIGEST_MISMATCH naming the source, and the destination gets nothing committed: a
 * registry destination is never sent the blob's `PUT ?digest=` and its upload session is
 * cancelled, the tag never written; an OCI layout keeps no temp file, no blob under the
 * wrong name and no index.json.
 *
 * The registries are the embedded gantry registry; only the tampering in front of the source
 * is a fake (a hostile host that forwards everything else), and a recording forwarder in front
 * of the destination shows what the destination was asked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { copyImage } from '../../src/image/copy.js';
import { copy } from '../../src/image/transports.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';
import type { RawManifest } from '../../src/image/types.js';
import { MemorySource } from '../helpers/image-fixture.js';
import { startHostileHost, type HostileHost } from '../helpers/hostile-registry.js';

/** Above OFFLOAD_MIN_BYTES (hashed in a worker thread where OFFLOAD_HASHING) and MONOLITHIC_MAX_BYTES (a streamed PATCH). */
const BIG = 6 * 1024 * 1024 + 321;
/** Uploaded in one PUT. */
const SMALL = 96 * 1024;
const EXTRA = 1000;

function pseudoRandom(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

interface Image {
  top: RawManifest;
  blobs: Map<string, Buffer>;
  big: Digest;
  small: Digest;
}

function makeImage(): Image {
  const big = pseudoRandom(BIG, 11);
  const small = pseudoRandom(SMALL, 12);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const d = (mediaType: string, b: Buffer) => ({ mediaType, digest: Digest.fromBytes(b).toString(), size: b.length });
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: d(MediaType.OCI_CONFIG, config),
    layers: [d(MediaType.OCI_LAYER, small), d(MediaType.OCI_LAYER, big)],
  }));
  const blobs = new Map<string, Buffer>([config, small, big].map((b) => [Digest.fromBytes(b).toString(), b]));
  return { top: { bytes, mediaType: MediaType.OCI_MANIFEST, digest: Digest.fromBytes(bytes) }, blobs, big: Digest.fromBytes(big), small: Digest.fromBytes(small) };
}

/** What the source's tampering host serves for one blob. */
type Tamper =
  | 'flip' // same size, one byte different, Content-Length
  | 'short' // EXTRA bytes fewer, announced by Content-Length
  | 'long' // EXTRA bytes more, announced by Content-Length
  | 'long-chunked' // EXTRA bytes more, chunked: found only by counting
  | 'short-chunked' // EXTRA bytes fewer, chunked, and the same short body again for a Range
  | 'short-416'; // EXTRA bytes fewer, chunked, and 416 for a Range from its end

function serveTampered(tamper: Tamper, good: Buffer, req: IncomingMessage, res: ServerResponse): void {
  const type = { 'content-type': 'application/octet-stream' };
  const short = good.subarray(0, good.length - EXTRA);
  const long = Buffer.concat([good, Buffer.alloc(EXTRA, 0x55)]);
  if (tamper === 'flip') {
    const bad = Buffer.from(good);
    bad[bad.length >> 1]! ^= 0x01;
    res.writeHead(200, { ...type, 'content-length': String(bad.length) });
    res.end(bad);
  } else if (tamper === 'short' || tamper === 'long') {
    const body = tamper === 'short' ? short : long;
    res.writeHead(200, { ...type, 'content-length': String(body.length) });
    res.end(body);
  } else if (tamper === 'short-416' && req.headers.range) {
    res.writeHead(416, { 'content-range': `bytes */${short.length}`, 'content-length': '0' });
    res.end();
  } else {
    // Chunked transfer encoding: no length said, the body ends cleanly where it ends.
    const body = tamper === 'long-chunked' ? long : short;
    res.writeHead(200, type);
    for (let i = 0; i < body.length; i += 256 * 1024) res.write(body.subarray(i, i + 256 * 1024));
    res.end();
  }
}

/** One request passed to `upstream` as is; `record` hears the answer's status and Location. */
function forward(upstream: URL, req: IncomingMessage, res: ServerResponse, record?: (status: number, location: string | undefined) => void): void {
  const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (ures) => {
    record?.(ures.statusCode ?? 0, ures.headers.location);
    res.writeHead(ures.statusCode ?? 502, ures.headers);
    ures.pipe(res);
    ures.once('error', () => res.destroy());
  });
  up.once('error', () => res.destroy());
  req.once('error', () => up.destroy());
  // A client that gives up on its request takes the upstream one with it.
  res.once('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
}

interface Exchange {
  method: string;
  url: string;
  status: number;
  location: string | undefined;
}

describe('a copy from a registry that serves wrong bytes', () => {
  let source: RegistryServer;
  let target: RegistryServer;
  /** In front of the source: serves `tampered` wrongly, forwards everything else. */
  let tampering: HostileHost;
  /** In front of the destination: forwards everything, records each exchange. */
  let recording: HostileHost;
  const exchanges: Exchange[] = [];
  let tampered: { digest: Digest; tamper: Tamper } | undefined;
  let image: Image;
  let dir: string;
  let n = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-copy-verify-'));
    source = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
    target = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
    image = makeImage();
    const layout = join(dir, 'seed');
    await copyImage(new MemorySource(image.top, image.blobs), new OciLayoutDestination(layout), { tag: 'v1' });
    await copy(`oci:${layout}:v1`, `${new URL(source.url).host}/src/app:v1`);
    tampering = await startHostileHost('127.0.0.1');
    tampering.script = (req, res) => {
      const t = tampered;
      if (t && req.method === 'GET' && req.url === `/v2/src/app/blobs/${t.digest.toString()}`) serveTampered(t.tamper, image.blobs.get(t.digest.toString())!, req, res);
      else forward(new URL(source.url), req, res);
    };
    recording = await startHostileHost('127.0.0.1');
    recording.script = (req, res) => {
      const method = req.method ?? '';
      const url = req.url ?? '';
      forward(new URL(target.url), req, res, (status, location) => exchanges.push({ method, url, status, location }));
    };
  });
  after(async () => {
    await tampering?.close();
    await recording?.close();
    await source?.close();
    await target?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const from = (): string => `docker://${tampering.host}/src/app:v1`;
  const status = async (path: string): Promise<number> => (await fetch(`${target.url}${path}`, { method: 'HEAD' })).status;
  const isMismatch = (err: unknown): boolean => {
    assert.ok(isGantryError(err, ErrorCode.DIGEST_MISMATCH), `expected DIGEST_MISMATCH, got ${String(err)}`);
    assert.ok((err as Error).message.includes(`docker://${tampering.host}/src/app:v1`), `the error names the source: ${(err as Error).message}`);
    return true;
  };

  /** The destination registry holds neither the tag nor the bad blob, was never asked to commit it, and every upload session it opened was committed or cancelled. */
  async function assertNothingCommitted(repo: string, bad: Digest, midUpload: boolean): Promise<void> {
    assert.equal(await status(`/v2/${repo}/manifests/v1`), 404, 'no manifest under the tag');
    assert.equal(await status(`/v2/${repo}/blobs/${bad.toString()}`), 404, 'the bad blob is not in the destination');
    const mine = exchanges.filter((e) => e.url.startsWith(`/v2/${repo}/`));
    const commits = mine.filter((e) => e.method === 'PUT' && e.url.includes('/blobs/uploads/'));
    assert.equal(commits.filter((e) => new URL(e.url, 'http://x').searchParams.get('digest') === bad.toString()).length, 0, 'no PUT ?digest= of the bad blob');
    assert.equal(mine.some((e) => e.method === 'PUT' && e.url.includes('/manifests/')), false, 'no manifest PUT');
    const path = (u: string) => new URL(u, 'http://x').pathname;
    const sessions = mine.filter((e) => e.method === 'POST' && e.status === 202 && e.location).map((e) => path(e.location!));
    const closed = new Set(mine.filter((e) => (e.method === 'PUT' || e.method === 'DELETE') && e.url.includes('/blobs/uploads/')).map((e) => path(e.url)));
    for (const s of sessions) assert.ok(closed.has(s), `upload session ${s} was committed or cancelled`);
    // Found while streaming: the bad blob's upload had started, and was cut before its commit.
    if (midUpload) assert.ok(sessions.length > commits.length, 'the bad blob\'s upload session was opened, then cancelled');
  }

  function assertLayoutUntouched(layout: string, bad: Digest): void {
    assert.equal(existsSync(join(layout, 'index.json')), false, 'index.json not written');
    assert.equal(existsSync(join(layout, 'blobs', 'sha256', bad.encoded)), false, 'no blob under the bad digest');
    const files = existsSync(layout) ? readdirSync(layout, { recursive: true }).map(String) : [];
    assert.deepEqual(files.filter((f) => f.split('/').pop()!.startsWith('.tmp-')), [], 'no temp file left');
  }

  const rows: { blob: 'big' | 'small'; tamper: Tamper }[] = [
    { blob: 'big', tamper: 'flip' },
    { blob: 'small', tamper: 'flip' },
    { blob: 'big', tamper: 'short' },
    { blob: 'big', tamper: 'long' },
    { blob: 'big', tamper: 'long-chunked' },
    { blob: 'small', tamper: 'long-chunked' },
    { blob: 'big', tamper: 'short-chunked' },
    { blob: 'big', tamper: 'short-416' },
  ];

  for (const { blob, tamper } of rows) {
    test(`registry → registry, ${blob} blob ${tamper}: DIGEST_MISMATCH, nothing committed`, async () => {
      const repo = `dst/app${++n}`;
      const bad = image[blob];
      tampered = { digest: bad, tamper };
      try {
        // One blob at a time: the bad one is the only upload in flight when it fails.
        await assert.rejects(copy(from(), `${recording.host}/${repo}:v1`, { jobs: 1 }), isMismatch);
      } finally {
        tampered = undefined;
      }
      await assertNothingCommitted(repo, bad, tamper !== 'short' && tamper !== 'long');
    });

    test(`registry → OCI layout, ${blob} blob ${tamper}: DIGEST_MISMATCH, layout not committed`, async () => {
      const layout = join(dir, `layout${++n}`);
      const bad = image[blob];
      tampered = { digest: bad, tamper };
      try {
        await assert.rejects(copy(from(), `oci:${layout}:v1`), isMismatch);
      } finally {
        tampered = undefined;
      }
      assertLayoutUntouched(layout, bad);
    });
  }

  test('through the same hosts, an honest copy lands whole (registry and layout)', async () => {
    const repo = `dst/app${++n}`;
    const r = await copy(from(), `${recording.host}/${repo}:v1`);
    assert.equal(r.digest, image.top.digest.toString());
    assert.equal(r.blobs.copied, 3);
    assert.equal(await status(`/v2/${repo}/manifests/v1`), 200);
    const layout = join(dir, `layout${++n}`);
    const l = await copy(from(), `oci:${layout}:v1`);
    assert.equal(l.digest, image.top.digest.toString());
    assert.ok(existsSync(join(layout, 'blobs', 'sha256', image.big.encoded)));
  });

  test('a layout pushed with a corrupted blob fails with DIGEST_MISMATCH: the registry destination verifies too', async () => {
    const layout = join(dir, 'corrupt');
    await copyImage(new MemorySource(image.top, image.blobs), new OciLayoutDestination(layout), { tag: 'v1' });
    const bad = Buffer.from(image.blobs.get(image.big.toString())!);
    bad[7]! ^= 0x80;
    writeFileSync(join(layout, 'blobs', 'sha256', image.big.encoded), bad);
    const repo = `dst/app${++n}`;
    await assert.rejects(copy(`oci:${layout}:v1`, `${recording.host}/${repo}:v1`, { jobs: 1 }), (err: unknown) => isGantryError(err, ErrorCode.DIGEST_MISMATCH) && (err as Error).message.includes(`oci:${layout}`));
    await assertNothingCommitted(repo, image.big, true);
  });
});
