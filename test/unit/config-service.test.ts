/**
 * The registry service configuration: moby's `TestIsSecureIndex`, `TestNewIndexInfo`,
 * `TestValidateMirror`, `TestLoadInsecureRegistries`, `TestNewServiceConfig` and
 * `TestValidateIndexName`, ported by name from
 * https://github.com/moby/moby/tree/master/daemon/pkg/registry; the rules are in
 * docs/docker-rules.md#insecure-registries-and-endpoint-order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostLookup } from '../../src/config/index.js';
import {
  ServiceConfig,
  loadInsecureRegistries,
  validateIndexName,
  validateMirror,
} from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

/** Moby's DNS mock for TestIsSecureIndex; everything else does not resolve. */
const HOSTS: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'example.com': ['42.42.42.42'],
  'other.com': ['43.43.43.43'],
  '': ['0.0.0.0'],
};
function mockLookup(calls: string[] = []): HostLookup {
  return async (host) => {
    calls.push(host);
    const found = HOSTS[host];
    if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found;
  };
}

function configError(message: string | RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'INVALID_CONFIG');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  };
}

describe('isSecureIndex (moby TestIsSecureIndex)', () => {
  const rows: [string, string[] | undefined, boolean][] = [
    ['docker.io', undefined, true],
    ['example.com', [], true],
    ['example.com', ['example.com'], false],
    ['localhost', ['localhost:5000'], false],
    ['localhost:5000', ['localhost:5000'], false],
    ['localhost', ['example.com'], false],
    ['127.0.0.1:5000', ['127.0.0.1:5000'], false],
    ['localhost', undefined, false],
    ['localhost:5000', undefined, false],
    ['127.0.0.1', undefined, false],
    ['127.0.0.1', ['example.com'], false],
    ['example.com', undefined, true],
    ['127.0.0.1:5000', ['example.com'], false],
    ['example.com:5000', ['42.42.0.0/16'], false],
    ['example.com', ['42.42.0.0/16'], false],
    ['example.com:5000', ['42.42.42.42/8'], false],
    ['127.0.0.1:5000', ['127.0.0.0/8'], false],
    ['42.42.42.42:5000', ['42.1.1.1/8'], false],
    ['invalid.example.com', ['42.42.0.0/16'], true],
    ['invalid.example.com', ['invalid.example.com'], false],
    ['invalid.example.com:5000', ['invalid.example.com'], true],
    ['invalid.example.com:5000', ['invalid.example.com:5000'], false],
  ];
  for (const [addr, insecure, secure] of rows) {
    test(`${addr} with ${JSON.stringify(insecure ?? null)} → ${secure ? 'secure' : 'insecure'}`, async () => {
      const config = ServiceConfig.create({ insecureRegistries: insecure, lookup: mockLookup() });
      assert.equal(await config.isSecureIndex(addr), secure);
    });
  }

  test('the sync fast path answers without DNS when it can', async () => {
    const calls: string[] = [];
    const config = ServiceConfig.create({ insecureRegistries: ['example.com', '10.0.0.0/8'], lookup: mockLookup(calls) });
    assert.equal(config.secureWithoutLookup('example.com'), false);
    assert.equal(config.secureWithoutLookup('docker.io'), true);
    assert.equal(config.secureWithoutLookup('10.1.2.3:5000'), false);
    assert.equal(config.secureWithoutLookup('11.1.2.3'), true);
    assert.equal(config.secureWithoutLookup('[::1]:5000'), false);
    assert.equal(config.secureWithoutLookup('localhost:5000'), false);
    assert.equal(config.secureWithoutLookup('other.com'), undefined);
    assert.equal(await config.isSecureIndex('10.1.2.3'), false);
    assert.deepEqual(calls, []);
    assert.equal(await config.isSecureIndex('other.com'), true);
    assert.deepEqual(calls, ['other.com']);
  });

  test('IPv4-mapped IPv6 addresses match IPv4 CIDRs', async () => {
    const config = ServiceConfig.create({ insecureRegistries: ['10.0.0.0/8'], lookup: async () => ['::ffff:10.1.1.1'] });
    assert.equal(config.secureWithoutLookup('[::ffff:10.9.9.9]:5000'), false);
    assert.equal(await config.isSecureIndex('mapped.example'), false);
  });

  test('a failing default-style lookup means secure', async () => {
    const config = ServiceConfig.create({ lookup: async () => Promise.reject(new Error('boom')) });
    assert.equal(await config.isSecureIndex('registry.example'), true);
  });
});

