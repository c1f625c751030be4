/**
 * The CLI bundle replaces `undici` with scripts/undici-cli.cjs (scripts/bundle-cli.mjs). The
 * shim must give every value gantry's sources import from undici, the very same objects, and
 * dispatchers with undici's request() API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
const shim = require(join(root, 'scripts/undici-cli.cjs')) as Record<string, unknown>;
const undici = require('undici') as Record<string, unknown>;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

test('every value src/ imports from undici is in the CLI shim, as the same object', () => {
  const imported = new Set<string>();
  for (const file of sources(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/^import (?!type )\{([^}]*)\} from 'undici';/gm)) {
      for (const name of m[1]!.split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('type '))) imported.add(name);
    }
    assert.doesNotMatch(readFileSync(file, 'utf8'), /from 'undici\//, `${file}: import from 'undici' only`);
  }
  assert.ok(imported.has('Pool') && imported.has('buildConnector'), `found: ${[...imported].join(', ')}`);
  for (const name of imported) {
    assert.ok(shim[name] !== undefined, `the shim lacks ${name}`);
    assert.equal(shim[name], undici[name], `${name} differs from undici's`);
  }
});

test('the shim alone gives dispatchers undici\'s request() API (a process without undici\'s index)', () => {
  const script = `const s = require(${JSON.stringify(join(root, 'scripts/undici-cli.cjs'))});
    const p = new s.Pool('http://127.0.0.1:9');
    const loaded = Object.keys(require.cache).some((f) => f.endsWith('/undici/index.js'));
    process.stdout.write(JSON.stringify({ request: typeof p.request, stream: typeof p.stream, loaded }));
    p.close();`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
  assert.deepEqual(out, { request: 'function', stream: 'function', loaded: false });
});

test('undici is pinned to one exact version, the one installed: the shim\'s private paths cannot drift', () => {
  // The shim requires undici's lib/ files, which undici does not promise to keep. So the
  // dependency is an exact version, never a range: an upgrade is a deliberate change of
  // package.json, and these tests (the same objects, the request() API) judge it.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const spec = pkg.dependencies['undici'];
  assert.match(spec ?? '', /^\d+\.\d+\.\d+$/, `package.json must pin undici exactly, found ${spec}`);
  const installed = (require('undici/package.json') as { version: string }).version;
  assert.equal(installed, spec, 'node_modules holds another undici than package.json pins: run npm ci');
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  assert.equal(lock.packages['node_modules/undici']?.version, spec, 'package-lock.json disagrees with the pin');
  const shimText = readFileSync(join(root, 'scripts/undici-cli.cjs'), 'utf8');
  const paths = [...shimText.matchAll(/require\('(undici\/lib\/[^']+)'\)/g)].map((m) => m[1]!);
  assert.ok(paths.length >= 5, `the shim's paths: ${paths.join(', ')}`);
  for (const p of paths) assert.doesNotThrow(() => require.resolve(p), `${p} is gone from undici ${installed}`);
});
