/**
 * The `/ui/` route of the embedded registry (issue 16, "A web view"): the app's files with a
 * strict CSP and nosniff, read-only, behind the API's auth (htpasswd → the Basic challenge;
 * token → the app served, the API still refusing without a token), and no path outside the
 * app's own files, however the path is spelled. The browser side is test/peers/serve-ui.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import bcrypt from 'bcryptjs';
import { createAuthorizer } from '../../src/server/auth.js';
import { OPEN_GUARD } from '../../src/server/auth-throttle.js';
import type { RegistryAuthOptions } from '../../src/server/options.js';
import { createRouter } from '../../src/server/router.js';
import { createMemoryStorage } from '../../src/server/storage/memory.js';
import { ConfigError } from '../../src/errors.js';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { findAppDir, loadAppFiles } from '../../src/server/ui/static.js';
import { UI_CONTENT_SECURITY_POLICY } from '../../src/server/ui/ui-route.js';

interface UiServer {
  port: number;
  close(): Promise<void>;
}

/** The router as createRegistryServer builds it, with `ui`, on a free loopback port. */
async function startUiServer(auth: RegistryAuthOptions, ui = true): Promise<UiServer> {
  const storage = createMemoryStorage();
  let url = '';
  const authorizer = await createAuthorizer(auth, () => `${url}/token`, OPEN_GUARD);
  const router = createRouter({
    storage,
    authorizer,
    deleteEnabled: true,
    ui,
    ...(auth.type === 'token' ? { tokenEndpoint: (req: http.IncomingMessage, res: http.ServerResponse) => auth.issuer.handle(req, res) } : {}),
  });
  const server = http.createServer(router);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
  return {
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await storage.close();
    },
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with the path exactly as given (no URL normalisation on the way). */
function call(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertSecurityHeaders(a: Answer): void {
  assert.equal(a.headers['content-security-policy'], UI_CONTENT_SECURITY_POLICY);
  assert.equal(a.headers['x-content-type-options'], 'nosniff');
  assert.equal(a.headers['x-frame-options'], 'DENY');
  assert.equal(a.headers['referrer-policy'], 'no-referrer');
}

const TRAVERSALS = [
  '/ui/../../etc/passwd',
  '/ui/../package.json',
  '/ui/%2e%2e/%2e%2e/etc/passwd',
  '/ui/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
  '/ui/..%2f..%2fetc%2fpasswd',
  '/ui/..%5c..%5cetc%5cpasswd',
  '/ui/%252e%252e%252fetc%252fpasswd',
  '/ui/..;/etc/passwd',
  '/ui//etc/passwd',
  '/ui/./index.html',
  '/ui/app/index.html',
  '/ui/index.html%00.js',
  '/ui/main.js/',
  '/ui/%6d%61%69%6e.js',
  '/ui/ui-route.ts',
  '/ui/static.ts',
  '/ui/..',
];

describe('/ui/ without auth', () => {
  let server: UiServer;
  before(async () => {
    server = await startUiServer({ type: 'none' });
  });
  after(() => server.close());

  test('/ui/ is the app page, with the CSP and nosniff; /ui redirects there', async () => {
    const page = await call(server.port, '/ui/');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html; charset=utf-8$/);
    assertSecurityHeaders(page);
    assert.match(page.body, /<script type="module" src="main\.js"><\/script>/);
    assert.doesNotMatch(page.body, /<script>|\son\w+=|style=/, 'no inline script, handler or style: the CSP would block them');
    const bare = await call(server.port, '/ui');
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.location, '/ui/');
    assertSecurityHeaders(bare);
    const query = await call(server.port, '/ui/?q=alpine');
    assert.equal(query.status, 200);
  });

  test('the CSP allows scripts, styles and fetches from this origin only, and no HTML from strings', () => {
    const directives = new Map(UI_CONTENT_SECURITY_POLICY.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
    assert.equal(directives.get('default-src'), "'none'");
    assert.equal(directives.get('script-src'), "'self'");
    assert.equal(directives.get('style-src'), "'self'");
    assert.equal(directives.get('connect-src'), "'self'");
    assert.equal(directives.get('frame-ancestors'), "'none'");
    assert.equal(directives.get('require-trusted-types-for'), "'script'");
    assert.doesNotMatch(UI_CONTENT_SECURITY_POLICY, /unsafe-/);
  });

  test('every app file is served with its type and the same headers, and revalidates by ETag', async () => {
    const files = loadAppFiles();
    assert.ok(files.size >= 4);
    for (const [name, file] of files) {
      const a = await call(server.port, `/ui/${name}`);
      assert.equal(a.status, 200, name);
      assert.equal(a.headers['content-type'], file.contentType, name);
      assertSecurityHeaders(a);
      assert.equal(a.body, readFileSync(join(findAppDir(), name), 'utf8'));
      const again = await call(server.port, `/ui/${name}`, 'GET', { 'If-None-Match': a.headers.etag as string });
      assert.equal(again.status, 304, name);
    }
    assert.equal((await call(server.port, '/ui/main.js')).headers['content-type'], 'text/javascript; charset=utf-8');
    const head = await call(server.port, '/ui/main.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  test('the app never assigns HTML from strings (innerHTML, outerHTML, insertAdjacentHTML, document.write)', () => {
    for (const [name, file] of loadAppFiles()) {
      if (!name.endsWith('.js')) continue;
      assert.doesNotMatch(file.body.toString('utf8'), /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, name);
    }
  });

  test('read-only: other methods are 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const a = await call(server.port, '/ui/', method);
      assert.equal(a.status, 405, method);
      assert.equal(a.headers.allow, 'GET, HEAD');
      assertSecurityHeaders(a);
    }
  });

  test('no directory traversal: every other spelling is a 404', async () => {
    for (const path of TRAVERSALS) {
      const a = await call(server.port, path);
      assert.equal(a.status, 404, path);
      assert.doesNotMatch(a.body, /root:|"name": "gantry"|import /, path);
      assertSecurityHeaders(a);
    }
  });

  test('the API is unchanged beside it', async () => {
    assert.equal((await call(server.port, '/v2/')).status, 200);
    assert.equal((await call(server.port, '/v2/_catalog')).body, '{"repositories":[]}');
    assert.equal((await call(server.port, '/v2/')).headers['content-security-policy'], undefined);
  });
});

