import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonConfig, readDaemonConfig, serviceConfigFrom } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-daemon-json-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function configError(message: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, message);
    return true;
  };
}

describe('readDaemonConfig', () => {
  test('reads registries, mirrors and proxies, ignoring other keys', async (t) => {
    const file = join(await tempDir(t), 'daemon.json');
    await writeFile(
      file,
      JSON.stringify({
        'insecure-registries': ['lan.example:5000', '10.0.0.0/8'],
        'registry-mirrors': ['https://mirror.example'],
        proxies: { 'http-proxy': 'http://proxy:3128', 'https-proxy': 'http://proxy:3128', 'no-proxy': 'localhost,.lan' },
        'log-driver': 'json-file',
      }),
    );
    assert.deepEqual(await readDaemonConfig(file), {
      insecureRegistries: ['lan.example:5000', '10.0.0.0/8'],
      mirrors: ['https://mirror.example'],
      proxies: { httpProxy: 'http://proxy:3128', httpsProxy: 'http://proxy:3128', noProxy: 'localhost,.lan' },
    });
  });

  test('an empty file or empty object is an empty configuration', async (t) => {
    const dir = await tempDir(t);
    for (const [name, text] of [['a.json', ''], ['b.json', ' \n'], ['c.json', '{}'], ['d.json', '\uFEFF{}']] as const) {
      await writeFile(join(dir, name), text);
      assert.deepEqual(await readDaemonConfig(join(dir, name)), { insecureRegistries: [], mirrors: [] }, name);
    }
  });

  test('a missing named file is an error', async (t) => {
    const file = join(await tempDir(t), 'missing.json');
    await assert.rejects(readDaemonConfig(file), configError(`daemon config ${file}: no such file`));
  });

  test('wrong types name the file and the key', () => {
    const rows: [string, string][] = [
      ['{"insecure-registries": "lan:5000"}', '"insecure-registries" must be an array of strings'],
      ['{"insecure-registries": [5000]}', '"insecure-registries" must be an array of strings'],
      ['{"registry-mirrors": {}}', '"registry-mirrors" must be an array of strings'],
      ['{"proxies": []}', '"proxies" must be an object'],
      ['{"proxies": {"https-proxy": 1}}', '"proxies.https-proxy" must be a string'],
      ['[]', 'the top level must be a JSON object'],
      ['"x"', 'the top level must be a JSON object'],
    ];
    for (const [text, what] of rows) {
      assert.throws(() => parseDaemonConfig('/x/daemon.json', text), configError(`daemon config /x/daemon.json: ${what}`), text);
    }
  });

  test('malformed JSON is reported without quoting the file', () => {
    const secret = 'http://user:hunter2@proxy:3128';
    for (const text of [`{"proxies": {"http-proxy": "${secret}"}`, `{"proxies": {"http-proxy": "${secret}" x}}`, `{\n  "a": 1,\n  hunter2}`]) {
      assert.throws(() => parseDaemonConfig('/x/daemon.json', text), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^daemon config \/x\/daemon\.json: malformed JSON/);
        assert.ok(!err.message.includes('hunter2'), err.message);
        assert.equal(err.cause, undefined);
        return true;
      });
    }
  });
});

describe('serviceConfigFrom', () => {
  test('merges the file and options, options after the file', async (t) => {
    const file = join(await tempDir(t), 'daemon.json');
    await writeFile(file, JSON.stringify({ 'insecure-registries': ['a.example'], 'registry-mirrors': ['https://m1'] }));
    const config = await serviceConfigFrom({
      daemonConfigFile: file,
      insecureRegistries: ['b.example', '10.0.0.0/8'],
      mirrors: ['https://m2', 'https://m1/'],
      lookup: async () => [],
    });
    assert.deepEqual(config.mirrors, ['https://m1/', 'https://m2/']);
    assert.deepEqual([...config.indexConfigs.keys()], ['a.example', 'b.example', 'docker.io']);
    assert.deepEqual(config.insecureRegistryCIDRs, ['10.0.0.0/8', '::1/128', '127.0.0.0/8']);
  });

  test('invalid entries in the file fail with Docker’s text', async (t) => {
    const file = join(await tempDir(t), 'daemon.json');
    await writeFile(file, JSON.stringify({ 'registry-mirrors': ['mirror.example'] }));
    await assert.rejects(
      serviceConfigFrom({ daemonConfigFile: file }),
      configError(`invalid mirror: no scheme specified for "mirror.example": must use either 'https://' or 'http://'`),
    );
  });

  test('daemonConfigFile: false reads no file', async () => {
    const config = await serviceConfigFrom({ daemonConfigFile: false, insecureRegistries: ['x.example'] });
    assert.deepEqual([...config.indexConfigs.keys()], ['x.example', 'docker.io']);
  });
});
