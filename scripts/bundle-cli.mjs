#!/usr/bin/env node
// Bundles the CLI into one file (dist/gantry.mjs). Node spends most of a short command's
// time finding and loading modules (undici alone is ~60 files); one file halves the start-up
// of `gantry inspect` and `gantry tags` (see bench/results). The library (dist/index.js)
// stays unbundled.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

// `undici` resolves to scripts/undici-cli.cjs: the dispatchers and the connector without
// fetch, WebSocket and the rest of undici's index (about 60 ms of start-up). The library
// (dist/index.js) imports undici itself.
const undiciLite = {
  name: 'undici-lite',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: `${root}scripts/undici-cli.cjs` }));
  },
};
await build({
  entryPoints: [`${root}dist/cli/entry.js`],
  outfile: `${root}dist/gantry.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  plugins: [undiciLite],
  // CommonJS dependencies (undici, commander) call require(): give the bundle one.
  banner: { js: "import { createRequire as __gantryRequire } from 'node:module'; const require = __gantryRequire(import.meta.url);" },
});
