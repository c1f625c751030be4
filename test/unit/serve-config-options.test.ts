/**
 * The library side of `gantry serve`'s operations options: `metrics` and `drainTimeoutMs`
 * validated at the boundary with the option named, and the metrics' `route` label, a fixed set
 * classified from the raw path (never the repository name).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError } from '../../src/options.js';
import { routeOf } from '../../src/server/metrics.js';
import { createRegistryServer, type RegistryServerOptions } from '../../src/server/index.js';

describe('createRegistryServer: metrics and drainTimeoutMs options', () => {
  const BAD: Array<[RegistryServerOptions, string]> = [
    [{ metrics: 'yes' as unknown as boolean }, 'metrics'],
    [{ metrics: { enabled: 1 as unknown as boolean } }, 'metrics.enabled'],
    [{ metrics: { listen: {} as { port: number } } }, 'metrics.listen.port'],
    [{ metrics: { listen: { port: 70000 } } }, 'metrics.listen.port'],
    [{ metrics: { listen: { host: '', port: 1 } } }, 'metrics.listen.host'],
    [{ drainTimeoutMs: -1 }, 'drainTimeoutMs'],
    [{ ui: 'on' as unknown as boolean }, 'ui'],
  ];
  for (const [options, name] of BAD) {
    test(`${JSON.stringify(options)} names ${name}`, async () => {
      await assert.rejects(createRegistryServer({ storage: 'memory', listen: { port: 0 }, ...options }), (err: unknown) => err instanceof InvalidOptionError && err.message.includes(name));
    });
  }
});

describe('routeOf: the route label', () => {
  const ROWS: Array<[string, string]> = [
    ['/v2/', 'base'],
    ['/v2', 'base'],
    ['/v2/_catalog?n=10', 'catalog'],
    ['/v2/a/b/tags/list', 'tags'],
    ['/v2/library/alpine/manifests/3.20', 'manifest'],
    ['/v2/x/blobs/sha256:abc', 'blob'],
    ['/v2/x/blobs/uploads/', 'upload'],
    ['/v2/x/blobs/uploads/0f3a?digest=sha256:1', 'upload'],
    ['/v2/blobs/uploads/manifests/x', 'manifest'],
    ['/v2/x/referrers/sha256:abc?artifactType=a', 'referrers'],
    ['/token?scope=repository:x:pull', 'token'],
    ['/ui/', 'ui'],
    ['/ui/app.js', 'ui'],
    ['/metrics', 'metrics'],
    ['/healthz', 'health'],
    ['/readyz', 'health'],
    ['/v2/x/unknown', 'other'],
    ['/favicon.ico', 'other'],
  ];
  for (const [path, route] of ROWS) test(`${path} → ${route}`, () => assert.equal(routeOf(path), route));
});
