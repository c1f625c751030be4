#!/usr/bin/env node
// Copies the web view's static files (src/server/ui/app/: plain ES modules, CSS, HTML; no build
// step) into the build: dist/server/ui/app/ for the library (dist/server/ui/ui-route.js reads
// ./app/ beside it) and dist/server/ui/app/ is also what the bundled CLI (dist/gantry.mjs) finds
// as ./server/ui/app/. Run by `npm run build` after tsc.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const from = `${root}src/server/ui/app`;
const to = `${root}dist/server/ui/app`;
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
