/**
 * The web view of `gantry serve --ui` in a real browser (issue 16, "A web view"): headless
 * Chromium (Debian package `chromium`) driven by puppeteer-core. An embedded registry with the UI
 * gets a two-platform index with a referrer (pushed with gantry's client); the browser searches
 * the repositories, opens the image and its platforms, and what the page shows (digests, sizes,
 * platforms, config env and labels, the referrer) is checked against the registry's own answers
 * read with the client. Screenshots land in test-output/serve-ui/ for people to look at.
 * Without Chromium the test skips locally and fails under CI (`CI` set), as test/helpers/peers.ts
 * does for the other peers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { RegistryClient, type RepositoryClient } from '../../src/client/registry-client.js';
import { Digest } from '../../src/ref/digest.js';
import { createRegistryServer } from '../../src/server/index.js';
import type { RegistryAuthOptions } from '../../src/server/options.js';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { Transport } from '../../src/transport/transport.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushImage } from '../helpers/client-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../../test-output/serve-ui/', import.meta.url));

/** requirePeer for Chromium: true when it is there; else skip locally, fail under CI. */
function requireChromium(t: { skip(message?: string): void }): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    const message = 'chromium is not installed; run scripts/install-peers.sh';
    if (process.env.CI) throw new Error(`${message} (CI is set, so peer tests must not skip)`);
    t.skip(message);
    return false;
  }
}

interface UiRegistry {
  host: string;
  url: string;
  close(): Promise<void>;
}

/** `gantry serve --ui` in-process: the embedded registry with the web view, on a free loopback port. */
async function startUiRegistry(auth: RegistryAuthOptions, storage = 'memory'): Promise<UiRegistry> {
  const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage, auth, ui: true });
  return { host: `127.0.0.1:${server.port}`, url: server.url, close: () => server.close() };
}

interface Platform {
  architecture: string;
  env: string[];
  labels: Record<string, string>;
}

/** Pushes a one-layer image with a full config (entrypoint, env, labels) by digest. */
async function pushPlatformImage(repo: RepositoryClient, p: Platform): Promise<{ bytes: Buffer; digest: Digest }> {
  const config = Buffer.from(
    JSON.stringify({
      created: '2026-11-30T12:34:56Z',
      architecture: p.architecture,
      os: 'linux',
      config: { Entrypoint: ['/bin/app', '--serve'], Cmd: ['--port', '8080'], Env: p.env, Labels: p.labels, WorkingDir: '/srv' },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const layers = [Buffer.from(`layer one ${p.architecture} `.repeat(300)), Buffer.from(`layer two ${p.architecture} `.repeat(40))];
  await repo.uploadBlob({ digest: Digest.fromBytes(config), size: config.length }, () => Readable.from([config]));
  for (const layer of layers) await repo.uploadBlob({ digest: Digest.fromBytes(layer), size: layer.length }, () => Readable.from([layer]));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: Digest.fromBytes(config).toString(), size: config.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: Digest.fromBytes(l).toString(), size: l.length })),
    }),
  );
  const digest = Digest.fromBytes(bytes);
  await repo.putManifest(digest, bytes, OCI_MANIFEST);
  return { bytes, digest };
}

interface Fixture {
  indexDigest: string;
  referrerDigest: string;
}

/** team/app:1.0 (an index: linux/amd64 and linux/arm64, with an SBOM referrer), and two other repositories. */
async function pushFixture(client: RegistryClient): Promise<Fixture> {
  const repo = client.repository('team/app');
  const amd64 = await pushPlatformImage(repo, { architecture: 'amd64', env: ['PATH=/usr/bin:/bin', 'MODE=<b>bold</b>'], labels: { 'org.opencontainers.image.title': 'app', 'x.evil': '<img src=x onerror=alert(1)>' } });
  const arm64 = await pushPlatformImage(repo, { architecture: 'arm64', env: ['PATH=/usr/bin:/bin', 'MODE=arm'], labels: { 'org.opencontainers.image.title': 'app-arm' } });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd64.digest.toString(), size: amd64.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: arm64.digest.toString(), size: arm64.bytes.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }),
  );
  await repo.putManifest('1.0', index, OCI_INDEX);
  const indexDigest = Digest.fromBytes(index);
  const empty = Buffer.from('{}');
  const sbom = Buffer.from('{"spdxVersion":"SPDX-2.3"}');
  await repo.uploadBlob({ digest: Digest.fromBytes(empty), size: 2 }, () => Readable.from([empty]));
  await repo.uploadBlob({ digest: Digest.fromBytes(sbom), size: sbom.length }, () => Readable.from([sbom]));
  const referrer = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: Digest.fromBytes(empty).toString(), size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: Digest.fromBytes(sbom).toString(), size: sbom.length }],
      subject: { mediaType: OCI_INDEX, digest: indexDigest.toString(), size: index.length },
      annotations: { 'org.opencontainers.image.created': '2026-11-30T13:00:00Z' },
    }),
  );
  await repo.putReferrer(referrer, OCI_MANIFEST);
  await pushImage(client.repository('team/worker'), 'latest', 3);
  await pushImage(client.repository('library/alpine'), '3.20', 4);
  return { indexDigest: indexDigest.toString(), referrerDigest: Digest.fromBytes(referrer).toString() };
}

