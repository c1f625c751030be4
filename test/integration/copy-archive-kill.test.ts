/**
 * A `gantry copy … docker-archive:FILE` killed with SIGKILL part-way (issue "Trust at origin
 * boundaries", item 3) leaves `FILE.tmp-<pid>-…` and its `.spool` folder; FILE itself (an
 * older archive) must be untouched, and the next copy to FILE must remove both leftovers
 * (their pid is gone) while keeping a live process's temporary and unrelated files. The
 * registry is the embedded one behind a throttling TCP proxy, as in pull-kill.test.ts, so
 * that the copy is slow enough to be killed with one layer in the tar and the next one
 * spooling; the child is the built CLI (`npm run build` first).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { openDestination, parseImageLocation } from '../../src/image/transports.js';
import type { ImageSource, RawManifest } from '../../src/image/types.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { Digest } from '../../src/ref/digest.js';
import { tempOwnerTag } from '../../src/fs/stale-temp.js';
import { makeImage, MemorySource, readAll } from '../helpers/image-fixture.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, prngDigest, prngStream } from '../helpers/client-fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/gantry.js', import.meta.url));
const MiB = 1024 * 1024;
/** Plain (uncompressed) layers, so the archive stores them as they are: a small one, then larger ones. */
const LAYERS = [4 * MiB, 24 * MiB, 24 * MiB];
const PROXY_BYTES_PER_SEC = 12 * MiB;
const KILL_WAIT_MS = 60_000;
const RUN_TIMEOUT_MS = 120_000;

/** An image whose layers stream from the PRNG; the config's diff_ids are the layers' digests. */
async function prngImage(): Promise<ImageSource & { manifest: RawManifest }> {
  const seeds = new Map<string, { size: number; seed: number }>();
  const layers: Descriptor[] = [];
  for (const [i, size] of LAYERS.entries()) {
    const digest = await prngDigest(size, 2000 + i);
    seeds.set(digest.toString(), { size, seed: 2000 + i });
    layers.push({ mediaType: OCI_LAYER, digest, size });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest.toString()) } }));
  const json = (d: Descriptor) => ({ mediaType: d.mediaType, digest: d.digest.toString(), size: d.size });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: json({ mediaType: OCI_CONFIG, digest: Digest.fromBytes(config), size: config.length }), layers: layers.map(json) }));
  const manifest = { bytes, mediaType: OCI_MANIFEST, digest: Digest.fromBytes(bytes) };
  return {
    name: 'prng:',
    manifest,
    getManifest: async () => manifest,
    getBlob: async (desc) => {
      const layer = seeds.get(desc.digest.toString());
      return layer ? prngStream(layer.size, layer.seed) : Readable.from([config]);
    },
    close: async () => undefined,
  };
}

