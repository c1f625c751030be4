/**
 * Abandoned upload sessions are removed while the server runs (docker-registry's
 * `uploadpurging`), for directory and memory storage: with an age of 2 s and an interval of
 * 200 ms, a session started 2 s ago is gone (404 BLOB_UPLOAD_UNKNOWN, its directory removed)
 * while one started a second later is kept and can still be committed. Waits are polls with
 * deadlines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { call, errorCodes } from '../conformance/client.js';

const AGE_MS = 2000;
const INTERVAL_MS = 200;
/** How long a purge may take to show: the age, an interval, and slack for a busy machine. */
const DEADLINE_MS = AGE_MS + INTERVAL_MS + 4000;
const REPO = 'purge/app';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts a session; returns its id and upload path. */
async function startSession(base: string): Promise<{ id: string; path: string }> {
  const r = await call(base, 'POST', `/v2/${REPO}/blobs/uploads/`);
  assert.equal(r.status, 202, r.text);
  const path = new URL(r.header('location') as string, base).pathname;
  return { id: r.header('docker-upload-uuid') as string, path };
}

/** Appends `bytes` at `offset` (a chunked PATCH with Content-Range). */
async function patch(base: string, path: string, bytes: Buffer, offset: number): Promise<void> {
  const r = await call(base, 'PATCH', path, {
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + bytes.length - 1}`, 'content-length': String(bytes.length) },
    body: bytes,
  });
  assert.equal(r.status, 202, r.text);
}

for (const kind of ['directory', 'memory'] as const) {
  describe(`upload purging while running (${kind} storage)`, () => {
    let dir: string;
    let server: RegistryServer;
    const lines: string[] = [];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'gantry-upload-purge-'));
      server = await createRegistryServer({
        listen: { host: '127.0.0.1', port: 0 },
        storage: kind === 'memory' ? 'memory' : join(dir, 'registry'),
        uploadPurging: { ageMs: AGE_MS, intervalMs: INTERVAL_MS },
        log: (l) => lines.push(l),
      });
    });
    after(async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('an abandoned session is removed; a younger one is kept and commits', async () => {
      const abandoned = await startSession(server.url);
      await patch(server.url, abandoned.path, randomBytes(64), 0);
      const sessionDir = join(dir, 'registry', 'uploads', abandoned.id);
      if (kind === 'directory') assert.ok(existsSync(sessionDir), 'the session is on disk');

      await sleep(AGE_MS / 2);
      const youngerSent = Date.now();
      const younger = await startSession(server.url);
      const first = randomBytes(32);
      await patch(server.url, younger.path, first, 0);

      const deadline = Date.now() + DEADLINE_MS;
      let status = await call(server.url, 'GET', abandoned.path);
      while (status.status !== 404 && Date.now() < deadline) {
        await sleep(50);
        status = await call(server.url, 'GET', abandoned.path);
      }
      assert.equal(status.status, 404, `the abandoned session was still there after ${DEADLINE_MS} ms`);
      assert.deepEqual(errorCodes(status), ['BLOB_UPLOAD_UNKNOWN']);
      if (kind === 'directory') assert.ok(!existsSync(sessionDir), 'its files are removed');

      // The younger session started less than the age ago (measured from before its POST).
      const progress = await call(server.url, 'GET', younger.path);
      assert.ok(Date.now() - youngerSent < AGE_MS, 'the check came in time (a very busy machine?)');
      assert.equal(progress.status, 204, progress.text);
      assert.equal(progress.header('range'), `0-${first.length - 1}`);
      const second = randomBytes(32);
      await patch(server.url, younger.path, second, first.length);
      const blob = Buffer.concat([first, second]);
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const put = await call(server.url, 'PUT', `${younger.path}?digest=${digest}`);
      assert.equal(put.status, 201, put.text);
      assert.deepEqual((await call(server.url, 'GET', `/v2/${REPO}/blobs/${digest}`)).body, blob);

      // The server kept serving throughout, and said what it removed.
      assert.equal((await call(server.url, 'GET', '/v2/')).status, 200);
      assert.ok(lines.some((l) => /^upload purging: removed \d+ session/.test(l)), lines.join('\n'));
    });

    // (Memory storage shows nothing from outside once closed.)
    if (kind === 'directory') test('close stops the timer', async () => {
      await server.close();
      // A stale session written behind the closed server's back stays: no purge runs any more.
      const stale = join(dir, 'registry', 'uploads', randomUUID());
      mkdirSync(stale);
      const old = new Date(Date.now() - 10 * AGE_MS);
      utimesSync(stale, old, old);
      await sleep(INTERVAL_MS * 3);
      assert.ok(existsSync(stale));
    });
  });
}

test('a session on disk older than the age is removed when the storage opens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-upload-purge-restart-'));
  try {
    const storage = join(dir, 'registry');
    const first = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage, uploadPurging: { enabled: false } });
    const session = await startSession(first.url);
    await first.close();
    const sessionDir = join(storage, 'uploads', session.id);
    assert.ok(existsSync(sessionDir));
    // Disabled: kept across a restart, however old.
    await sleep(300);
    const kept = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage, uploadPurging: { enabled: false } });
    await kept.close();
    assert.ok(existsSync(sessionDir));
    const second = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage, uploadPurging: { ageMs: 200, intervalMs: 60_000 } });
    try {
      assert.ok(!existsSync(sessionDir), 'removed at start-up');
      assert.equal((await call(second.url, 'GET', session.path)).status, 404);
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