async function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (el) => el.textContent ?? '');
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els.map((el) => el.textContent ?? ''));
}

/** The cells' text of each row matched by `selector` (`#tags tbody tr`). */
async function rows(page: Page, selector: string): Promise<string[][]> {
  type Row = { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> };
  return page.$$eval(selector, (trs) => trs.map((tr) => Array.from((tr as unknown as Row).querySelectorAll('td'), (td) => td.textContent ?? '')));
}

/** Waits until the text of `selector` passes `test` (a regular expression's source, run in the page). */
async function waitForText(page: Page, selector: string, test: RegExp): Promise<void> {
  await page.waitForFunction(`${test.toString()}.test(document.querySelector(${JSON.stringify(selector)})?.textContent ?? '')`);
}

/** `123 B` or `… (1234 B)`: the exact count the page shows. */
function shownBytes(shown: string): number {
  const m = /(\d+) B\)?$/.exec(shown.trim());
  assert.ok(m, `no byte count in ${JSON.stringify(shown)}`);
  return Number(m[1]);
}

let browser: Browser | undefined;
let transport: Transport;

before(() => {
  mkdirSync(OUTPUT, { recursive: true });
  transport = new Transport({ certsDir: join(tmpdir(), 'gantry-serve-ui-no-certs.d') });
});
after(async () => {
  await browser?.close();
  await transport.close();
});

async function launch(): Promise<Browser> {
  browser ??= await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  return browser;
}

/** A page that records console errors (CSP reports come this way) and uncaught errors. */
async function openPage(b: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await b.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 401/.test(msg.text())) problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { page, problems };
}