describe('newIndexInfo (moby TestNewIndexInfo)', () => {
  const hub = { name: 'docker.io', mirrors: [] as string[], secure: true, official: true };

  test('empty configuration', async () => {
    const config = ServiceConfig.create({ lookup: mockLookup() });
    assert.deepEqual(await config.newIndexInfo('docker.io'), hub);
    assert.deepEqual(await config.newIndexInfo('index.docker.io'), hub);
    assert.deepEqual(await config.newIndexInfo('example.com'), { name: 'example.com', mirrors: [], secure: true, official: false });
    assert.deepEqual(await config.newIndexInfo('127.0.0.1:5000'), { name: '127.0.0.1:5000', mirrors: [], secure: false, official: false });
  });

  test('mirrors and an insecure host', async () => {
    const config = ServiceConfig.create({
      mirrors: ['http://mirror1.local', 'http://mirror2.local'],
      insecureRegistries: ['example.com'],
      lookup: mockLookup(),
    });
    const mirrors = ['http://mirror1.local/', 'http://mirror2.local/'];
    assert.deepEqual(await config.newIndexInfo('docker.io'), { ...hub, mirrors });
    assert.deepEqual(await config.newIndexInfo('index.docker.io'), { ...hub, mirrors });
    const rows: [string, boolean][] = [
      ['example.com', false],
      ['example.com:5000', true],
      ['127.0.0.1', false],
      ['127.0.0.1:5000', false],
      ['127.255.255.255', false],
      ['127.255.255.255:5000', false],
      ['::1', false],
      ['[::1]:5000', false],
      ['::2', true],
      ['[::2]:5000', true],
      ['other.com', true],
    ];
    for (const [name, secure] of rows) {
      assert.deepEqual(await config.newIndexInfo(name), { name, mirrors: [], secure, official: false }, name);
    }
  });

  test('an insecure CIDR', async () => {
    const config = ServiceConfig.create({ insecureRegistries: ['42.42.0.0/16'], lookup: mockLookup() });
    const rows: [string, boolean][] = [
      ['example.com', false],
      ['example.com:5000', false],
      ['127.0.0.1', false],
      ['127.0.0.1:5000', false],
      ['42.42.0.1:5000', false],
      ['42.43.0.1:5000', true],
      ['other.com', true],
    ];
    for (const [name, secure] of rows) {
      assert.deepEqual(await config.newIndexInfo(name), { name, mirrors: [], secure, official: false }, name);
    }
  });
});

