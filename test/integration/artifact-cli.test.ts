/**
 * `gantry artifact push`, `gantry artifact pull` and `gantry attach`, each test run twice: in
 * this process (a commander program with only `artifactCommands` on it, its output captured)
 * and as users run it, the built `bin/gantry.js`. Exit codes as main() gives them: 0, 1 with
 * one `gantry:` line, 2 for usage errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { artifactCommands } from '../../src/cli/commands/artifact.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { referrersTag } from '../../src/client/referrers.js';
import { ErrorCode, GantryError } from '../../src/errors.js';
import { Digest } from '../../src/ref/digest.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { Transport } from '../../src/transport/transport.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let work: string;
let embedded: TestRegistry;
let distribution: RunningRegistry;
let transport: Transport;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'gantry-artifact-cli-'));
  writeFileSync(join(work, 'daemon.json'), '{}');
  writeFileSync(join(work, 'registries.conf'), '');
  mkdirSync(join(work, 'files'));
  writeFileSync(join(work, 'files', 'readme.md'), '# readme\n');
  writeFileSync(join(work, 'files', 'data.json'), '{"a":1}\n');
  transport = new Transport({ certsDir: join(work, 'certs.d') });
  [embedded, distribution] = await Promise.all([startTestRegistry(), startDockerRegistry()]);
});
after(async () => {
  await transport?.close();
  await embedded?.close();
  await distribution?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The flags that keep a run hermetic: no /etc/docker, ~/.docker or registries.conf of this machine. */
const hermetic = (): string[] => ['--certs-dir', join(work, 'certs.d'), '--daemon-config', join(work, 'daemon.json'), '--config-dir', join(work, 'docker-config'), '--registries-conf', join(work, 'registries.conf')];

