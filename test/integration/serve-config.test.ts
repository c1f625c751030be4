/**
 * `gantry serve --config FILE` through the built CLI, as users run it:
 * - a config with TLS, htpasswd and metrics actually serves HTTPS with Basic auth: gantry's
 *   client pushes with the CA and the credentials, anonymous requests are refused, /metrics
 *   counts the push, /healthz answers without credentials; a flag (`--listen`) overrides the file;
 * - bad keys and values exit 2 with the file and the key path named, and no secret printed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import https from 'node:https';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import bcrypt from 'bcryptjs';
import { connectRegistry } from '../../src/client/connect.js';
import { GANTRY_BIN, runGantry } from '../helpers/cli.js';
import { pushImage } from '../helpers/client-fixtures.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-serve-config-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

function get(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('error', reject);
  });
}

describe('gantry serve --config: TLS, htpasswd and metrics from the file', () => {
  let pki: TestPki;
  let child: ChildProcess;
  let url: string;
  let certDir: string;
  const stderr: string[] = [];
  before(async () => {
    pki = createTestPki();
    const cert = pki.server(['127.0.0.1']);
    const conf = join(root, 'conf');
    mkdirSync(conf);
    copyFileSync(cert.certFile, join(conf, 'server.crt'));
    copyFileSync(cert.keyFile, join(conf, 'server.key'));
    writeFileSync(join(conf, 'users.htpasswd'), `alice:${bcrypt.hashSync('wonderland', 4)}\n`);
    // Relative paths: from the config file's directory. The port is the flag's (it overrides the file).
    writeFileSync(
      join(conf, 'serve.yaml'),
      ['listen: 127.0.0.1:1', 'storage: data', 'tls:', '  cert: server.crt', '  key: server.key', 'auth:', '  htpasswd: users.htpasswd', 'metrics: true', 'uploadPurging: { age: 1h, interval: 10m }', 'log: { quiet: false }', ''].join('\n'),
    );
    certDir = join(root, 'certs');
    mkdirSync(certDir);
    copyFileSync(pki.ca.certFile, join(certDir, 'ca.crt'));
    child = spawn(process.execPath, [GANTRY_BIN, 'serve', '--config', join(conf, 'serve.yaml'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [`exited: ${stderr.join('\n')}`])])) as [string];
    assert.match(line, /listening on https:\/\/127\.0\.0\.1:\d+ \(storage: .*conf[/\\]data; metrics on https:/);
    url = /listening on (\S+)/.exec(line)![1]!;
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    pki?.cleanup();
  });

  test('serves https with Basic auth: gantry pushes with the CA and credentials; anonymous is refused', async () => {
    const { client, close } = await connectRegistry(new URL(url).host, 'push', { certDir, credentials: { username: 'alice', password: 'wonderland' } });
    try {
      await pushImage(client.repository('conf/app'), 'v1', 3);
      assert.ok(await client.repository('conf/app').getManifest('v1'));
    } finally {
      await close();
    }
    assert.equal((await get(`${url}/v2/`, pki.ca.certPem)).status, 401);
    const wrong = await connectRegistry(new URL(url).host, 'pull', { certDir, credentials: { username: 'alice', password: 'nope' } });
    try {
      await assert.rejects(wrong.client.repository('conf/app').getManifest('v1'), /401|UNAUTHORIZED|denied|authentication/i);
    } finally {
      await wrong.close();
    }
  });

  test('/metrics (behind the same auth) counts the push; /healthz needs no credentials', async () => {
    assert.equal((await get(`${url}/metrics`, pki.ca.certPem)).status, 401);
    const r = await get(`${url}/metrics`, pki.ca.certPem, { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` });
    assert.equal(r.status, 200);
    assert.match(r.text, /^gantry_http_requests_total\{route="manifest",method="PUT",status="201"\} 1$/m);
    assert.deepEqual(await get(`${url}/healthz`, pki.ca.certPem), { status: 200, text: 'ok' });
    assert.ok(stderr.some((l) => l.startsWith('PUT /v2/conf/app/manifests/v1 201')), 'log.quiet: false logs requests');
  });
});

describe('gantry serve --config: bad files exit 2 naming the key', () => {
  const ROWS: Array<[string, RegExp]> = [
    ['tls:\n  cert: 42\n  key: k.pem\n', /serve\.yaml: tls\.cert: expected a string/],
    ['listen: 127.0.0.1:5000\nmetrcs: true\n', /serve\.yaml: metrcs: unknown key/],
    ['proxy:\n  remoteUrl: https://up.test\n  password: hunter2\n', /serve\.yaml: proxy\.password: unknown key/],
    ['uploadPurging:\n  age: forever\n', /serve\.yaml: uploadPurging\.age: expected a duration/],
  ];
  for (const [yaml, message] of ROWS) {
    test(JSON.stringify(yaml), async () => {
      const dir = mkdtempSync(join(root, 'bad-'));
      const file = join(dir, 'serve.yaml');
      writeFileSync(file, yaml);
      const r = await runGantry(['serve', '--config', file, '--storage', 'memory', '--listen', '127.0.0.1:0']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.ok(!r.stderr.includes('hunter2'), 'no secret printed');
      assert.equal(r.stdout, '', 'no server started');
    });
  }
});