describe('validateMirror (moby TestValidateMirror)', () => {
  const valid: [string, string][] = [
    ['http://mirror-1.example.com', 'http://mirror-1.example.com/'],
    ['http://mirror-1.example.com/', 'http://mirror-1.example.com/'],
    ['https://mirror-1.example.com', 'https://mirror-1.example.com/'],
    ['https://mirror-1.example.com/', 'https://mirror-1.example.com/'],
    ['http://localhost', 'http://localhost/'],
    ['https://localhost', 'https://localhost/'],
    ['http://localhost:5000', 'http://localhost:5000/'],
    ['https://localhost:5000', 'https://localhost:5000/'],
    ['http://127.0.0.1', 'http://127.0.0.1/'],
    ['https://127.0.0.1', 'https://127.0.0.1/'],
    ['http://127.0.0.1:5000', 'http://127.0.0.1:5000/'],
    ['https://127.0.0.1:5000', 'https://127.0.0.1:5000/'],
    ['http://mirror-1.example.com/v1/', 'http://mirror-1.example.com/v1/'],
    ['https://mirror-1.example.com/v1/', 'https://mirror-1.example.com/v1/'],
    ['HTTPS://Mirror.Example.com', 'HTTPS://Mirror.Example.com/'],
  ];
  for (const [input, output] of valid) {
    test(`${input} → ${output}`, () => assert.equal(validateMirror(input), output));
  }

  const noScheme = (s: string) => `invalid mirror: no scheme specified for "${s}": must use either 'https://' or 'http://'`;
  const queryOrFragment = (s: string) => `invalid mirror: query or fragment at end of the URI "${s}"`;
  const invalid: [string, string][] = [
    [
      '!invalid!://%as%',
      'invalid mirror: "!invalid!://%as%" is not a valid URI: parse "!invalid!://%as%": first path segment in URL cannot contain colon',
    ],
    ['mirror-1.example.com', noScheme('mirror-1.example.com')],
    ['mirror-1.example.com:5000', noScheme('mirror-1.example.com:5000')],
    ['://mirror-1.example.com', noScheme('://mirror-1.example.com')],
    [
      'ftp://mirror-1.example.com',
      `invalid mirror: unsupported scheme "ftp" in "ftp://mirror-1.example.com": must use either 'https://' or 'http://'`,
    ],
    [
      'FTP://mirror-1.example.com',
      `invalid mirror: unsupported scheme "ftp" in "ftp://mirror-1.example.com": must use either 'https://' or 'http://'`,
    ],
    ['http://mirror-1.example.com/?q=foo', queryOrFragment('http://mirror-1.example.com/?q=foo')],
    ['http://mirror-1.example.com/v1/?q=foo', queryOrFragment('http://mirror-1.example.com/v1/?q=foo')],
    ['http://mirror-1.example.com/v1/?q=foo#frag', queryOrFragment('http://mirror-1.example.com/v1/?q=foo#frag')],
    ['http://mirror-1.example.com?q=foo', queryOrFragment('http://mirror-1.example.com?q=foo')],
    ['https://mirror-1.example.com#frag', queryOrFragment('https://mirror-1.example.com#frag')],
    ['https://mirror-1.example.com/#frag', queryOrFragment('https://mirror-1.example.com/#frag')],
    ['http://mirror-1.example.com/v1/#frag', queryOrFragment('http://mirror-1.example.com/v1/#frag')],
    ['https://mirror-1.example.com?q', queryOrFragment('https://mirror-1.example.com?q')],
    [
      'http://foo:bar@mirror-1.example.com/',
      'invalid mirror: username/password not allowed in URI "http://foo:xxxxx@mirror-1.example.com/"',
    ],
    [
      'https://foo@mirror-1.example.com/',
      'invalid mirror: username/password not allowed in URI "https://foo:xxxxx@mirror-1.example.com/"',
    ],
    [
      'https://mirror-1.example.com:abc/',
      'invalid mirror: "https://mirror-1.example.com:abc/" is not a valid URI: parse "https://mirror-1.example.com:abc/": invalid port ":abc" after host',
    ],
    [
      'https://mir ror/',
      'invalid mirror: "https://mir ror/" is not a valid URI: parse "https://mir ror/": invalid character " " in host name',
    ],
    [
      'https://mirror/%zz',
      'invalid mirror: "https://mirror/%zz" is not a valid URI: parse "https://mirror/%zz": invalid URL escape "%zz"',
    ],
  ];
  for (const [input, message] of invalid) {
    test(`refuses ${input}`, () => assert.throws(() => validateMirror(input), configError(message)));
  }

  test('the password never appears in the error', () => {
    assert.throws(() => validateMirror('https://user:s3cret-pw@mirror/'), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes('s3cret-pw'));
      return true;
    });
  });
});

