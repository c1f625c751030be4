/**
 * skopeo (containers/image) copies to and from the embedded registry in every mode: plain
 * HTTP, TLS, mutual TLS, htpasswd and token auth. The source is an OCI layout built here; the
 * manifest digest must be the same at the source, in the registry and after copying back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import bcrypt from 'bcryptjs';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions } from '../../src/server/index.js';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { requirePeer, runSkopeo } from '../helpers/peers.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A one-file tar (ustar header + data + end blocks), enough for a real layer. */
function tarOf(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${Math.floor(Date.UTC(2026, 0, 1) / 1000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}

/** Writes an OCI image layout with one image tagged `tag`; returns the manifest digest. */
function writeOciLayout(dir: string, tag: string): string {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blob = (bytes: Buffer): { digest: string; size: number } => {
    const hex = sha256hex(bytes);
    writeFileSync(join(dir, 'blobs', 'sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const tar = tarOf('hello.txt', randomBytes(4096));
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256hex(tar)}`] },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(layer) }],
  }));
  const m = blob(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return m.digest;
}

interface Mode {
  name: string;
  options: (scratch: string) => Partial<RegistryServerOptions>;
  /** skopeo flags for one side (`src` or `dest`) of a copy. */
  flags: (side: 'src' | 'dest' | '', scratch: string) => string[];
}

describe('skopeo copy to and from the embedded registry', () => {
  let pki: TestPki;
  let scratch: string;
  let source: string;
  let sourceDigest: string;
  before(() => {
    pki = createTestPki();
    scratch = mkdtempSync(join(tmpdir(), 'gantry-skopeo-'));
    source = join(scratch, 'source');
    sourceDigest = writeOciLayout(source, 'v1');
  });
  after(() => {
    pki?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const flag = (side: string, name: string): string => `--${side ? `${side}-` : ''}${name}`;
  const certDir = (name: string, client: boolean): string => {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ca.crt'), pki.ca.certPem);
    if (client) {
      const pair = pki.client('skopeo');
      writeFileSync(join(dir, 'client.cert'), pair.certPem);
      writeFileSync(join(dir, 'client.key'), pair.keyPem);
    }
    return dir;
  };
  const password = `pw-${randomBytes(6).toString('hex')}`;

  const modes: Mode[] = [
    { name: 'plain HTTP', options: () => ({}), flags: (side) => [`${flag(side, 'tls-verify')}=false`] },
    {
      name: 'TLS',
      options: () => {
        const c = pki.server(['127.0.0.1']);
        return { tls: { cert: c.certFile, key: c.keyFile } };
      },
      flags: (side) => [flag(side, 'cert-dir'), certDir('tls-certs', false)],
    },
    {
      name: 'mutual TLS',
      options: () => {
        const c = pki.server(['127.0.0.1']);
        return { tls: { cert: c.certPem, key: c.keyPem, clientCa: pki.ca.certPem } };
      },
      flags: (side) => [flag(side, 'cert-dir'), certDir('mtls-certs', true)],
    },
    {
      name: 'htpasswd',
      options: (dir) => {
        writeFileSync(join(dir, 'htpasswd'), `skopeo:${bcrypt.hashSync(password, 5)}\n`);
        return { auth: { type: 'htpasswd', file: join(dir, 'htpasswd') } };
      },
      flags: (side) => [`${flag(side, 'tls-verify')}=false`, side ? flag(side, 'creds') : '--creds', `skopeo:${password}`],
    },
    {
      name: 'token',
      options: () => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
        const issuer = new TokenIssuer({
          issuer: 'gantry-skopeo-test',
          service: 'gantry-skopeo',
          signingKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          users: { skopeo: { password, access: [{ repository: 'copied/*', actions: ['pull', 'push'] }] } },
        });
        return { auth: { type: 'token', issuer, service: 'gantry-skopeo' } };
      },
      flags: (side) => [`${flag(side, 'tls-verify')}=false`, side ? flag(side, 'creds') : '--creds', `skopeo:${password}`],
    },
  ];

  for (const mode of modes) {
    test(`${mode.name}: copy in, inspect, copy out, same digest`, async (t) => {
      if (!requirePeer(t, 'skopeo')) return;
      const dir = join(scratch, mode.name.replace(/\W+/g, '-'));
      mkdirSync(dir, { recursive: true });
      const server: RegistryServer = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: join(dir, 'storage'), ...mode.options(dir) });
      t.after(() => server.close());
      const ref = `docker://127.0.0.1:${server.port}/copied/image:v1`;

      const push = await runSkopeo(['--insecure-policy', 'copy', ...mode.flags('dest', scratch), `oci:${source}:v1`, ref]);
      assert.equal(push.code, 0, `copy in failed:\n${push.stderr}`);

      const raw = await runSkopeo(['inspect', '--raw', ...mode.flags('', scratch), ref]);
      assert.equal(raw.code, 0, raw.stderr);
      assert.equal(`sha256:${sha256hex(Buffer.from(raw.stdout.replace(/\n$/, ''), 'utf8'))}`, sourceDigest, 'the registry serves the source manifest bytes');
      const info = await runSkopeo(['inspect', ...mode.flags('', scratch), ref]);
      assert.equal(info.code, 0, info.stderr);
      assert.equal((JSON.parse(info.stdout) as { Digest: string }).Digest, sourceDigest);

      const back = join(dir, 'back');
      const pull = await runSkopeo(['--insecure-policy', 'copy', ...mode.flags('src', scratch), ref, `oci:${back}:v1`]);
      assert.equal(pull.code, 0, `copy out failed:\n${pull.stderr}`);
      const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      assert.equal(index.manifests[0]?.digest, sourceDigest);
    });
  }
});
