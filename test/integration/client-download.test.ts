/**
 * The client against in-process servers that misbehave the way real ones do, for what the
 * real registry cannot show: a blob GET cut mid-stream and resumed with Range, a server
 * without range support, content whose digest is wrong, a redirect to a storage origin that
 * must not see Authorization, 429 with Retry-After, 503 twice, and Docker's pull messages.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryClient } from '../../src/client/registry-client.js';
import { PullError } from '../../src/client/errors.js';
import { ErrorCode, GantryError } from '../../src/errors.js';
import { Digest } from '../../src/ref/digest.js';
import { RegistryError } from '../../src/transport/errors.js';
import { Transport, type TransportOptions } from '../../src/transport/transport.js';
import type { Layer } from '../../src/transport/types.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';

const NO_CERTS = join(tmpdir(), 'gantry-client-test-no-certs.d');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** A registry that answers the ping and hands everything else to `route`. */
async function registry(route: Route): Promise<TestServer> {
  return startHttpServer((req, res) => {
    if (req.url === '/v2/') {
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
      res.end();
      return;
    }
    route(req, res);
  });
}

const servers: TestServer[] = [];
const transports: Transport[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(servers.map((s) => s.close()));
});

/** A registry with `route`, and a client whose retry waits are recorded instead of slept. */
async function setup(route: Route, options: TransportOptions = {}): Promise<{ server: TestServer; client: RegistryClient; waits: number[] }> {
  const server = await registry(route);
  servers.push(server);
  const waits: number[] = [];
  const transport = new Transport({ certsDir: NO_CERTS, retry: { sleep: async (ms) => void waits.push(ms) }, ...options });
  transports.push(transport);
  return { server, client: RegistryClient.create({ host: server.host, transport }), waits };
}

/** Deterministic bytes, different for each seed. */
function bytes(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(stream, new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }));
  return Buffer.concat(chunks);
}

describe('blob GET: resume and restart', () => {
  const blob = bytes(3 * 1024 * 1024 + 123);
  const desc = { digest: Digest.parse(sha(blob)), size: blob.length };
  const cut = 1024 * 1024 + 17;

  test('a GET cut mid-stream is resumed with Range from the byte reached', async () => {
    const ranges: (string | undefined)[] = [];
    let sent = 0;
    const { client } = await setup((req, res) => {
      if (!req.url?.startsWith('/v2/app/blobs/')) return void res.writeHead(404).end();
      ranges.push(req.headers.range);
      if (req.headers.range === undefined) {
        res.writeHead(200, { 'content-length': blob.length, 'accept-ranges': 'bytes', 'docker-content-digest': desc.digest.toString() });
        res.write(blob.subarray(0, cut), () => {
          sent = cut;
          res.socket?.destroy();
        });
        return;
      }
      // The server checks the range asked for: exactly from the byte it had sent.
      if (req.headers.range !== `bytes=${sent}-`) return void res.writeHead(416).end();
      res.writeHead(206, { 'content-length': blob.length - sent, 'content-range': `bytes ${sent}-${blob.length - 1}/${blob.length}` });
      res.end(blob.subarray(sent));
    });
    const stream = await client.repository('app').getBlob(desc, { sleep: async () => undefined });
    const got = await collect(stream);
    assert.equal(got.length, blob.length);
    assert.ok(got.equals(blob));
    assert.deepEqual(ranges, [undefined, `bytes=${cut}-`]);
    assert.equal(stream.resumes, 1);
  });

  test('a server without range support is read again from the start, the known part skipped', async () => {
    let calls = 0;
    const { client } = await setup((req, res) => {
      calls++;
      res.writeHead(200, { 'content-length': blob.length });
      if (calls === 1) {
        res.write(blob.subarray(0, cut), () => res.socket?.destroy());
        return;
      }
      res.end(blob);
    });
    const got = await collect(await client.repository('app').getBlob(desc, { sleep: async () => undefined }));
    assert.ok(got.equals(blob));
    assert.equal(calls, 2);
  });

  test('a download that keeps breaking without progress fails, bounded', async () => {
    let calls = 0;
    const { client } = await setup((_req, res) => {
      calls++;
      res.writeHead(calls === 1 ? 200 : 206, { 'content-length': blob.length, 'content-range': `bytes 0-${blob.length - 1}/${blob.length}` });
      if (calls === 1) res.write(blob.subarray(0, cut), () => res.socket?.destroy());
      else res.socket?.destroy();
    });
    const stream = await client.repository('app').getBlob(desc, { sleep: async () => undefined });
    await assert.rejects(collect(stream), (err: GantryError) => err instanceof GantryError);
    assert.ok(calls >= 2 && calls <= 10, `calls ${calls}`);
  });
});