describe('/ui/ is off unless asked for', () => {
  test('without `ui`, /ui/ is the registry 404', async () => {
    const server = await startUiServer({ type: 'none' }, false);
    try {
      const a = await call(server.port, '/ui/');
      assert.equal(a.status, 404);
      assert.match(a.body, /NAME_UNKNOWN/);
    } finally {
      await server.close();
    }
  });
});

describe('/ui/ with htpasswd', () => {
  let server: UiServer;
  let dir: string;
  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-ui-htpasswd-'));
    writeFileSync(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 4)}\n`);
    server = await startUiServer({ type: 'htpasswd', file: join(dir, 'htpasswd'), realm: 'gantry-ui' });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without credentials: 401 with the Basic challenge (the browser prompts), and the headers', async () => {
    for (const path of ['/ui/', '/ui/main.js', '/ui', '/ui/../../etc/passwd']) {
      const a = await call(server.port, path);
      assert.equal(a.status, 401, path);
      assert.equal(a.headers['www-authenticate'], 'Basic realm="gantry-ui"');
      assertSecurityHeaders(a);
    }
    const wrong = await call(server.port, '/ui/', 'GET', { Authorization: basic('alice', 'nope') });
    assert.equal(wrong.status, 401);
  });

  test('with credentials: the app, and still no traversal', async () => {
    const ok = await call(server.port, '/ui/', 'GET', { Authorization: basic('alice', 'alice-pw') });
    assert.equal(ok.status, 200);
    assertSecurityHeaders(ok);
    for (const path of TRAVERSALS.slice(0, 5)) {
      assert.equal((await call(server.port, path, 'GET', { Authorization: basic('alice', 'alice-pw') })).status, 404, path);
    }
  });
});

describe('/ui/ with token auth', () => {
  let server: UiServer;
  before(async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issuer = new TokenIssuer({
      issuer: 'gantry-ui-test',
      service: 'gantry-ui',
      signingKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      users: { alice: { password: bcrypt.hashSync('alice-pw', 4), access: [{ repository: 'team/*', actions: ['pull'] }] } },
      catalogUsers: ['alice'],
    });
    server = await startUiServer({ type: 'token', issuer, service: 'gantry-ui' });
  });
  after(() => server.close());

  test('the app is served without a token (its login form gets one); the API still wants one', async () => {
    const page = await call(server.port, '/ui/');
    assert.equal(page.status, 200);
    assertSecurityHeaders(page);
    const api = await call(server.port, '/v2/_catalog');
    assert.equal(api.status, 401);
    assert.match(api.headers['www-authenticate'] ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="gantry-ui",scope="registry:catalog:\*"$/);
    const token = await call(server.port, '/token?service=gantry-ui&scope=registry:catalog:*', 'GET', { Authorization: `Basic ${Buffer.from('alice:alice-pw').toString('base64')}` });
    assert.equal(token.status, 200);
    const bearer = (JSON.parse(token.body) as { token: string }).token;
    assert.equal((await call(server.port, '/v2/_catalog', 'GET', { Authorization: `Bearer ${bearer}` })).status, 200);
  });

  test('no traversal either', async () => {
    for (const path of TRAVERSALS) assert.equal((await call(server.port, path)).status, 404, path);
  });
});

describe('the app folder', () => {
  test('found beside the module (sources, dist/server/ui/) or as server/ui/app/ beside the CLI bundle (dist/gantry.mjs)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-ui-dist-'));
    try {
      assert.throws(() => findAppDir(pathToFileURL(join(dir, 'gantry.mjs'))), ConfigError);
      mkdirSync(join(dir, 'server', 'ui', 'app'), { recursive: true });
      writeFileSync(join(dir, 'server', 'ui', 'app', 'index.html'), '<!doctype html>');
      writeFileSync(join(dir, 'server', 'ui', 'app', 'notes.txt'), 'not served');
      writeFileSync(join(dir, 'server', 'ui', 'app', '.hidden.js'), 'not served');
      const found = findAppDir(pathToFileURL(join(dir, 'gantry.mjs')));
      assert.equal(found, join(dir, 'server', 'ui', 'app') + '/');
      assert.deepEqual([...loadAppFiles(found).keys()], ['index.html']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
