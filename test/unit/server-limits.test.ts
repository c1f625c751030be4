/**
 * The embedded registry's limits and their options: the failed-authentication throttle on a
 * fake clock, duration flags of `gantry serve`, the upload-purging flags, and
 * `createRegistryServer`'s validation (INVALID_OPTION naming the option and value).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, clientAddress } from '../../src/server/auth-throttle.js';
import { RegistryRequestError } from '../../src/server/errors.js';
import { ConfigError, ErrorCode, GantryError } from '../../src/errors.js';
import { InvalidOptionError } from '../../src/options.js';
import { createRegistryServer, type RegistryServerOptions } from '../../src/server/index.js';
import { parseDuration, registryServerOptionsFromCli } from '../../src/server/cli-options.js';
import type { IncomingMessage } from 'node:http';

describe('AuthThrottle', () => {
  const refusal = (fn: () => void): RegistryRequestError | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      assert.ok(err instanceof RegistryRequestError);
      return err;
    }
  };

  test('refuses an address after maxFailures within the window, for backoffMs; others are unaffected', () => {
    let now = 1_000_000;
    const t = new AuthThrottle({ maxFailures: 3, windowMs: 10_000, backoffMs: 30_000 }, () => now);
    t.failed('a');
    t.failed('a');
    assert.equal(refusal(() => t.admit('a')), undefined, 'two failures: still admitted');
    t.failed('a');
    const err = refusal(() => t.admit('a'));
    assert.equal(err?.status, 429);
    assert.equal(err?.registryCode, 'TOOMANYREQUESTS');
    assert.equal(err?.headers['Retry-After'], '30');
    assert.equal(refusal(() => t.admit('b')), undefined);
    now += 29_500;
    assert.equal(refusal(() => t.admit('a'))?.headers['Retry-After'], '1');
    now += 500;
    assert.equal(refusal(() => t.admit('a')), undefined, 'the back-off is over');
  });

  test('failures older than the window do not count', () => {
    let now = 0;
    const t = new AuthThrottle({ maxFailures: 2, windowMs: 1000, backoffMs: 5000 }, () => now);
    t.failed('a');
    now = 1000;
    t.failed('a');
    assert.equal(refusal(() => t.admit('a')), undefined);
    now = 1500;
    t.failed('a');
    assert.equal(refusal(() => t.admit('a'))?.status, 429);
  });

  test('an IPv4-mapped IPv6 peer counts as its IPv4 address', () => {
    const req = (remoteAddress: string): IncomingMessage => ({ socket: { remoteAddress } }) as unknown as IncomingMessage;
    assert.equal(clientAddress(req('::ffff:10.0.0.1')), '10.0.0.1');
    assert.equal(clientAddress(req('::1')), '::1');
  });
});

describe('parseDuration', () => {
  const rows: Array<[string, number]> = [
    ['168h', 168 * 3_600_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['10s', 10_000],
    ['500ms', 500],
    ['90', 90_000],
    ['0.2', 200],
  ];
  for (const [text, ms] of rows) test(text, () => assert.equal(parseDuration('--x', text), ms));
  for (const bad of ['', 'h', '10 s', '-5s', '1d', '0', '0s', '5m-']) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseDuration('--upload-purge-age', bad), (e: unknown) => e instanceof ConfigError && /--upload-purge-age/.test(e.message)));
  }
});

describe('upload purging flags', () => {
  test('age and interval become milliseconds; --no-upload-purging disables', async () => {
    assert.deepEqual((await registryServerOptionsFromCli({ uploadPurgeAge: '2h', uploadPurgeInterval: '10m' })).uploadPurging, { ageMs: 7_200_000, intervalMs: 600_000 });
    assert.deepEqual((await registryServerOptionsFromCli({ uploadPurging: false })).uploadPurging, { enabled: false });
    assert.equal((await registryServerOptionsFromCli({})).uploadPurging, undefined);
  });
  test('refuses a disabled purge with an age', async () => {
    await assert.rejects(registryServerOptionsFromCli({ uploadPurging: false, uploadPurgeAge: '1h' }), (e: unknown) => e instanceof ConfigError && /--no-upload-purging/.test(e.message));
  });
});

describe('createRegistryServer options', () => {
  const base: RegistryServerOptions = { listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' };
  const bad: Array<[string, RegistryServerOptions, string]> = [
    ['a port out of range', { listen: { port: 70000 } }, 'listen.port'],
    ['a fractional port', { listen: { port: 1.5 } }, 'listen.port'],
    ['an empty host', { listen: { host: '', port: 0 } }, 'listen.host'],
    ['an empty storage', { ...base, storage: '' }, 'storage'],
    ['a string for deleteEnabled', { ...base, deleteEnabled: 'yes' as never }, 'deleteEnabled'],
    ['a log that is not a function', { ...base, log: 'stderr' as never }, 'log'],
    ['an unknown auth type', { ...base, auth: { type: 'bogus' } as never }, 'auth.type'],
    ['htpasswd without a file', { ...base, auth: { type: 'htpasswd' } as never }, 'auth.file'],
    ['a realm that would break the challenge', { ...base, auth: { type: 'htpasswd', file: 'h', realm: 'a"b' } }, 'auth.realm'],
    ['a token realm that is not http(s)', { ...base, auth: { type: 'token', issuer: { verify: () => undefined, handle: () => undefined }, service: 's', realm: 'ftp://x' } }, 'auth.realm'],
    ['a token issuer without handle()', { ...base, auth: { type: 'token', issuer: { verify: () => undefined } as never, service: 's' } }, 'auth.issuer'],
    ['tls without a key', { ...base, tls: { cert: 'c.pem' } as never }, 'tls.key'],
    ['zero maxFailures', { ...base, authThrottle: { maxFailures: 0 } }, 'authThrottle.maxFailures'],
    ['a negative back-off', { ...base, authThrottle: { backoffMs: -1 } }, 'authThrottle.backoffMs'],
    ['a string for authThrottle.enabled', { ...base, authThrottle: { enabled: 'no' as never } }, 'authThrottle.enabled'],
    ['a zero purge age', { ...base, uploadPurging: { ageMs: 0 } }, 'uploadPurging.ageMs'],
    ['an interval longer than a timer can wait', { ...base, uploadPurging: { intervalMs: 2 ** 31 } }, 'uploadPurging.intervalMs'],
    ['NaN for the purge interval', { ...base, uploadPurging: { intervalMs: Number.NaN } }, 'uploadPurging.intervalMs'],
    ['a list for uploadPurging', { ...base, uploadPurging: [] as never }, 'uploadPurging'],
  ];
  for (const [name, options, option] of bad) {
    test(`refuses ${name}: INVALID_OPTION naming ${option}`, async () => {
      await assert.rejects(createRegistryServer(options), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, String(err));
        assert.ok(err instanceof GantryError && err.code === ErrorCode.INVALID_OPTION);
        assert.equal(err.option, option);
        assert.match(err.message, new RegExp(`^createRegistryServer: invalid option ${option.replace('.', '\\.')}: `));
        return true;
      });
    });
  }
  test('refuses options that are not an object', async () => {
    await assert.rejects(createRegistryServer(null as never), (err: unknown) => err instanceof InvalidOptionError && err.option === 'options');
  });
  test('an unreadable PEM file stays a ConfigError naming the option and the path', async () => {
    await assert.rejects(createRegistryServer({ ...base, tls: { cert: '/no/such/cert.pem', key: '/no/such/key.pem' } }), (err: unknown) => err instanceof ConfigError && /tls\.cert: cannot read \/no\/such\/cert\.pem/.test(err.message));
  });
  test('valid limits are accepted', async () => {
    const server = await createRegistryServer({ ...base, authThrottle: { maxFailures: 5, windowMs: 1000, backoffMs: 1000 }, uploadPurging: { enabled: true, ageMs: 1, intervalMs: 1000 } });
    await server.close();
  });
});
