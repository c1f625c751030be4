/**
 * A sync killed part-way (SIGKILL, no chance to clean up) and run again: the rerun completes,
 * skips every tag the killed run finished, and streams only the blobs the destination does
 * not have (counted before the rerun with a HEAD of each): nothing is redone. The source is
 * the embedded registry behind an HTTP proxy that paces blob downloads, slow enough to kill
 * mid-copy (kill-fixture.ts's TCP pacer cuts a connection whose last answer it still holds,
 * which a HEAD on a kept-alive connection meets); the destination the real CNCF registry when
 * it is installed, else the embedded one. The killed process runs the library (`sync()`),
 * printing its items.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RegistryImageDestination } from '../../src/image/registry.js';
import { copyImage } from '../../src/image/copy.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { Reference } from '../../src/ref/reference.js';
import { sync, type SyncConfig, type SyncItem } from '../../src/sync/index.js';
import { prngImage } from '../helpers/kill-fixture.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { peerPath } from '../helpers/peers.js';

const SYNC_MODULE = fileURLToPath(new URL('../../src/sync/index.ts', import.meta.url));
const TAGS = ['t0', 't1', 't2', 't3', 't4', 't5'];
const LAYERS = [1536 * 1024, 1024 * 1024];
/** Per connection: each tag's 2.5 MiB takes about a second. */
const PACE = 3 * 1024 * 1024;

/** A reverse proxy to 127.0.0.1:`port` that sends blob bodies at `bytesPerSecond` per request, everything else at once. */
async function startPacedProxy(port: number, bytesPerSecond: number): Promise<{ host: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (req.method !== 'GET' || !/\/blobs\/sha256:/.test(req.url ?? '')) {
        answer.pipe(res);
        return;
      }
      const pace = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          setTimeout(() => cb(null, chunk), (chunk.length / bytesPerSecond) * 1000);
        },
      });
      answer.pipe(pace).pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('sync resumes after a kill', () => {
  let source: RegistryServer;
  let proxy: Awaited<ReturnType<typeof startPacedProxy>>;
  let dest: { host: string; stop(): Promise<void> };
  const blobsOf = new Map<string, string[]>();

  before(async () => {
    source = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
    const host = new URL(source.url).host;
    const client = RegistryClient.create({ host });
    for (const [i, tag] of TAGS.entries()) {
      const image = await prngImage(LAYERS, 7000 + i * 10);
      await copyImage(image, new RegistryImageDestination(client, Reference.parse(`${host}/big/app:${tag}`)));
      const m = parseManifest(image.manifest.bytes);
      if (m.kind === 'image') blobsOf.set(tag, [m.config, ...m.layers].map((d) => d.digest.toString()));
    }
    await client.close();
    proxy = await startPacedProxy(Number(new URL(source.url).port), PACE);
    if (peerPath('docker-registry')) {
      const r: RunningRegistry = await startDockerRegistry();
      dest = { host: r.host, stop: () => r.stop() };
    } else {
      const s = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
      dest = { host: new URL(s.url).host, stop: () => s.close() };
    }
  });
  after(async () => {
    await proxy?.close();
    await source?.close();
    await dest?.stop();
  });

  test('SIGKILL mid-run, then a rerun: finished tags skipped, only missing blobs streamed', async () => {
    const config: SyncConfig = { sources: [{ registry: proxy.host, repositories: ['big/app'], destinations: [{ registry: dest.host, prefix: 'mirror' }] }] };
    const code = `import { sync } from ${JSON.stringify(SYNC_MODULE)};
await sync(JSON.parse(process.env.SYNC_CONFIG), { jobs: 2, blobJobs: 2, onItem: (i) => process.stdout.write(JSON.stringify(i) + '\\n') });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...process.env, SYNC_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const seen: SyncItem[] = [];
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killed = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let buffer = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        seen.push(JSON.parse(buffer.slice(0, i)) as SyncItem);
        buffer = buffer.slice(i + 1);
        // Two tags done, two more under way: kill it now.
        if (seen.filter((s) => s.action === 'copied').length === 2) setTimeout(() => child.kill('SIGKILL'), 300);
      }
    });
    const signal = await killed;
    clearTimeout(guard);
    assert.equal(signal, 'SIGKILL', `the sync ended by itself before it was killed: ${stderr}`);
    const done = seen.filter((s) => s.action === 'copied').map((s) => s.tag!);
    assert.ok(done.length >= 2 && done.length < TAGS.length, `copied before the kill: ${done.join(' ')}`);

    // What the destination holds now: finished tags, and blobs of the copies in flight.
    const client = RegistryClient.create({ host: dest.host });
    const repo = client.repository('mirror/big/app');
    const present = new Set<string>();
    const tagged = new Set<string>();
    for (const tag of TAGS) {
      if (await repo.headManifest(tag)) tagged.add(tag);
      for (const b of blobsOf.get(tag)!) if (await repo.headBlob(b)) present.add(b);
    }
    await client.close();
    const missing = new Set(TAGS.flatMap((t) => blobsOf.get(t)!).filter((b) => !present.has(b)));
    for (const tag of done) assert.ok(tagged.has(tag), `${tag} was reported copied but is not there`);

    const rerun = await sync(config, { jobs: 2, blobJobs: 2 });
    assert.equal(rerun.failed, 0, JSON.stringify(rerun.items));
    assert.equal(rerun.skipped, tagged.size, 'every tag the killed run finished is skipped on its HEADs');
    assert.equal(rerun.copied, TAGS.length - tagged.size);
    const streamed = rerun.items.reduce((n, i) => n + (i.blobs?.copied ?? 0), 0);
    const existed = rerun.items.reduce((n, i) => n + (i.blobs?.existed ?? 0), 0);
    assert.equal(streamed, missing.size, 'only the blobs the destination lacked were streamed');
    assert.equal(existed, rerun.copied * (LAYERS.length + 1) - missing.size, 'the rest of those tags\' blobs were found there');
    assert.ok(existed > 0, 'the kill came mid-copy: blobs of unfinished tags were there, and not sent again');
    const after = await sync(config);
    assert.equal(after.skipped, TAGS.length, 'and then everything is there');
  });
});
