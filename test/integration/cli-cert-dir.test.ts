/**
 * skopeo's `--src-cert-dir` / `--dest-cert-dir` through the built CLI against a mutual-TLS
 * registry (real HTTPS, a client certificate required), and the TLS policy's per-host folder
 * and containers certs.d search with injected roots (never the real /etc).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceConfig } from '../../src/config/service-config.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/registry.js';
import { containersCertsRoots, findHostCertsDir } from '../../src/tls/certs-dir.js';
import { TlsPolicy } from '../../src/tls/policy.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { copyImage, makeIndex, MemorySource } from '../helpers/image-fixture.js';

let registry: TestRegistry;
let dir: string;
let layout: string;
let certFolder: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-cert-dir-'));
  layout = join(dir, 'layout');
  writeFileSync(join(dir, 'daemon.json'), '{}');
  mkdirSync(join(dir, 'empty-certs.d'));
  registry = await startTestRegistry({ mutualTls: true });
  // skopeo's --cert-dir is the host folder itself: ca.crt, client.cert, client.key.
  certFolder = join(registry.certsDir!, registry.host);
  const fixture = await makeIndex();
  await copyImage(new MemorySource(fixture.index, fixture.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
});
after(async () => {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

function gantry(...args: string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') };
  for (const k of ['DOCKER_AUTH_CONFIG', 'REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR']) delete env[k];
  return runGantry(args, { env });
}

/** certs.d holds nothing for the registry: only the cert dir can make the handshake work; verification on. */
const hermetic = (): string[] => ['--certs-dir', join(dir, 'empty-certs.d'), '--daemon-config', join(dir, 'daemon.json'), '--tls-verify=true'];
const ok = (r: CliRun): void => assert.equal(r.code, 0, `exit code; stderr: ${r.stderr}`);

describe('copy --src-cert-dir / --dest-cert-dir (mutual TLS)', () => {
  test('push with --dest-cert-dir, pull back with --src-cert-dir', async () => {
    ok(await gantry('copy', '--quiet', `oci:${layout}:v1`, `${registry.host}/team/app:v1`, '--dest-cert-dir', certFolder, ...hermetic()));
    ok(await gantry('copy', '--quiet', `${registry.host}/team/app:v1`, `oci:${join(dir, 'pulled')}:v1`, '--src-cert-dir', certFolder, ...hermetic()));
    ok(await gantry('copy', '--quiet', `${registry.host}/team/app:v1`, `${registry.host}/team/again:v1`, '--src-cert-dir', certFolder, '--dest-cert-dir', certFolder, ...hermetic()));
  });

  test('each side gets only its own folder; without one the server refuses', async () => {
    const r = await gantry('copy', '--quiet', `oci:${layout}:v1`, `${registry.host}/team/none:v1`, '--src-cert-dir', certFolder, ...hermetic());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /TLS|certificate/i);
  });

  test('a folder with half a pair, or a missing folder, is an error naming it', async () => {
    const half = join(dir, 'half');
    mkdirSync(half);
    copyFileSync(join(certFolder, 'ca.crt'), join(half, 'ca.crt'));
    copyFileSync(join(certFolder, 'client.cert'), join(half, 'client.cert'));
    const r = await gantry('copy', '--quiet', `oci:${layout}:v1`, `${registry.host}/team/half:v1`, '--dest-cert-dir', half, ...hermetic());
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`certs.d folder ${half}: missing key client.key for client certificate client.cert`));
    const missing = await gantry('copy', '--quiet', `oci:${layout}:v1`, `${registry.host}/team/half:v1`, '--dest-cert-dir', join(dir, 'nope'), ...hermetic());
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /certs\.d folder .*nope: the folder does not exist/);
  });
});

describe('the TLS policy: a host folder, and the containers certs.d search', () => {
  const config = ServiceConfig.create({ lookup: async () => [] });

  test("a host's folder applies to that host's origins only, never to a token realm or storage host", async () => {
    const certsD = join(dir, 'policy-certs.d');
    mkdirSync(join(certsD, 'auth.test'), { recursive: true });
    copyFileSync(join(certFolder, 'ca.crt'), join(certsD, 'auth.test', 'ca.crt'));
    const policy = new TlsPolicy({ certsDir: certsD, config });
    policy.useFolder('reg.test:5000', certFolder);
    const own = await policy.profileFor(new URL('https://reg.test:5000/v2/'));
    assert.equal(own?.client?.certFile, 'client.cert');
    assert.equal(own?.certsDir, certFolder);
    const realm = await policy.profileFor(new URL('https://auth.test/token'));
    assert.equal(realm?.client, undefined);
    assert.equal(realm?.certsDir, join(certsD, 'auth.test'));
    const storage = await policy.profileFor(new URL('https://reg.test/blob'));
    assert.equal(storage?.client, undefined, 'another port is another origin');
    // Docker Hub's default port is written out or not: one host.
    policy.useFolder('hub.test:443', certFolder);
    assert.equal((await policy.profileFor(new URL('https://hub.test/v2/')))?.client?.certFile, 'client.cert');
  });

  test('containers order: ~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d; the first that exists wins', async () => {
    const home = join(dir, 'home');
    const etc = join(dir, 'etc');
    const roots = containersCertsRoots({ home, etc, env: {} });
    assert.deepEqual(roots, [join(home, '.config/containers/certs.d'), join(etc, 'containers/certs.d'), join(etc, 'docker/certs.d')]);
    const host = 'reg.test:5000';
    assert.equal(await findHostCertsDir(roots, host), join(etc, 'docker/certs.d', host), 'none exists: the last (no configuration)');
    mkdirSync(join(etc, 'docker/certs.d', host), { recursive: true });
    mkdirSync(join(etc, 'containers/certs.d', host), { recursive: true });
    assert.equal(await findHostCertsDir(roots, host), join(etc, 'containers/certs.d', host));
    mkdirSync(join(home, '.config/containers/certs.d', host), { recursive: true });
    assert.equal(await findHostCertsDir(roots, host), join(home, '.config/containers/certs.d', host));

    // Only the folder found is read: its half pair fails, the other folders' files are not merged.
    copyFileSync(join(certFolder, 'client.cert'), join(etc, 'docker/certs.d', host, 'client.cert'));
    copyFileSync(join(certFolder, 'ca.crt'), join(home, '.config/containers/certs.d', host, 'ca.crt'));
    const policy = new TlsPolicy({ certsDir: '/nonexistent', config, searchRoots: roots });
    const certs = await policy.certsFor(host);
    assert.equal(certs.dir, join(home, '.config/containers/certs.d', host));
    assert.deepEqual(certs.caFiles, ['ca.crt']);
    assert.deepEqual(certs.clients, []);
    // Docker's default folder stays the last root, rootless aware.
    assert.equal(containersCertsRoots({ home, env: {} })[2], '/etc/docker/certs.d');
  });
});