/** A loopback TCP proxy pacing the registry's answers to PROXY_BYTES_PER_SEC per connection. */
async function startSlowProxy(port: number): Promise<{ host: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    const pace = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        setTimeout(() => cb(null, chunk), (chunk.length / PROXY_BYTES_PER_SEC) * 1000);
      },
    });
    client.pipe(upstream);
    upstream.pipe(pace).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startGantry(args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const done = new Promise<Awaited<Run['done']>>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a copy to a docker archive killed with SIGKILL', () => {
  let server: RegistryServer;
  let proxy: { host: string; close(): Promise<void> };
  let dir: string;
  let image: Awaited<ReturnType<typeof prngImage>>;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DOCKER_AUTH_CONFIG;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-archive-kill-'));
    env.DOCKER_CONFIG = join(dir, 'docker-config');
    writeFileSync(join(dir, 'daemon.json'), '{}');
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: join(dir, 'registry') });
    const url = new URL(server.url);
    image = await prngImage();
    const dest = await openDestination(parseImageLocation(`${url.host}/big/app:v1`));
    try {
      await copyImage(image, dest.value);
    } finally {
      await dest.close();
    }
    proxy = await startSlowProxy(Number(url.port));
  });
  after(async () => {
    await proxy?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('leaves FILE as it was; the next copy removes the dead run\'s temporaries and nothing else', async (t) => {
    const out = join(dir, 'out');
    const file = join(out, 'app.tar');
    // An archive written earlier: the killed copy must not touch it.
    const old = await makeImage({ seed: 'old', docker: true });
    await copyImage(new MemorySource(old.manifest, old.blobs), new DockerArchiveDestination(file));
    const oldBytes = readFileSync(file);
    writeFileSync(join(out, 'notes.txt'), 'unrelated');
    const flags = ['--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')];
    const args = ['copy', `docker://${proxy.host}/big/app:v1`, `docker-archive:${file}`, ...flags];

    const first = startGantry(args, env);
    t.after(() => void first.child.kill('SIGKILL'));
    const prefix = `app.tar.tmp-${first.child.pid}-`;
    const leftovers = (): string[] => readdirSync(out).filter((n) => n.startsWith(prefix));
    // Kill once the tar holds a layer and the next one is being spooled.
    const deadline = Date.now() + KILL_WAIT_MS;
    let midway = false;
    while (!midway && Date.now() < deadline && first.child.exitCode === null) {
      const tar = leftovers().find((n) => !n.endsWith('.spool'));
      const spool = leftovers().find((n) => n.endsWith('.spool'));
      const spooled = spool ? readdirSync(join(out, spool)).some((f) => (statSync(join(out, spool, f), { throwIfNoEntry: false })?.size ?? 0) > MiB) : false;
      midway = tar !== undefined && (statSync(join(out, tar), { throwIfNoEntry: false })?.size ?? 0) > LAYERS[0]! && spooled;
      if (!midway) await sleep(20);
    }
    assert.ok(midway, `the copy never reached midway (exit ${first.child.exitCode}); stderr: ${await Promise.race([first.done.then((r) => r.stderr), sleep(10).then(() => '')])}`);
    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');

    const left = leftovers().sort();
    assert.equal(left.length, 2, `a temporary archive and a spool are left: ${left.join(', ')}`);
    const leftBytes = left.reduce((sum, n) => {
      const p = join(out, n);
      return sum + (n.endsWith('.spool') ? readdirSync(p).reduce((s, f) => s + statSync(join(p, f)).size, 0) : statSync(p).size);
    }, 0);
    assert.ok(leftBytes > LAYERS[0]! + MiB, `the leftovers hold ${leftBytes} bytes`);
    t.diagnostic(`the killed run left ${left.join(' and ')}: ${(leftBytes / MiB).toFixed(1)} MiB`);
    assert.ok(readFileSync(file).equals(oldBytes), 'FILE is the old archive, untouched');

    // A temporary of a live process (this test) stays, though the next run is another process.
    const live = `app.tar.tmp-${tempOwnerTag()}`;
    writeFileSync(join(out, live), 'in progress');

    const second = startGantry([...args, '--json'], env);
    t.after(() => void second.child.kill('SIGKILL'));
    const r = await second.done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['app.tar', live, 'notes.txt'].sort(), 'the dead run\'s temporaries are gone, the rest stays');

    // The new archive is whole: its layers are the image's, byte for byte.
    const src = new DockerArchiveSource(file);
    const m = parseManifest((await src.getManifest()).bytes);
    assert.equal(m.kind, 'image');
    if (m.kind !== 'image') return;
    const expected = (parseManifest(image.manifest.bytes) as { layers: Descriptor[] }).layers;
    assert.deepEqual(m.layers.map((l) => [l.digest.toString(), l.size]), expected.map((l) => [l.digest.toString(), l.size]));
    const small = m.layers[0]!;
    assert.equal(Digest.fromBytes(await readAll(await src.getBlob(small))).toString(), small.digest.toString());
    assert.ok(!existsSync(join(out, left[0]!)));
  });
});
