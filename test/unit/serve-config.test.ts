/**
 * `gantry serve --config FILE` (src/server/config-file.ts): a table of every key of the file
 * against the flag it stands for, both parsed by the real `gantry serve` command into server
 * options that must be equal; flags given on the command line override the file; bad keys and
 * values are usage errors naming the file and the key path, never printing a secret.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { serveCommand, serveOptions } from '../../src/cli/commands/serve.js';
import { ErrorCode, GantryError } from '../../src/errors.js';
import { parseServeConfig, serveConfigKeys } from '../../src/server/config-file.js';
import type { RegistryServerOptions } from '../../src/server/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-serve-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text = ''): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const tokenConfig = file('token.json', JSON.stringify({ service: 'reg.test', users: {} }));
const htpasswd = file('htpasswd', '');
const password = file('password', 'sekret\n');

let configs = 0;
/** The options `gantry serve ARGS` would start a server with (the server is not started). */
async function optionsOf(args: string[], yaml?: string): Promise<RegistryServerOptions> {
  const program = new Command().exitOverride();
  serveCommand(program);
  const serve = program.commands.find((c) => c.name() === 'serve') as Command;
  let captured: RegistryServerOptions | undefined;
  serve.exitOverride().action(async (flags: Parameters<typeof serveOptions>[0], command: Command) => {
    captured = await serveOptions(flags, command);
  });
  const config = yaml === undefined ? [] : ['--config', file(`serve-${++configs}.yaml`, yaml)];
  await program.parseAsync(['serve', ...config, ...args], { from: 'user' });
  return captured as RegistryServerOptions;
}

/** Options without what differs by construction: functions, the log sink, a token issuer's fresh key. */
function comparable(o: RegistryServerOptions): unknown {
  const auth = o.auth?.type === 'token' ? { type: 'token', service: o.auth.service, realm: o.auth.realm } : o.auth;
  const proxy = o.proxy ? { ...o.proxy, connect: typeof o.proxy.connect } : undefined;
  return { ...o, log: typeof o.log, auth, proxy };
}

/** Each row: a config file's text, and the flags it stands for. Every key appears in `keys`. */
const ROWS: Array<{ keys: string[]; yaml: string; flags: string[] }> = [
  { keys: ['listen'], yaml: 'listen: 127.0.0.1:5999', flags: ['--listen', '127.0.0.1:5999'] },
  { keys: ['storage'], yaml: 'storage: memory', flags: ['--storage', 'memory'] },
  { keys: ['storage'], yaml: `storage: ${join(dir, 'data')}`, flags: ['--storage', join(dir, 'data')] },
  { keys: ['delete'], yaml: 'delete: false', flags: ['--no-delete'] },
  { keys: ['drainTimeout'], yaml: 'drainTimeout: 10s', flags: ['--drain-timeout', '10s'] },
  { keys: ['ui'], yaml: 'ui: true', flags: ['--ui'] },
  { keys: ['tls.cert', 'tls.key'], yaml: 'tls: { cert: /etc/c.pem, key: /etc/k.pem }', flags: ['--tls-cert', '/etc/c.pem', '--tls-key', '/etc/k.pem'] },
  { keys: ['tls.clientCa'], yaml: 'tls: { cert: /c.pem, key: /k.pem, clientCa: /ca.pem }', flags: ['--tls-cert', '/c.pem', '--tls-key', '/k.pem', '--client-ca', '/ca.pem'] },
  { keys: ['auth.htpasswd'], yaml: `auth: { htpasswd: ${htpasswd} }`, flags: ['--htpasswd', htpasswd] },
  { keys: ['auth.token.config'], yaml: `auth: { token: { config: ${tokenConfig} } }`, flags: ['--token-config', tokenConfig] },
  { keys: ['auth.token.realm'], yaml: `auth: { token: { config: ${tokenConfig}, realm: "https://auth.test/token" } }`, flags: ['--token-config', tokenConfig, '--token-realm', 'https://auth.test/token'] },
  { keys: ['uploadPurging.enabled'], yaml: 'uploadPurging: { enabled: false }', flags: ['--no-upload-purging'] },
  { keys: ['uploadPurging.age', 'uploadPurging.interval'], yaml: 'uploadPurging: { age: 30m, interval: 90 }', flags: ['--upload-purge-age', '30m', '--upload-purge-interval', '90'] },
  { keys: ['proxy.remoteUrl'], yaml: 'proxy: { remoteUrl: "https://registry-1.docker.io" }', flags: ['--proxy-remote', 'https://registry-1.docker.io'] },
  {
    keys: ['proxy.username', 'proxy.passwordFile', 'proxy.ttl'],
    yaml: `proxy: { remoteUrl: "https://up.test", username: bot, passwordFile: ${password}, ttl: 1h }`,
    flags: ['--proxy-remote', 'https://up.test', '--proxy-username', 'bot', '--proxy-password-file', password, '--proxy-ttl', '1h'],
  },
  { keys: ['metrics.enabled'], yaml: 'metrics: { enabled: true }', flags: ['--metrics'] },
  { keys: ['metrics.enabled'], yaml: 'metrics: true', flags: ['--metrics'] },
  { keys: ['metrics.listen'], yaml: 'metrics: { listen: "127.0.0.1:5001" }', flags: ['--metrics-listen', '127.0.0.1:5001'] },
  { keys: ['log.quiet'], yaml: 'log: { quiet: true }', flags: ['--quiet'] },
];