/** The commands in this process, as main() runs them: errors to one `gantry:` line, exit 1 or 2. */
async function inProcess(args: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const program = new Command('gantry').exitOverride().configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  artifactCommands(program, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  try {
    await program.parseAsync(['node', 'gantry', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.code === 'commander.helpDisplayed' ? 0 : 2, stdout, stderr };
    stderr += `gantry: ${err instanceof Error ? err.message : String(err)}\n`;
    const usage = err instanceof GantryError && (err.code === ErrorCode.USAGE || err.code === ErrorCode.INVALID_REFERENCE);
    return { code: usage ? 2 : 1, stdout, stderr };
  }
}

function bin(args: readonly string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(work, 'docker-config') };
  delete env.DOCKER_AUTH_CONFIG;
  delete env.REGISTRY_AUTH_FILE;
  return runGantry(args, { env });
}

const runners: [string, (args: readonly string[]) => Promise<CliRun>][] = [
  ['in-process', inProcess],
  ['bin/gantry.js', bin],
];

for (const [name, run] of runners) {
  describe(`artifact commands (${name})`, () => {
    const gantry = (...args: string[]): Promise<CliRun> => run([...args, ...hermetic()]);
    const it = (title: string, body: (t: { id: string }) => Promise<void>) =>
      test(title, async () => {
        await body({ id: name === 'in-process' ? 'inproc' : 'bin' });
      });

    it('push --json, then pull --json: the same files, the manifest as oras writes it', async ({ id }) => {
      const ref = `${embedded.host}/cli/${id}:v1`;
      const pushed = await gantry('artifact', 'push', ref, join(work, 'files', 'readme.md') + ':text/markdown', join(work, 'files', 'data.json'), '--artifact-type', 'application/vnd.example.cli', '--annotation', 'com.example.k=v', '--json');
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(pushed.stderr, '');
      const doc = JSON.parse(pushed.stdout) as { reference: string; digest: string; mediaType: string; artifactType: string; subject?: unknown; layers: { title: string; digest: string; size: number; mediaType: string }[] };
      assert.deepEqual(Object.keys(doc), ['reference', 'digest', 'mediaType', 'artifactType', 'layers']);
      assert.equal(doc.reference, ref);
      assert.equal(doc.mediaType, OCI_MANIFEST);
      assert.equal(doc.artifactType, 'application/vnd.example.cli');
      assert.deepEqual(doc.layers, [
        { title: 'readme.md', digest: Digest.fromBytes('# readme\n').toString(), size: 9, mediaType: 'text/markdown' },
        { title: 'data.json', digest: Digest.fromBytes('{"a":1}\n').toString(), size: 8, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
      ]);
      const stored = await RegistryClient.create({ host: embedded.host, transport, purpose: 'pull' }).repository(`cli/${id}`).getManifest('v1');
      assert.equal(stored.digest.toString(), doc.digest);
      const json = JSON.parse(stored.bytes.toString()) as { annotations: Record<string, string> };
      assert.equal(json.annotations['com.example.k'], 'v');

      const out = join(work, `pulled-${id}`);
      const pulled = await gantry('artifact', 'pull', ref, out, '--json');
      assert.equal(pulled.code, 0, pulled.stderr);
      const p = JSON.parse(pulled.stdout) as { digest: string; directory: string; files: { title: string; path: string }[]; skipped: unknown[] };
      assert.equal(p.digest, doc.digest);
      assert.equal(p.directory, out);
      assert.deepEqual(p.files.map((f) => [f.title, f.path]), [['readme.md', join(out, 'readme.md')], ['data.json', join(out, 'data.json')]]);
      assert.deepEqual(p.skipped, []);
      assert.equal(readFileSync(join(out, 'readme.md'), 'utf8'), '# readme\n');
      assert.equal(readFileSync(join(out, 'data.json'), 'utf8'), '{"a":1}\n');

      // Again: the files exist, so exit 2 and nothing changes; --overwrite replaces them.
      writeFileSync(join(out, 'readme.md'), 'changed\n');
      const refused = await gantry('artifact', 'pull', ref, out);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /^gantry: .*readme\.md exists; pass overwrite \(--overwrite\)/);
      assert.equal(readFileSync(join(out, 'readme.md'), 'utf8'), 'changed\n');
      const replaced = await gantry('artifact', 'pull', ref, out, '--overwrite');
      assert.equal(replaced.code, 0, replaced.stderr);
      assert.equal(replaced.stdout, `${doc.digest}\n`);
      assert.match(replaced.stderr, /^Wrote readme\.md \(9 B\)\nWrote data\.json \(8 B\)\n$/);
      assert.equal(readFileSync(join(out, 'readme.md'), 'utf8'), '# readme\n');
      assert.deepEqual(readdirSync(out).sort(), ['data.json', 'readme.md']);
    });

    it('plain push prints the digest on stdout and one line per file on stderr; --quiet only the digest', async ({ id }) => {
      const ref = `${embedded.host}/cli/${id}-plain:v1`;
      const r = await gantry('artifact', 'push', ref, join(work, 'files', 'readme.md'));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
      assert.match(r.stderr, /^(Uploaded|Already exists) readme\.md \(9 B\) sha256:[a-f0-9]{64}\n$/);
      const q = await gantry('artifact', 'push', ref, join(work, 'files', 'readme.md'), '--quiet');
      assert.equal(q.code, 0, q.stderr);
      assert.match(q.stdout, /^sha256:[a-f0-9]{64}\n$/);
      assert.equal(q.stderr, '');
    });

    it('attach on docker-registry 2.8: by digest, the referrers tag written, no tag set', async ({ id }) => {
      const subject = `${distribution.host}/cli/${id}-attach:v1`;
      const base = await gantry('artifact', 'push', subject, join(work, 'files', 'data.json'), '--quiet');
      assert.equal(base.code, 0, base.stderr);
      const subjectDigest = base.stdout.trim();
      const r = await gantry('attach', subject, join(work, 'files', 'readme.md'), '--artifact-type', 'application/vnd.example.doc', '--json');
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { reference: string; digest: string; artifactType: string; subject: { digest: string; mediaType: string; size: number; indexedBy: string } };
      assert.equal(doc.reference, `${distribution.host}/cli/${id}-attach@${doc.digest}`);
      assert.equal(doc.artifactType, 'application/vnd.example.doc');
      assert.equal(doc.subject.digest, subjectDigest);
      assert.equal(doc.subject.mediaType, OCI_MANIFEST);
      assert.equal(doc.subject.indexedBy, 'tag');
      const repo = RegistryClient.create({ host: distribution.host, transport, purpose: 'pull' }).repository(`cli/${id}-attach`);
      const listed = await repo.referrers(subjectDigest);
      assert.equal(listed.source, 'tag');
      assert.deepEqual(listed.manifests.map((m) => m.digest.toString()), [doc.digest]);
      assert.ok(await repo.headManifest(referrersTag(Digest.parse(subjectDigest))));
      const tags: string[] = [];
      for await (const t of repo.tags()) tags.push(t);
      assert.deepEqual(tags.sort(), [referrersTag(Digest.parse(subjectDigest)), 'v1'].sort());
    });

    it('usage errors exit 2: attach without --artifact-type or files, a subject elsewhere, a bad media type, two files of one name', async ({ id }) => {
      const ref = `${embedded.host}/cli/${id}-usage:v1`;
      const noType = await gantry('attach', ref, join(work, 'files', 'readme.md'));
      assert.equal(noType.code, 2);
      assert.match(noType.stderr, /--artifact-type/);
      const noFiles = await gantry('attach', ref, '--artifact-type', 'application/vnd.x');
      assert.equal(noFiles.code, 2);
      assert.match(noFiles.stderr, /^gantry: attach needs a file or an --annotation/);
      const elsewhere = await gantry('artifact', 'push', ref, join(work, 'files', 'readme.md'), '--subject', `${embedded.host}/other/repo:v1`);
      assert.equal(elsewhere.code, 2);
      assert.match(elsewhere.stderr, /^gantry: pushArtifact: invalid option subject: .*a referrer lives in its subject's repository/);
      const badType = await gantry('artifact', 'push', ref, join(work, 'files', 'readme.md') + ':nonsense');
      assert.equal(badType.code, 2);
      assert.match(badType.stderr, /files\[0\]\.mediaType/);
      mkdirSync(join(work, `dup-${id}`), { recursive: true });
      writeFileSync(join(work, `dup-${id}`, 'readme.md'), 'other\n');
      const dup = await gantry('artifact', 'push', ref, join(work, 'files', 'readme.md'), join(work, `dup-${id}`, 'readme.md'));
      assert.equal(dup.code, 2);
      assert.match(dup.stderr, /readme\.md/);
      const badAnnotation = await gantry('artifact', 'push', ref, '--annotation', 'novalue');
      assert.equal(badAnnotation.code, 2);
      // Nothing was pushed by any of them.
      const repo = RegistryClient.create({ host: embedded.host, transport, purpose: 'pull' }).repository(`cli/${id}-usage`);
      assert.equal(await repo.headManifest('v1'), undefined);
    });
  });
}
