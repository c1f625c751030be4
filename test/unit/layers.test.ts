/**
 * The dependency direction of src/, checked on every import (static, `export … from`,
 * dynamic `import()`, type-only included), as the TypeScript compiler reads them.
 *
 * The layers, lowest first; a folder may import its own files and lower layers only:
 *
 *   base       errors.ts, version.ts; then options.ts, redact.ts (which build on errors)
 *   ref        references, digests, scopes
 *   values     oci, config, pki            (pure values and parsers; no I/O beyond reading a file)
 *   bytes      hashing, fs                 (blob hashing and verification, crash-safe files)
 *   tls        certs.d, per-host TLS policy
 *   transport  per-origin pools, the layer stack
 *   auth       challenges, tokens, keychains
 *   client     the distribution API
 *   image      sources, destinations, copy, inspect
 *   tools      search, login, sync, upstream (the pull-through cache's client side)
 *   testing    gantry/testing (may use the server)
 *   cli        the command line (may use the server)
 *   entry      src/index.ts
 *
 * The embedded registry (`server`) stands beside the client stack: it may import only base,
 * ref, values, bytes; and only the cli and testing import it. Folders in one layer do not
 * import each other. The plan is drawn in docs/architecture.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = join(root, 'src');

const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'version.ts'],
  ['options.ts', 'redact.ts'],
  ['ref'],
  ['oci', 'config', 'pki'],
  ['hashing', 'fs'],
  ['tls'],
  ['transport'],
  ['auth'],
  ['client'],
  ['image'],
  ['search', 'login', 'sync', 'upstream'],
  ['testing'],
  ['cli'],
  ['index.ts'],
];
const SERVER = 'server';
const SERVER_MAY_IMPORT = new Set(['errors.ts', 'options.ts', 'redact.ts', 'version.ts', 'ref', 'oci', 'config', 'pki', 'hashing', 'fs']);
const SERVER_IMPORTED_BY = new Set(['cli', 'testing']);

/** The unit of a src file: its top folder, or the file's own name at the top. */
export function unitOf(file: string): string {
  return relative(src, file).split(/[\\/]/)[0]!;
}

function rank(unit: string): number {
  const i = LAYERS.findIndex((l) => l.includes(unit));
  if (i < 0 && unit !== SERVER) throw new Error(`src/${unit} is in no layer: add it to LAYERS in test/unit/layers.test.ts (and docs/architecture.md)`);
  return i;
}

/** Why `from` may not import `to`, or undefined when it may. */
export function violation(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  if (from === SERVER) return SERVER_MAY_IMPORT.has(to) ? undefined : `the server imports only base, ref, values, bytes`;
  if (to === SERVER) return SERVER_IMPORTED_BY.has(from) ? undefined : `only the cli and gantry/testing import the server`;
  const a = rank(from);
  const b = rank(to);
  if (b > a) return `${from} (layer ${a}) imports the higher ${to} (layer ${b})`;
  if (b === a) return `${from} and ${to} share layer ${a} and do not import each other`;
  return undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.ts$/.test(e.name) ? [join(dir, e.name)] : []);
}

interface Edge {
  from: string;
  to: string;
}

/** Every relative import of every src file, resolved to the .ts file it names. */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sources(src)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      edges.push({ from: file, to: resolve(dirname(file), fileName.replace(/\.js$/, '.ts')) });
    }
  }
  return edges;
}

test('the rule itself: an upward import, a sideways one and a server reach are violations', () => {
  assert.equal(violation('client', 'transport'), undefined);
  assert.match(violation('transport', 'client') ?? '', /imports the higher client/);
  assert.match(violation('search', 'login') ?? '', /share layer/);
  assert.match(violation('server', 'transport') ?? '', /the server imports only/);
  assert.match(violation('image', 'server') ?? '', /only the cli and gantry\/testing/);
  assert.equal(violation('cli', 'server'), undefined);
  assert.equal(violation('server', 'hashing'), undefined);
  // The pull-through cache's upstream is built above the client and handed to the server.
  assert.equal(violation('upstream', 'client'), undefined);
  assert.match(violation('server', 'upstream') ?? '', /the server imports only/);
  assert.match(violation('upstream', 'server') ?? '', /only the cli and gantry\/testing/);
  assert.equal(violation('cli', 'upstream'), undefined);
  assert.throws(() => violation('client', 'newfolder'), /in no layer/);
});

test('every src folder sits in a layer, and the import reader sees the known edges', () => {
  const units = new Set(sources(src).map(unitOf));
  for (const u of units) rank(u);
  const edges = importEdges().map((e) => `${relative(src, e.from)} -> ${relative(src, e.to)}`);
  for (const known of ['client/connect.ts -> auth/authorizer.ts', 'image/transports.ts -> client/connect.ts', 'cli/commands/serve.ts -> server/index.ts', 'hashing/verify.ts -> hashing/blob-hash.ts']) {
    assert.ok(edges.includes(known), `the reader missed ${known}`);
  }
  assert.ok(edges.length > 300, `only ${edges.length} imports read`);
});

test('no import runs from a lower layer to a higher one, sideways, or into the server', () => {
  const found: string[] = [];
  for (const { from, to } of importEdges()) {
    const why = violation(unitOf(from), unitOf(to));
    if (why) found.push(`src/${relative(src, from)} -> src/${relative(src, to)}: ${why}`);
  }
  assert.deepEqual(found, []);
});
