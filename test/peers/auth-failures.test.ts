/**
 * Every CLI command that reaches a registry, refused by the registry's auth: without
 * credentials and with a wrong password, against the real CNCF registry (htpasswd, and token
 * auth through the project's issuer) and the embedded registry (htpasswd, token). Each run must
 * exit 1 with exactly one `gantry: ` line on stderr (no stack trace, no unhandled 'error'
 * event) that says it was refused, and never print the password. `ping` is left out: it is not
 * authenticated. Commands run as separate processes, four at a time, against one registry of
 * each kind started once for the file.
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { createRegistryServer, type RegistryAuthOptions, type RegistryServer } from '../../src/server/index.js';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { copyImage, makeImage, MemorySource } from '../helpers/image-fixture.js';
import { peerPath, requirePeer } from '../helpers/peers.js';

const USER = 'alice';
const PASSWORD = 'right-Pa55-b1e7c0';
const WRONG = 'wrong-Pa55-7f3a9c';
/** Commands run at once per registry: enough to overlap process start-up on two cores. */
const CONCURRENCY = 4;
/** What a refusal must say: the status, the registry's code, or the words for it. */
const REFUSED = /401|unauthori[sz]ed|denied|credentials|authenticat/i;

let dir: string;
let layout: string;
let runs = 0;

/** A hermetic run: empty Docker config (flag and env), empty certs.d, an empty daemon.json. */
function gantry(args: string[], stdin?: string): Promise<CliRun> {
  const configDir = join(dir, 'docker-config');
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: configDir };
  delete env.DOCKER_AUTH_CONFIG;
  const hermetic = ['--config-dir', configDir, '--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')];
  return runGantry([...args, ...hermetic], { env, ...(stdin !== undefined ? { stdin } : {}) });
}

/** A fresh directory for a pull or a copy into a layout. */
const outDir = (): string => join(dir, `out-${++runs}`);

type Mode = 'no credentials' | 'wrong password';

interface Case {
  name: string;
  args: (host: string, mode: Mode) => string[];
  stdin?: string;
  modes?: Mode[];
  /** Checked after the run. */
  then?: () => void;
}

const creds = (flag: string, mode: Mode): string[] => (mode === 'wrong password' ? [flag, `${USER}:${WRONG}`] : []);

const CASES: Case[] = [
  { name: 'copy to the registry', args: (h, m) => ['copy', '--quiet', `oci:${layout}:v1`, `docker://${h}/auth/app:copied`, ...creds('--dest-creds', m)] },
  { name: 'copy from the registry', args: (h, m) => ['copy', '--quiet', `docker://${h}/auth/app:v1`, `oci:${outDir()}:v1`, ...creds('--src-creds', m)] },
  { name: 'pull', args: (h, m) => ['pull', '--quiet', `${h}/auth/app:v1`, outDir(), ...creds('--creds', m)] },
  { name: 'push', args: (h, m) => ['push', '--quiet', `${layout}:v1`, `${h}/auth/app:pushed`, ...creds('--creds', m)] },
  { name: 'inspect', args: (h, m) => ['inspect', `docker://${h}/auth/app:v1`, ...creds('--creds', m)] },
  { name: 'inspect --raw', args: (h, m) => ['inspect', '--raw', `docker://${h}/auth/app:v1`, ...creds('--creds', m)] },
  { name: 'inspect --config', args: (h, m) => ['inspect', '--config', `docker://${h}/auth/app:v1`, ...creds('--creds', m)] },
  { name: 'digest', args: (h, m) => ['digest', `${h}/auth/app:v1`, ...creds('--creds', m)] },
  { name: 'tags', args: (h, m) => ['tags', `${h}/auth/app`, ...creds('--creds', m)] },
  { name: 'catalog', args: (h, m) => ['catalog', h, ...creds('--creds', m)] },
  { name: 'delete', args: (h, m) => ['delete', `${h}/auth/app:v1`, ...creds('--creds', m)] },
  // Without a password on a pipe, login stops before any request (a usage error, exit 2).
  {
    name: 'login',
    args: (h) => ['login', h, '-u', USER, '--password-stdin'],
    stdin: `${WRONG}\n`,
    modes: ['wrong password'],
    then: () => {
      const configDir = join(dir, 'docker-config');
      assert.ok(!existsSync(configDir) || readdirSync(configDir).length === 0, 'a refused login stores nothing');
    },
  },
];