describe('trust nothing downloaded', () => {
  test('a blob whose bytes hash to something else fails its stream: nothing is returned as good', async () => {
    const good = bytes(200_000, 2);
    const bad = Buffer.from(good);
    bad[1000] = bad[1000]! ^ 0xff;
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': bad.length });
      res.end(bad);
    });
    const stream = await client.repository('app').getBlob({ digest: Digest.parse(sha(good)), size: good.length });
    let delivered = false;
    await assert.rejects(
      (async () => {
        await collect(stream);
        delivered = true;
      })(),
      (err: GantryError) => err.code === ErrorCode.DIGEST_MISMATCH && err.message.includes(sha(bad)),
    );
    assert.equal(delivered, false);
  });

  test('a blob longer than its descriptor is refused before it is read', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.end('0123456789');
    });
    await assert.rejects(client.repository('app').getBlob({ digest: Digest.parse(sha('01234')), size: 5 }), (err: GantryError) => err.code === ErrorCode.DIGEST_MISMATCH);
  });

  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('{}'), size: 2 }, layers: [] }));
  const other = Buffer.from(`${manifest.toString()} `);

  test('a manifest fetched by digest whose bytes hash to something else is rejected', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': other.length });
      res.end(other);
    });
    await assert.rejects(client.repository('app').getManifest(Digest.parse(sha(manifest))), (err: GantryError) => err.code === ErrorCode.DIGEST_MISMATCH);
  });

  test('a manifest whose Docker-Content-Digest disagrees with its bytes is rejected', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': sha(manifest) });
      res.end(other);
    });
    await assert.rejects(client.repository('app').getManifest('latest'), (err: GantryError) => err.code === ErrorCode.DIGEST_MISMATCH);
  });

  test('the digest comes from the bytes as served, never re-serialised', async () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(manifest.toString()), null, 3));
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': sha(pretty) });
      res.end(pretty);
    });
    const r = await client.repository('app').getManifest('latest');
    assert.equal(r.digest.toString(), sha(pretty));
    assert.ok(r.bytes.equals(pretty));
    assert.equal(r.manifest.kind, 'image');
  });

  test('a manifest over 4 MiB is refused', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      res.end(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    });
    await assert.rejects(client.repository('app').getManifest('latest'), (err: GantryError) => err.code === ErrorCode.TOO_LARGE);
  });
});

describe('redirects to storage', () => {
  test('a blob redirect to a second origin is followed without Authorization', async () => {
    const blob = bytes(50_000, 3);
    const storageSaw: (string | undefined)[] = [];
    const storage = await startHttpServer((req, res) => {
      storageSaw.push(req.headers.authorization);
      // Fails the request if the credentials of the registry reached it.
      if (req.headers.authorization) return void res.writeHead(400).end('credentials leaked');
      res.writeHead(200, { 'content-length': blob.length });
      res.end(blob);
    });
    servers.push(storage);
    const registrySaw: (string | undefined)[] = [];
    // A caller's auth layer sits below redirect and sees each hop: it authorizes registry origins only.
    const withAuth: Layer = (next, context) => (req) => (context?.origins.has(req.url) ? next({ ...req, headers: { ...req.headers, authorization: 'Bearer registry-token' } }) : next(req));
    const { client } = await setup(
      (req, res) => {
        registrySaw.push(req.headers.authorization);
        res.writeHead(307, { location: `http://${storage.host}/bucket/blob?signature=x` });
        res.end();
      },
      { layers: [withAuth] },
    );
    const got = await collect(await client.repository('app').getBlob({ digest: Digest.parse(sha(blob)), size: blob.length }));
    assert.ok(got.equals(blob));
    assert.deepEqual(registrySaw, ['Bearer registry-token']);
    assert.deepEqual(storageSaw, [undefined]);
  });
});