describe('gantry serve --config: every key behaves as its flag', () => {
  test('the table covers every key of the file', () => {
    const covered = new Set(ROWS.flatMap((r) => r.keys));
    assert.deepEqual(serveConfigKeys().map((k) => k.key).filter((k) => !covered.has(k)), []);
  });
  for (const row of ROWS) {
    test(`${row.yaml}  ≡  ${row.flags.join(' ')}`, async () => {
      const fromFile = await optionsOf([], row.yaml);
      const fromFlags = await optionsOf(row.flags);
      assert.deepEqual(comparable(fromFile), comparable(fromFlags));
      assert.notDeepEqual(comparable(fromFlags), comparable(await optionsOf([])), 'the flag changes something');
    });
  }
  test('an empty file is the defaults', async () => {
    assert.deepEqual(comparable(await optionsOf([], '')), comparable(await optionsOf([])));
  });
  test('relative paths are taken from the config file\'s directory', async () => {
    const o = await optionsOf([], 'storage: data\nauth: { htpasswd: htpasswd }');
    assert.equal(o.storage, join(dir, 'data'));
    assert.deepEqual(o.auth, { type: 'htpasswd', file: htpasswd });
  });
});

describe('gantry serve --config: flags override the file', () => {
  test('a flag replaces its key', async () => {
    const o = await optionsOf(['--listen', '127.0.0.1:6000', '--storage', 'memory'], 'listen: 127.0.0.1:5999\nstorage: /var/lib/reg\ndelete: false');
    assert.deepEqual(o.listen, { host: '127.0.0.1', port: 6000 });
    assert.equal(o.storage, 'memory');
    assert.equal(o.deleteEnabled, false, 'a key no flag overrode stays');
  });
  test('an auth flag replaces the file\'s auth; --no-upload-purging the file\'s purge durations', async () => {
    const o = await optionsOf(['--token-config', tokenConfig, '--no-upload-purging'], `auth: { htpasswd: ${htpasswd} }\nuploadPurging: { age: 1h }`);
    assert.equal(o.auth?.type, 'token');
    assert.deepEqual(o.uploadPurging, { enabled: false });
  });
  test('keys of a group no flag names are kept beside the flags that are given', async () => {
    const o = await optionsOf(['--proxy-ttl', '5m'], 'proxy: { remoteUrl: "https://up.test", ttl: 1h }');
    assert.equal(o.proxy?.remoteUrl, 'https://up.test');
    assert.equal(o.proxy?.tagTtlMs, 5 * 60_000);
  });
});

describe('gantry serve --config: mistakes name the file and the key path', () => {
  const BAD: Array<[string, RegExp]> = [
    ['tls: { cert: 42, key: /k }', /^serve\.yaml: tls\.cert: expected a string/],
    ['tsl: { cert: /c, key: /k }', /^serve\.yaml: tsl: unknown key \(expected one of listen, storage/],
    ['tls: { cert: /c, key: /k, ca: /x }', /^serve\.yaml: tls\.ca: unknown key/],
    ['tls: { cert: /c }', /^serve\.yaml: tls\.key: required/],
    ['tls: /c', /^serve\.yaml: tls: expected a mapping of cert, key, clientCa/],
    ['listen: [1, 2]', /^serve\.yaml: listen: expected HOST:PORT, got a list/],
    ['listen: "127.0.0.1:99999"', /^serve\.yaml: listen: port 99999 is out of range/],
    ['uploadPurging: { age: soon }', /^serve\.yaml: uploadPurging\.age: expected a duration/],
    ['delete: "no"', /^serve\.yaml: delete: expected true or false, got "no"/],
    ['metrics: { enabled: false, listen: ":5001" }', /^serve\.yaml: metrics\.listen: given with metrics\.enabled: false/],
    ['proxy: { ttl: 1h }', /^serve\.yaml: proxy\.ttl: needs proxy\.remoteUrl/],
    ['proxy: { remoteUrl: "https://up.test", username: bot }', /^serve\.yaml: proxy\.passwordFile: proxy\.username and proxy\.passwordFile go together/],
    ['proxy: { remoteUrl: "https://up.test", password: hunter2 }', /^serve\.yaml: proxy\.password: unknown key/],
    ['auth: { htpasswd: /h, token: { config: /t } }', /^serve\.yaml: auth: htpasswd and token are exclusive/],
    ['tls: { cert: /c, key: "-----BEGIN PRIVATE KEY-----\\nMIIE" }', /^serve\.yaml: tls\.key: expected the path of a PEM file/],
    ['listen: a\nlisten: b', /^serve\.yaml:2:1: not valid YAML/],
    ['- listen', /^serve\.yaml: \(top level\): expected a mapping/],
  ];
  for (const [yaml, message] of BAD) {
    test(JSON.stringify(yaml), () => {
      assert.throws(
        () => parseServeConfig(yaml, 'serve.yaml', dir),
        (err: unknown) => {
          assert.ok(err instanceof GantryError);
          assert.equal(err.code, ErrorCode.USAGE, 'exit 2');
          assert.match(err.message, message);
          assert.ok(!err.message.includes('hunter2') && !err.message.includes('MIIE'), 'no secret in the message');
          return true;
        },
      );
    });
  }
  test('an unreadable file is a usage error naming it', async () => {
    await assert.rejects(optionsOf(['--config', join(dir, 'missing.yaml')]), (err: unknown) => err instanceof GantryError && err.code === ErrorCode.USAGE && /--config: cannot read .*missing\.yaml/.test(err.message));
  });
});