/** Exit 1, one `gantry: ` line on stderr saying it was refused, no password anywhere. */
function assertRefused(r: CliRun, what: string): void {
  const shown = `${what}\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, shown);
  assert.match(r.stderr, /^gantry: [^\n]+\n$/, `exactly one gantry: line on stderr\n${shown}`);
  assert.doesNotMatch(r.stderr, /Unhandled|\n\s+at |Error: /, shown);
  assert.match(r.stderr, REFUSED, shown);
  for (const secret of [WRONG, PASSWORD, Buffer.from(`${USER}:${WRONG}`).toString('base64'), Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) {
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `a password reached the output\n${shown}`);
  }
}

interface Target {
  name: string;
  peer?: 'docker-registry';
  start(): Promise<{ host: string; stop(): Promise<void> }>;
}

function issuerFor(service: string): TokenIssuer {
  return TokenIssuer.withGeneratedKey({
    issuer: 'gantry-auth-failures',
    service,
    users: { [USER]: { password: PASSWORD, access: [{ repository: '*', actions: ['*'] }] } },
    catalogUsers: [USER],
  });
}

function htpasswdFile(): string {
  const file = join(dir, `htpasswd-${++runs}`);
  writeFileSync(file, `${USER}:${bcrypt.hashSync(PASSWORD, 4)}\n`);
  return file;
}

/**
 * The embedded registry, its failed-authentication throttle off: this file fails a dozen
 * password checks per registry on purpose, and a throttled address waits out a minute's
 * Retry-After before its answer.
 */
async function embedded(auth: RegistryAuthOptions): Promise<{ host: string; stop(): Promise<void> }> {
  const server: RegistryServer = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth, authThrottle: { enabled: false } });
  return { host: new URL(server.url).host, stop: () => server.close() };
}

const TARGETS: Target[] = [
  {
    name: 'docker-registry, htpasswd',
    peer: 'docker-registry',
    start: async () => {
      const reg: RunningRegistry = await startDockerRegistry({ htpasswd: { users: { [USER]: PASSWORD } } });
      return { host: reg.host, stop: () => reg.stop() };
    },
  },
  {
    name: 'docker-registry, token auth (project issuer)',
    peer: 'docker-registry',
    start: async () => {
      const issuer = issuerFor('gantry-auth-failures-registry');
      const bundle = join(dir, `bundle-${++runs}.pem`);
      writeFileSync(bundle, issuer.certificatePem ?? '');
      const server = http.createServer((req, res) => void issuer.handle(req, res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
      const closeIssuer = async (): Promise<void> => {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      };
      try {
        const reg = await startDockerRegistry({ token: { realm, service: issuer.service, issuer: issuer.issuer, rootCertBundleFile: bundle } });
        return { host: reg.host, stop: async () => (await reg.stop(), await closeIssuer()) };
      } catch (err) {
        await closeIssuer();
        throw err;
      }
    },
  },
  { name: 'gantry serve, htpasswd', start: () => embedded({ type: 'htpasswd', file: htpasswdFile() }) },
  {
    name: 'gantry serve, token auth',
    start: () => {
      const issuer = issuerFor('gantry-auth-failures-embedded');
      return embedded({ type: 'token', issuer, service: issuer.service });
    },
  },
];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-auth-failures-'));
  layout = join(dir, 'layout');
  writeFileSync(join(dir, 'daemon.json'), '{}');
  const image = await makeImage({ seed: 'auth-failures' });
  await copyImage(new MemorySource(image.manifest, image.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const target of TARGETS) {
  describe(target.name, { concurrency: CONCURRENCY }, () => {
    let server: { host: string; stop(): Promise<void> } | undefined;
    before(async () => {
      if (target.peer && !peerPath(target.peer)) return;
      server = await target.start();
      // The right password works, so every refusal below is about the credentials.
      const seeded = await gantry(['push', '--quiet', `${layout}:v1`, `${server.host}/auth/app:v1`, '--creds', `${USER}:${PASSWORD}`]);
      assert.equal(seeded.code, 0, `seeding push: ${seeded.stderr}`);
      const digest = await gantry(['digest', `${server.host}/auth/app:v1`, '--creds', `${USER}:${PASSWORD}`]);
      assert.equal(digest.code, 0, `digest with the right password: ${digest.stderr}`);
    });
    after(() => server?.stop());

    const ready = (t: TestContext): boolean => {
      if (target.peer && !requirePeer(t, target.peer)) return false;
      assert.ok(server, 'the registry started');
      return true;
    };

    for (const c of CASES) {
      for (const mode of c.modes ?? (['no credentials', 'wrong password'] as Mode[])) {
        test(`${c.name}, ${mode}: exit 1, one gantry: line, no password`, async (t) => {
          if (!ready(t)) return;
          const args = c.args(server!.host, mode);
          const r = await gantry(args, c.stdin);
          t.diagnostic(r.stderr.trimEnd());
          assertRefused(r, `gantry ${args.join(' ')}`);
          c.then?.();
        });
      }
    }

  });
}