describe('retries', () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('{}'), size: 2 }, layers: [] }));

  test('429 with Retry-After: waited for as asked, then served; rate-limit headers exposed', async () => {
    let calls = 0;
    const { client, waits } = await setup((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(429, { 'retry-after': '2', 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'docker-ratelimit-source': '192.0.2.1' });
      res.end(manifest);
    });
    const r = await client.repository('app').getManifest('latest');
    assert.equal(calls, 2);
    assert.deepEqual(waits, [2000]);
    assert.deepEqual(r.rateLimit, { limit: 100, remaining: 76, windowSeconds: 21600, source: '192.0.2.1' });
    assert.deepEqual(client.lastRateLimit, r.rateLimit);
  });

  test('429 asking for longer than the cap: TOOMANYREQUESTS surfaced with retryAfter and the rate limit', async () => {
    const { client, waits } = await setup((_req, res) => {
      res.writeHead(429, { 'retry-after': '3600', 'content-type': 'application/json', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}');
    });
    await assert.rejects(client.repository('app').getManifest('latest'), (err: RegistryError) => {
      assert.equal(err.code, ErrorCode.TOO_MANY_REQUESTS);
      assert.equal(err.errors[0]?.code, 'TOOMANYREQUESTS');
      assert.equal(err.retryAfter, 3600);
      assert.equal(err.retryable, true);
      assert.ok(err instanceof RegistryError);
      assert.deepEqual(err.rateLimit, { limit: 100, remaining: 0, windowSeconds: 21600 });
      return true;
    });
    assert.deepEqual(waits, []);
  });

  test('503 twice, then success', async () => {
    const statuses: number[] = [];
    const { client, waits } = await setup((_req, res) => {
      const status = statuses.length < 2 ? 503 : 200;
      statuses.push(status);
      res.writeHead(status, status === 200 ? { 'content-type': OCI_MANIFEST } : {});
      res.end(status === 200 ? manifest : 'unavailable');
    });
    const r = await client.repository('app').getManifest('latest');
    assert.equal(r.digest.toString(), sha(manifest));
    assert.deepEqual(statuses, [503, 503, 200]);
    assert.equal(waits.length, 2);
  });
});

describe("Docker's pull messages", () => {
  const cases: [number, string, RegExp, ErrorCode][] = [
    [404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', /^manifest for 127\.0\.0\.1:\d+\/app:nope not found: manifest unknown: manifest unknown$/, ErrorCode.NOT_FOUND],
    [404, '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}', /^repository 127\.0\.0\.1:\d+\/app not found: name unknown: repository name not known to registry$/, ErrorCode.NOT_FOUND],
    [403, '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', /^pull access denied for 127\.0\.0\.1:\d+\/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied$/, ErrorCode.DENIED],
  ];
  for (const [status, body, message, code] of cases) {
    test(`${status} ${JSON.parse(body).errors[0].code}`, async () => {
      const { client } = await setup((_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      });
      await assert.rejects(client.repository('app').getManifest('nope'), (err: PullError) => {
        assert.ok(err instanceof PullError && err instanceof RegistryError);
        assert.match(err.message, message);
        assert.equal(err.code, code);
        assert.equal(err.status, status);
        return true;
      });
    });
  }

  test('a missing blob is BLOB_UNKNOWN with the URL, not a pull message', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
    });
    const digest = Digest.parse(sha('x'));
    await assert.rejects(client.repository('app').getBlob({ digest, size: 1 }), (err: RegistryError) => {
      assert.equal(err.errors[0]?.code, 'BLOB_UNKNOWN');
      assert.match(err.message, new RegExp(`^GET http://127\\.0\\.0\\.1:\\d+/v2/app/blobs/${digest.toString()}: BLOB_UNKNOWN: blob unknown to registry$`));
      return true;
    });
    assert.equal(await client.repository('app').headBlob(digest), undefined);
  });
});