describe('loadInsecureRegistries and ServiceConfig.create', () => {
  const accepted: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1:8080', '127.0.0.1:8080'],
    ['2001:db8::1', '2001:db8::1'],
    ['[2001:db8::1]:80', '[2001:db8::1]:80'],
    ['http://myregistry.example.com', 'myregistry.example.com'],
    ['https://myregistry.example.com', 'myregistry.example.com'],
    ['HTTP://myregistry.example.com', 'myregistry.example.com'],
    ['1.2.3.4:+80', '1.2.3.4:+80'],
  ];
  for (const [input, key] of accepted) {
    test(`accepts ${input} as index ${key}`, () => {
      const config = ServiceConfig.create({ insecureRegistries: [input] });
      assert.deepEqual(config.indexConfigs.get(key), { name: key, mirrors: [], secure: false, official: false });
      assert.deepEqual(config.indexConfigs.get('docker.io'), { name: 'docker.io', mirrors: [], secure: true, official: true });
    });
  }

  const refused: [string, string | RegExp][] = [
    ['svn://myregistry.example.com', "insecure registry svn://myregistry.example.com should not contain '://'"],
    ['-invalid-registry', /Cannot begin or end with a hyphen$/],
    ['mytest-.com', 'insecure registry mytest-.com is not valid: invalid host "mytest-.com"'],
    [
      '1200:0000:AB00:1234:0000:2552:7777:1313:8080',
      'insecure registry 1200:0000:AB00:1234:0000:2552:7777:1313:8080 is not valid: invalid host "1200:0000:AB00:1234:0000:2552:7777:1313:8080"',
    ],
    ['myregistry.example.com:500000', 'insecure registry myregistry.example.com:500000 is not valid: invalid port "500000"'],
    ['"myregistry.example.com"', 'insecure registry "myregistry.example.com" is not valid: invalid host "\\"myregistry.example.com\\""'],
    ['"myregistry.example.com:5000"', 'insecure registry "myregistry.example.com:5000" is not valid: invalid host "\\"myregistry.example.com"'],
    ['[fe80::]/64', 'insecure registry [fe80::]/64 is not valid: invalid host "[fe80::]/64"'],
    ['1.2.3.4:abc', 'insecure registry 1.2.3.4:abc is not valid: strconv.Atoi: parsing "abc": invalid syntax'],
    ['1.2.3.4:-1', 'insecure registry 1.2.3.4:-1 is not valid: invalid port "-1"'],
    ['fe80::1%eth0', 'insecure registry fe80::1%eth0 is not valid: invalid host "fe80::1%eth0"'],
  ];
  for (const [input, message] of refused) {
    test(`refuses ${input}`, () => {
      assert.throws(() => loadInsecureRegistries([input]), configError(message));
      assert.throws(() => ServiceConfig.create({ insecureRegistries: [input] }), configError(message));
    });
  }

  test('CIDRs are masked, de-duplicated, in order, loopback last', () => {
    const config = ServiceConfig.create({ insecureRegistries: ['102.10.8.1/24', '102.10.8.0/24', '2001:db8::/32', '127.0.0.0/8'] });
    assert.deepEqual(config.insecureRegistryCIDRs, ['102.10.8.0/24', '2001:db8::/32', '127.0.0.0/8', '::1/128']);
    assert.deepEqual(ServiceConfig.create().insecureRegistryCIDRs, ['::1/128', '127.0.0.0/8']);
  });

  test('Docker Hub cannot be made insecure', async () => {
    const config = ServiceConfig.create({ insecureRegistries: ['docker.io'] });
    assert.equal(await config.isSecureIndex('docker.io'), true);
  });

  test('NewServiceConfig cases', () => {
    assert.doesNotThrow(() => ServiceConfig.create({}));
    assert.throws(
      () => ServiceConfig.create({ mirrors: ['example.com:5000'] }),
      configError(`invalid mirror: no scheme specified for "example.com:5000": must use either 'https://' or 'http://'`),
    );
    assert.deepEqual(ServiceConfig.create({ mirrors: ['https://example.com:5000'] }).mirrors, ['https://example.com:5000/']);
    assert.deepEqual(ServiceConfig.create({ insecureRegistries: ['102.10.8.1/24'] }).insecureRegistryCIDRs[0], '102.10.8.0/24');
  });

  test('mirrors are normalised and de-duplicated in order', () => {
    const config = ServiceConfig.create({ mirrors: ['https://b', 'https://a/', 'https://b/', 'http://a'] });
    assert.deepEqual(config.mirrors, ['https://b/', 'https://a/', 'http://a/']);
    assert.deepEqual(config.indexConfigs.get('docker.io')?.mirrors, ['https://b/', 'https://a/', 'http://a/']);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.mirrors));
  });
});

describe('validateIndexName', () => {
  const valid: [string, string][] = [
    ['index.docker.io', 'docker.io'],
    ['example.com', 'example.com'],
    ['127.0.0.1:8080', '127.0.0.1:8080'],
    ['mytest-1.com', 'mytest-1.com'],
    ['mirror-1.example.com/v1/?q=foo', 'mirror-1.example.com/v1/?q=foo'],
    ['registry-1.docker.io', 'registry-1.docker.io'],
  ];
  for (const [input, output] of valid) {
    test(`${input} → ${output}`, () => assert.equal(validateIndexName(input), output));
  }
  for (const input of ['docker.io-', '-example.com', 'mirror-1.example.com/v1/?q=foo-']) {
    test(`refuses ${input}`, () =>
      assert.throws(() => validateIndexName(input), configError(`invalid index name (${input}). Cannot begin or end with a hyphen`)));
  }
});
