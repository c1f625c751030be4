/**
 * Endpoint lookup: Docker Hub's mirrors for pulls only, https then http for insecure
 * registries (moby's `TestMirrorEndpointLookup` and the lookup it tests, in
 * https://github.com/moby/moby/tree/master/daemon/pkg/registry); the rules are in
 * docs/docker-rules.md#insecure-registries-and-endpoint-order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { APIEndpoint } from '../../src/config/index.js';
import { ServiceConfig, lookupEndpoints } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

const lookup = async (host: string): Promise<string[]> => {
  if (host === 'localhost') return ['127.0.0.1', '::1'];
  if (host === 'lan.example') return ['10.1.2.3'];
  throw new Error(`ENOTFOUND ${host}`);
};

/** Endpoints as `url verify|noverify [mirror] [official] host`, one string each, easy to compare. */
function show(endpoints: APIEndpoint[]): string[] {
  return endpoints.map((e) =>
    [e.url.href, e.tlsVerify ? 'verify' : 'noverify', e.mirror ? 'mirror' : '', e.official ? 'official' : '', e.host]
      .filter((s) => s !== '')
      .join(' '),
  );
}

describe('lookupEndpoints (moby TestMirrorEndpointLookup)', () => {
  test('mirrors are used for pulls and never for push or login', async () => {
    const config = ServiceConfig.create({ mirrors: ['https://my.mirror'], lookup });
    const pull = await lookupEndpoints(config, 'docker.io', { purpose: 'pull' });
    assert.ok(pull.some((e) => e.url.host === 'my.mirror'));
    for (const purpose of ['push', 'login'] as const) {
      const endpoints = await lookupEndpoints(config, 'docker.io', { purpose });
      assert.ok(!endpoints.some((e) => e.url.host === 'my.mirror'), purpose);
      assert.deepEqual(show(endpoints), ['https://registry-1.docker.io/ verify official registry-1.docker.io']);
    }
  });

  test('Hub pulls: mirrors in order, then registry-1; mirror paths kept; mirror security from config', async () => {
    const config = ServiceConfig.create({
      mirrors: ['http://m1.example', 'https://m2.example:5000/prefix/', 'https://lan.example:5001'],
      insecureRegistries: ['m2.example:5000'],
      lookup,
    });
    for (const host of ['docker.io', 'index.docker.io']) {
      assert.deepEqual(show(await lookupEndpoints(config, host, { purpose: 'pull' })), [
        'http://m1.example/ verify mirror m1.example',
        'https://m2.example:5000/prefix/ noverify mirror m2.example:5000',
        'https://lan.example:5001/ verify mirror lan.example:5001',
        'https://registry-1.docker.io/ verify official registry-1.docker.io',
      ]);
    }
  });

  test('a secure registry: https with verification only', async () => {
    const config = ServiceConfig.create({ lookup });
    assert.deepEqual(show(await lookupEndpoints(config, 'registry.example:5000', { purpose: 'pull' })), [
      'https://registry.example:5000/ verify registry.example:5000',
    ]);
  });

  test('an insecure registry: https without verification, then http', async () => {
    const config = ServiceConfig.create({ insecureRegistries: ['10.0.0.0/8'], lookup });
    for (const host of ['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'lan.example']) {
      assert.deepEqual(show(await lookupEndpoints(config, host, { purpose: 'push' })), [
        `https://${host}/ noverify ${host}`,
        `http://${host}/ noverify ${host}`,
      ]);
    }
  });

  test('tlsVerify: true forces verified https, even on loopback', async () => {
    const config = ServiceConfig.create({ insecureRegistries: ['registry.example'], lookup });
    for (const host of ['localhost:5000', 'registry.example']) {
      assert.deepEqual(show(await lookupEndpoints(config, host, { purpose: 'pull', tlsVerify: true })), [
        `https://${host}/ verify ${host}`,
      ]);
    }
  });

  test('tlsVerify: false treats a secure registry as insecure', async () => {
    const config = ServiceConfig.create({ lookup });
    assert.deepEqual(show(await lookupEndpoints(config, 'registry.example', { purpose: 'login', tlsVerify: false })), [
      'https://registry.example/ noverify registry.example',
      'http://registry.example/ noverify registry.example',
    ]);
    const hubConfig = ServiceConfig.create({ mirrors: ['https://m.example'], lookup });
    assert.deepEqual(show(await lookupEndpoints(hubConfig, 'docker.io', { purpose: 'pull', tlsVerify: false })), [
      'https://m.example/ noverify mirror m.example',
      'http://m.example/ noverify mirror m.example',
      'https://registry-1.docker.io/ noverify official registry-1.docker.io',
      'http://registry-1.docker.io/ noverify official registry-1.docker.io',
    ]);
  });

  test('a host that is not a registry name is refused', async () => {
    const config = ServiceConfig.create({ lookup });
    await assert.rejects(lookupEndpoints(config, 'evil.example/path', { purpose: 'pull' }), ConfigError);
    await assert.rejects(lookupEndpoints(config, 'user@evil.example', { purpose: 'pull' }), ConfigError);
  });
});
