/**
 * The built `gantry` (`node bin/gantry.js`, after `npm run build`) as users run it: a separate
 * process with stdout and stderr on pipes (not a TTY), against the embedded registry on
 * loopback. Checks exit codes (0, 1 with one `gantry:` line, 2 for usage errors), the
 * `--json` shapes scripts depend on, plain progress lines, `--quiet`, and the inspect views.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { VERSION } from '../../src/version.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { copyImage, makeIndex, MemorySource, type FixtureImage } from '../helpers/image-fixture.js';


type Run = CliRun;

let server: RegistryServer;
let reg: string;
let dir: string;
let layout: string;
let indexDigest: string;
let amd: FixtureImage;
let arm: FixtureImage;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-cli-'));
  layout = join(dir, 'layout');
  writeFileSync(join(dir, 'daemon.json'), '{}');
  server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
  reg = new URL(server.url).host;
  const fixture = await makeIndex();
  indexDigest = fixture.index.digest.toString();
  [amd, arm] = fixture.children as [FixtureImage, FixtureImage];
  await copyImage(new MemorySource(fixture.index, fixture.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Docker's config points at an empty temp dir so the user's own files never leak in. */
function gantry(...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') };
  delete env.DOCKER_AUTH_CONFIG;
  return runGantry(args, { env });
}

/** A registry command's flags that keep the run hermetic (no /etc/docker files). */
const hermetic = (): string[] => ['--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')];

function sha256(bytes: string | Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Exit 1 and exactly one line on stderr, `gantry: <message>`. */
function assertFailure(r: Run, message: RegExp): void {
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^gantry: [^\n]+\n$/, 'one gantry: line on stderr');
  assert.match(r.stderr, message);
}