describe('gantry serve --ui in Chromium', () => {
  test('search, open an image, check what is shown against the registry', async (t) => {
    if (!requireChromium(t)) return;
    const registry = await startUiRegistry({ type: 'none' });
    const client = RegistryClient.create({ host: registry.host, transport, purpose: 'push' });
    try {
      const fixture = await pushFixture(client);
      const repo = client.repository('team/app');
      // The registry's own answers.
      const index = await repo.getManifest('1.0');
      assert.equal(index.digest.toString(), fixture.indexDigest);
      const indexJson = JSON.parse(index.bytes.toString('utf8')) as { manifests: Array<{ digest: string; size: number; platform: { os: string; architecture: string; variant?: string } }> };
      const children = await Promise.all(indexJson.manifests.map(async (d) => JSON.parse((await repo.getManifest(d.digest)).bytes.toString('utf8')) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> }));
      const total = children.reduce((sum, c) => sum + c.config.size + c.layers.reduce((s, l) => s + l.size, 0), 0);
      const amd64 = children[0]!;
      const configBytes: Buffer[] = [];
      for await (const chunk of await repo.getBlob({ digest: Digest.parse(amd64.config.digest), size: amd64.config.size })) configBytes.push(chunk as Buffer);
      const config = JSON.parse(Buffer.concat(configBytes).toString('utf8')) as { created: string; config: { Env: string[]; Labels: Record<string, string>; Entrypoint: string[] } };
      const referrers = await repo.referrers(index.digest);
      assert.equal(referrers.source, 'api');
      assert.deepEqual(referrers.manifests.map((m) => m.digest.toString()), [fixture.referrerDigest]);

      const { page, problems } = await openPage(await launch());
      const landing = await page.goto(`${registry.url}/ui/`, { waitUntil: 'networkidle0' });
      assert.equal(landing?.status(), 200);
      assert.match(landing?.headers()['content-security-policy'] ?? '', /script-src 'self'/);

      // Repositories, then a search.
      await page.waitForSelector('#repositories li');
      assert.deepEqual(await texts(page, '#repositories li'), ['library/alpine', 'team/app', 'team/worker']);
      await page.type('#search', 'team/');
      assert.deepEqual(await texts(page, '#repositories li:not([hidden])'), ['team/app', 'team/worker']);
      await page.type('#search', 'ap');
      assert.deepEqual(await texts(page, '#repositories li:not([hidden])'), ['team/app']);
      assert.equal(await text(page, '#repo-count'), '1 of 3');
      await page.screenshot({ path: join(OUTPUT, '1-repositories.png'), fullPage: true });

      // The repository's tags.
      await Promise.all([page.waitForSelector('#tags tbody tr'), page.click('#repositories li:not([hidden]) a')]);
      await waitForText(page, '#tags tbody tr td:nth-child(4)', /\d B/);
      const row = await rows(page, '#tags tbody tr');
      assert.equal(row.length, 1);
      const [tag, digest, type, size, , platforms] = row[0]!;
      assert.equal(tag, '1.0');
      assert.equal(digest, fixture.indexDigest);
      assert.equal(type, 'index');
      assert.equal(shownBytes(size!), total);
      assert.equal(platforms, 'linux/amd64, linux/arm64/v8');
      await page.screenshot({ path: join(OUTPUT, '2-tags.png'), fullPage: true });

      // The index: digest, platforms, referrers, commands.
      await Promise.all([page.waitForSelector('#platforms'), page.click('#tags tbody tr a')]);
      assert.equal(await text(page, '#digest'), fixture.indexDigest);
      const platformRows = await rows(page, '#platforms tbody tr');
      assert.deepEqual(
        platformRows.map((r) => [r[0], r[1], shownBytes(r[3]!)]),
        indexJson.manifests.map((d) => [[d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/'), d.digest, d.size]),
      );
      await page.waitForSelector('#referrers li[data-digest]');
      assert.deepEqual(await page.$$eval('#referrers li[data-digest]', (lis) => lis.map((li) => li.getAttribute('data-digest'))), [fixture.referrerDigest]);
      assert.match(await text(page, '#referrers'), /application\/spdx\+json/);
      const commands = await texts(page, '#commands code');
      assert.ok(commands.includes(`gantry pull ${registry.host}/team/app@${fixture.indexDigest} ./app`), commands.join('\n'));
      assert.ok(commands.includes(`docker pull ${registry.host}/team/app@${fixture.indexDigest}`));
      assert.ok(commands.includes(`docker pull ${registry.host}/team/app:1.0`));
      await page.screenshot({ path: join(OUTPUT, '3-index.png'), fullPage: true });

      // One platform: layers and config, with the registry's hostile strings shown as text.
      await Promise.all([page.waitForSelector('#layers'), page.click('#platforms tbody tr a')]);
      await page.waitForSelector('#config-env');
      assert.equal(await text(page, '#digest'), indexJson.manifests[0]!.digest);
      const layerRows = await rows(page, '#layers tbody tr');
      assert.deepEqual(layerRows.map((r) => [r[1], shownBytes(r[3]!)]), amd64.layers.map((l) => [l.digest, l.size]));
      assert.equal(shownBytes(await text(page, '#total-size')), amd64.config.size + amd64.layers.reduce((s, l) => s + l.size, 0));
      assert.deepEqual(await texts(page, '#config-env li'), config.config.Env);
      const labels = await rows(page, '#config-labels tbody tr');
      assert.deepEqual(Object.fromEntries(labels.map((r) => [r[0], r[1]])), config.config.Labels);
      assert.equal(await text(page, '#config-entrypoint'), JSON.stringify(config.config.Entrypoint));
      assert.equal(await text(page, '#config-created'), config.created);
      assert.equal(await page.$('#config-labels img'), null, 'a label value is text, never markup');
      assert.equal(await page.$('#config-env b'), null);
      await page.screenshot({ path: join(OUTPUT, '4-image.png'), fullPage: true });

      // The referrer itself, by its digest.
      await page.goto(`${registry.url}/ui/#/i/team%2Fapp/${encodeURIComponent(fixture.referrerDigest)}`, { waitUntil: 'networkidle0' });
      await page.waitForSelector('#artifact-type');
      assert.equal(await text(page, '#artifact-type'), 'application/spdx+json');
      assert.equal(await text(page, '#subject'), fixture.indexDigest);
      assert.deepEqual(problems, [], 'no CSP violation, page error or dialog');
      await page.close();
    } finally {
      await client.close();
      await registry.close();
    }
  });

  test('htpasswd: the Basic prompt guards the page, and its credentials reach the API', async (t) => {
    if (!requireChromium(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'gantry-serve-ui-htpasswd-'));
    writeFileSync(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 4)}\n`);
    // The content goes in through an open registry on the same storage; the browser meets the guarded one.
    const storage = join(dir, 'storage');
    const open = await startUiRegistry({ type: 'none' }, storage);
    const client = RegistryClient.create({ host: open.host, transport, purpose: 'push' });
    try {
      await pushImage(client.repository('team/private'), 'v1', 9);
    } finally {
      await client.close();
      await open.close();
    }
    const registry = await startUiRegistry({ type: 'htpasswd', file: join(dir, 'htpasswd') }, storage);
    try {
      const b = await launch();
      // Without credentials the server challenges, and the browser, with nobody to answer its prompt, gives up.
      const refused = await fetch(`${registry.url}/ui/`);
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('www-authenticate'), 'Basic realm="gantry"');
      const { page: anonymous } = await openPage(b);
      await assert.rejects(anonymous.goto(`${registry.url}/ui/`), /ERR_INVALID_AUTH_CREDENTIALS/);
      await anonymous.close();

      const { page, problems } = await openPage(b);
      await page.authenticate({ username: 'alice', password: 'alice-pw' });
      const ok = await page.goto(`${registry.url}/ui/#/r/team%2Fprivate`, { waitUntil: 'networkidle0' });
      assert.equal(ok?.status(), 200);
      await page.waitForSelector('#tags tbody tr');
      await waitForText(page, '#tags tbody tr td:nth-child(2)', /^sha256:/);
      assert.equal(await text(page, '#tags tbody tr td:nth-child(1)'), 'v1');
      await page.screenshot({ path: join(OUTPUT, '5-htpasswd.png'), fullPage: true });
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('token auth: the login form gets a token from /token and the API calls carry it', async (t) => {
    if (!requireChromium(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'gantry-serve-ui-token-'));
    const storage = join(dir, 'storage');
    const open = await startUiRegistry({ type: 'none' }, storage);
    const client = RegistryClient.create({ host: open.host, transport, purpose: 'push' });
    let pushed;
    try {
      pushed = await pushImage(client.repository('team/app'), 'v2', 21);
      await pushImage(client.repository('other/secret'), 'v1', 22);
    } finally {
      await client.close();
      await open.close();
    }
    const issuer = TokenIssuer.withGeneratedKey({
      issuer: 'gantry-ui-test',
      service: 'gantry-ui',
      users: { alice: { password: bcrypt.hashSync('alice-pw', 4), access: [{ repository: 'team/*', actions: ['pull'] }] } },
      catalogUsers: ['alice'],
    });
    const registry = await startUiRegistry({ type: 'token', issuer, service: 'gantry-ui' }, storage);
    try {
      const { page, problems } = await openPage(await launch());
      const landing = await page.goto(`${registry.url}/ui/`, { waitUntil: 'networkidle0' });
      assert.equal(landing?.status(), 200);
      await page.waitForSelector('#login');
      assert.equal(await text(page, '#login-message'), 'Log in to read this registry.');
      await page.type('#username', 'alice');
      await page.type('#password', 'wrong');
      await Promise.all([waitForText(page, '#login-message', /^Invalid username or password\.$/), page.click('#login button')]);
      await page.screenshot({ path: join(OUTPUT, '6-token-login.png'), fullPage: true });
      await page.type('#username', 'alice');
      await page.type('#password', 'alice-pw');
      await Promise.all([page.waitForSelector('#repositories li'), page.click('#login button')]);
      // The catalog lists every repository (alice may read the catalog), and alice's team/app opens.
      assert.deepEqual(await texts(page, '#repositories li'), ['other/secret', 'team/app']);
      await page.goto(`${registry.url}/ui/#/i/team%2Fapp/v2`);
      await page.waitForSelector('#layers');
      assert.equal(await text(page, '#digest'), pushed.digest.toString());
      // A repository the token may not read sends her back to the form, with the reason.
      await page.goto(`${registry.url}/ui/#/r/other%2Fsecret`);
      await waitForText(page, '#login-message', /^This account may not read this\. Log in as another user\?$/);
      assert.ok(issuer.stats.size > 0, 'tokens were issued');
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
