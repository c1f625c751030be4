#!/usr/bin/env node
// Bundles the CLI into dist/gantry.mjs and the chunks it imports (dist/gantry-*.mjs). Node
// spends most of a short command's time finding, compiling and running modules (undici alone
// is ~60 files); bundling turns them into a few files. The library (dist/index.js) stays
// unbundled. docs/startup.md says what the CLI does at start-up and why.
//
// Code splitting: dist/gantry.mjs holds commander and every command's registration (names,
// flags, help), which help and usage errors need; each command imports its library code with
// import() when it runs, gathered into a few groups (below), and esbuild puts that code in
// chunks shared between the commands that use it. `gantry tags` so never compiles or runs the server, sync, the web UI, the metrics or
// the archive code. The chunks sit beside dist/gantry.mjs (not in a folder of their own) so that
// what the code finds relative to its own module (../package.json, the web app's folder) is
// found from a chunk exactly as from dist/gantry.mjs.
import { build } from 'esbuild';
import { readFileSync, readdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist/`;
const CHUNK_PREFIX = 'gantry-';

// `undici` resolves to scripts/undici-cli.cjs: the dispatchers and the connector without
// fetch, WebSocket and the rest of undici's index (about 60 ms of start-up). The library
// (dist/index.js) imports undici itself.
const undiciLite = {
  name: 'undici-lite',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: `${root}scripts/undici-cli.cjs` }));
  },
};

// undici's HTTP/2 client loads node:http2 when it is first required (~4-8 ms of every command
// that reaches a registry), for the constants it reads at the top. gantry never offers h2 (the
// connector's ALPN is http/1.1 only: allowH2 is left false), so the CLI gives that one require
// what undici itself falls back to where Node has no http2: an object with empty constants.
// Only client-h2.js is affected; the server and the library use the real module.
const noHttp2ForUndici = {
  name: 'undici-no-http2',
  setup(b) {
    b.onResolve({ filter: /^node:http2$/ }, (args) =>
      /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/.test(args.importer) ? { path: 'http2', namespace: 'gantry-no-http2' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'gantry-no-http2' }, () => ({ contents: 'module.exports = { constants: {} };', loader: 'js' }));
  },
};

// esbuild makes each file a command import()s an entry of its own and cuts the code they share
// into a chunk per combination of entries: ~60 files, ~30 of them read by `gantry tags`, and
// Node's ESM loader pays for every file it resolves, reads and links. So the commands' imports
// are gathered into a few groups, each one entry: a command's `import('../../x.js')` becomes
// the group's namespace of x.js (`import(GROUP).then((g) => g.mN)`), evaluated as before when
// the command runs. A group is what commands need together; `tags` loads only `registry`.
const GROUPS = [
  ['server', /^(server|upstream)\//],
  ['sync', /^sync\/(index|filters)\.js$/],
  ['image', /^image\//],
  ['accounts', /^(login|search)\//],
  ['registry', /./],
];
const DYNAMIC_IMPORT = /\bimport\((['"])(\.\.?\/[^'"]+)\1\)/g;
const cliDir = `${dist}cli`;

/** Every relative import() under dist/cli/, by target file: its group and its key there. */
function commandImports() {
  const targets = new Map();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.js')) {
        for (const m of readFileSync(path, 'utf8').matchAll(DYNAMIC_IMPORT)) {
          const target = resolve(dirname(path), m[2]);
          if (targets.has(target)) continue;
          const group = GROUPS.find(([, re]) => re.test(relative(dist, target).split('\\').join('/')))[0];
          targets.set(target, { group, key: `m${targets.size}` });
        }
      }
    }
  };
  walk(cliDir);
  return targets;
}

const commandGroups = {
  name: 'command-groups',
  setup(b) {
    const targets = commandImports();
    b.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(`${cliDir}/`)) return undefined;
      const contents = readFileSync(args.path, 'utf8').replace(DYNAMIC_IMPORT, (_, _q, spec) => {
        const { group, key } = targets.get(resolve(dirname(args.path), spec));
        return `import('gantry-group:${group}').then((g) => g.${key})`;
      });
      return { contents, loader: 'js', resolveDir: dirname(args.path) };
    });
    b.onResolve({ filter: /^gantry-group:/ }, (args) => ({ path: args.path.slice('gantry-group:'.length), namespace: 'gantry-group' }));
    b.onLoad({ filter: /.*/, namespace: 'gantry-group' }, (args) => ({
      contents: [...targets].filter(([, t]) => t.group === args.path).map(([file, t]) => `export * as ${t.key} from ${JSON.stringify(file)};`).join('\n'),
      loader: 'js',
      resolveDir: dist,
    }));
  },
};

const result = await build({
  entryPoints: { gantry: `${dist}cli/entry.js` },
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  chunkNames: `${CHUNK_PREFIX}[hash]`,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  plugins: [undiciLite, noHttp2ForUndici, commandGroups],
  // CommonJS dependencies (undici, commander) call require(): give each output file one.
  banner: { js: "import { createRequire as __gantryRequire } from 'node:module'; const require = __gantryRequire(import.meta.url);" },
  metafile: true,
});

// Chunks are named by their content's hash, so the previous build's stay behind: remove those
// this build did not write. Only once the new files are written, which keeps short the time in
// which a `gantry` started during a build finds a chunk missing.
const written = new Set(Object.keys(result.metafile.outputs).map((f) => f.split('/').pop()));
for (const name of await readdir(dist)) {
  const chunk = name.replace(/\.map$/, '');
  if (name.startsWith(CHUNK_PREFIX) && chunk.endsWith('.mjs') && !written.has(chunk)) await rm(`${dist}${name}`, { force: true });
}