describe('gantry CLI (built, separate process)', () => {
  test('version --json: { version, node, platform }', async () => {
    const r = await gantry('version', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { version: VERSION, node: process.versions.node, platform: `${process.platform}/${process.arch}` });
    const plain = await gantry('version');
    assert.equal(plain.stdout, `gantry ${VERSION} node/${process.versions.node} ${process.platform}/${process.arch}\n`);
  });

  test('copy without a TTY: plain progress lines on stderr, the summary on stdout', async () => {
    const r = await gantry('push', `${layout}:v1`, `${reg}/cli/app:v1`, ...hermetic());
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes('\x1b'), 'no ANSI escapes when stderr is not a TTY');
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^Copying oci:.*:v1 to .*cli/app:v1 \\(${indexDigest}, 2 platforms\\)$`));
    const copied = lines.filter((l) => /^[0-9a-f]{12}: Copied \(/.test(l));
    const blobs = new Set([...amd.blobs.keys(), ...arm.blobs.keys()]).size;
    assert.equal(copied.length, blobs, r.stderr);
    assert.equal(lines.filter((l) => l.startsWith('Wrote manifest ')).length, 3);
    assert.match(r.stdout, new RegExp(`^${indexDigest} \\(3 manifests, ${blobs} blobs: ${blobs} copied, 0 already there, 0 mounted; [0-9.]+ (B|KiB)\\)\\n$`));

    const again = await gantry('copy', `oci:${layout}:v1`, `docker://${reg}/cli/app:v1`, ...hermetic());
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `${indexDigest} (already up to date)\n`);
    assert.match(again.stderr, new RegExp(`^Image is up to date: ${indexDigest}$`, 'm'));
  });

  test('copy --json: the result object on stdout, no progress; --quiet prints only the digest', async () => {
    const r = await gantry('copy', `${reg}/cli/app:v1`, `${reg}/cli/json:v1`, '--json', ...hermetic());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(result).sort(), ['blobs', 'bytes', 'destination', 'digest', 'manifests', 'mediaType', 'source', 'upToDate']);
    assert.equal(result.source, `${reg}/cli/app:v1`);
    assert.equal(result.destination, `${reg}/cli/json:v1`);
    assert.equal(result.digest, indexDigest);
    assert.equal(result.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(result.upToDate, false);
    assert.equal(result.manifests, 3);
    const blobs = result.blobs as Record<string, number>;
    assert.deepEqual(Object.keys(blobs).sort(), ['copied', 'existed', 'mounted', 'total']);
    assert.equal(blobs.mounted, blobs.total, 'same registry: every blob mounted');
    assert.equal(result.bytes, 0);

    const quiet = await gantry('copy', `${reg}/cli/app:v1`, `oci:${join(dir, 'quiet')}:v1`, '--quiet', ...hermetic());
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, `${indexDigest}\n`);
    assert.equal(quiet.stderr, '');
  });

  test('copy --platform writes that platform\'s image; digest --json names it', async () => {
    const r = await gantry('copy', `${reg}/cli/app:v1`, `${reg}/cli/arm:v1`, '--platform', 'linux/arm64', '--json', ...hermetic());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).digest, arm.manifest.digest.toString());
    assert.equal(JSON.parse(r.stdout).manifests, 1);
    const d = await gantry('digest', `${reg}/cli/arm:v1`, '--json', ...hermetic());
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(JSON.parse(d.stdout), { reference: `${reg}/cli/arm:v1`, digest: arm.manifest.digest.toString() });
    const plain = await gantry('digest', `docker://${reg}/cli/app:v1`, ...hermetic());
    assert.equal(plain.stdout, `${indexDigest}\n`);
  });

  test('inspect: --json of an index and of one platform, --raw bytes, --config blob', async () => {
    const idx = await gantry('inspect', `${reg}/cli/app:v1`, '--json', ...hermetic());
    assert.equal(idx.code, 0, idx.stderr);
    const index = JSON.parse(idx.stdout) as { name: string; digest: string; mediaType: string; platforms: { platform: string; digest: string }[]; image?: unknown };
    assert.equal(index.digest, indexDigest);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.platforms.map((p) => [p.platform, p.digest]), [['linux/amd64', amd.manifest.digest.toString()], ['linux/arm64/v8', arm.manifest.digest.toString()]]);
    assert.equal(index.image, undefined);

    const one = await gantry('inspect', `${reg}/cli/app:v1`, '--platform', 'linux/arm64', '--json', ...hermetic());
    assert.equal(one.code, 0, one.stderr);
    const image = (JSON.parse(one.stdout) as { image: Record<string, unknown> }).image;
    assert.equal(image.digest, arm.manifest.digest.toString());
    assert.equal(image.architecture, 'arm64');
    assert.equal(image.variant, 'v8');
    assert.deepEqual(image.labels, { seed: 'arm' });
    assert.deepEqual((image.layers as { digest: string }[]).map((l) => l.digest), arm.layers.map((l) => l.digest.toString()));

    const raw = await gantry('inspect', `${reg}/cli/app:v1`, '--raw', ...hermetic());
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(sha256(raw.stdout), indexDigest, 'the raw bytes hash to the digest');

    const config = await gantry('inspect', `oci:${layout}:v1`, '--config', '--platform', 'linux/amd64', ...hermetic());
    assert.equal(config.code, 0, config.stderr);
    assert.equal(config.stdout, amd.config.toString('utf8'));
    assertFailure(await gantry('inspect', `${reg}/cli/app:v1`, '--config', ...hermetic()), /multi-platform index/);
  });

  test('tags, catalog and ping --json', async () => {
    const tags = await gantry('tags', `${reg}/cli/app`, '--json', ...hermetic());
    assert.equal(tags.code, 0, tags.stderr);
    assert.deepEqual(JSON.parse(tags.stdout), { repository: `${reg}/cli/app`, tags: ['v1'] });
    const catalog = await gantry('catalog', reg, '--json', ...hermetic());
    assert.equal(catalog.code, 0, catalog.stderr);
    const listed = JSON.parse(catalog.stdout) as { registry: string; repositories: string[] };
    assert.equal(listed.registry, reg);
    assert.ok(['cli/app', 'cli/json', 'cli/arm'].every((r) => listed.repositories.includes(r)), catalog.stdout);
    const ping = await gantry('ping', reg, '--json', ...hermetic());
    assert.equal(ping.code, 0, ping.stderr);
    const p = JSON.parse(ping.stdout) as Record<string, unknown>;
    assert.equal(p.ok, true);
    assert.equal(p.status, 200);
    assert.equal(p.scheme, 'http');
    assert.ok(Array.isArray(p.challenges) && Array.isArray(p.attempts));
  });

  test('delete --json, then digest fails: exit 1, one not-found line', async () => {
    await gantry('copy', `${reg}/cli/app:v1`, `${reg}/cli/doomed:v1`, '--quiet', ...hermetic());
    const del = await gantry('delete', `${reg}/cli/doomed:v1`, '--json', ...hermetic());
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(JSON.parse(del.stdout), { reference: `${reg}/cli/doomed:v1`, deleted: indexDigest });
    assertFailure(await gantry('digest', `${reg}/cli/doomed:v1`, ...hermetic()), /MANIFEST_UNKNOWN|not found|unknown/i);
  });

  test('failures exit 1 with one gantry: line', async () => {
    assertFailure(await gantry('copy', `${reg}/cli/missing:v1`, `oci:${join(dir, 'missing')}`, ...hermetic()), /MANIFEST_UNKNOWN|NAME_UNKNOWN|not found/i);
    assertFailure(await gantry('inspect', `oci:${join(dir, 'no-such-layout')}`, ...hermetic()), /no-such-layout/);
  });

  test('usage errors exit 2: missing argument, unknown flag, --jobs 0, --tls-verify=maybe, malformed reference', async () => {
    const cases: [string[], RegExp][] = [
      [['copy', `${reg}/cli/app:v1`], /missing required argument/],
      [['copy', `${reg}/cli/app:v1`, `oci:${join(dir, 'x')}`, '--no-such-flag'], /unknown option '--no-such-flag'/],
      [['copy', `${reg}/cli/app:v1`, `oci:${join(dir, 'x')}`, '--jobs', '0'], /--jobs/],
      [['digest', `${reg}/cli/app:v1`, '--tls-verify=maybe'], /--tls-verify: expected true or false, got "maybe"/],
      [['digest', `${reg}/Cli/UPPER:v1`, ...hermetic()], /gantry: .*(invalid|must be lowercase)/i],
      [['copy', 'oci:', `${reg}/cli/x:v1`, ...hermetic()], /gantry: invalid image location "oci:"/],
      [['no-such-command'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const r = await gantry(...args);
      assert.equal(r.code, 2, `gantry ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
      assert.match(r.stderr, message, `gantry ${args.join(' ')}`);
      assert.match(r.stderr, /^gantry: /, `gantry ${args.join(' ')}: the first line is a gantry: line`);
      assert.equal(r.stdout, '', `gantry ${args.join(' ')}: nothing on stdout`);
    }
  });

  test('a bad flag or a missing argument names the command\'s usage and its help', async () => {
    const bad = await gantry('tags', '--no-such-flag', `${reg}/cli/app`);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, "gantry: unknown option '--no-such-flag'\nusage: gantry tags [options] <repository>\nsee 'gantry tags --help'\n");
    const missing = await gantry('copy', `${reg}/cli/app:v1`);
    assert.match(missing.stderr, /^gantry: missing required argument 'destination'\nusage: gantry copy \[options\] <source> <destination>\nsee 'gantry copy --help'\n$/);
    const unknown = await gantry('no-such-command');
    assert.match(unknown.stderr, /^gantry: unknown command 'no-such-command'\nusage: gantry \[options\] \[command\]\nsee 'gantry --help'\n$/);
  });
});
