/**
 * The web app's files (src/server/ui/app/), read once into memory when the route is made.
 * Requests are answered by exact file name from that map, never by joining a request path to
 * a directory, so `..`, encoded separators and the like cannot reach any other file: what is
 * not in the map is a 404.
 *
 * From the sources (tsx) and the unbundled build (dist/server/ui/) the folder is `./app/` beside
 * this module; in the bundled CLI (dist/gantry.mjs) it is `./server/ui/app/` beside the bundle,
 * which `scripts/copy-ui.mjs` fills at `npm run build`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../errors.js';

/** One file of the app, ready to send. */
export interface AppFile {
  body: Buffer;
  contentType: string;
  /** A strong validator of the bytes, for If-None-Match. */
  etag: string;
}

/** The only kinds of file the app has; anything else in the folder is not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** A plain file name: letters, digits, `-`, `_`, one dot before the extension. */
const FILE_NAME_RE = /^[A-Za-z0-9_-]+\.[a-z]+$/;

const CANDIDATES = ['./app/', './server/ui/app/'];

/** The app folder: the first candidate beside this module that has an `index.html`. */
export function findAppDir(base: string | URL = import.meta.url): string {
  for (const candidate of CANDIDATES) {
    const dir = fileURLToPath(new URL(candidate, base));
    try {
      if (statSync(join(dir, 'index.html')).isFile()) return dir;
    } catch {
      // not here; try the next one
    }
  }
  throw new ConfigError(`the web app's files are missing (looked for ${CANDIDATES.join(' and ')} beside ${String(base)}); run npm run build`);
}

/** Reads the app's files (flat, known extensions only) from `dir` into a map keyed by file name. */
export function loadAppFiles(dir: string = findAppDir()): Map<string, AppFile> {
  const files = new Map<string, AppFile>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !FILE_NAME_RE.test(entry.name)) continue;
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (!contentType) continue;
    const body = readFileSync(join(dir, entry.name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    files.set(entry.name, { body, contentType, etag });
  }
  if (!files.has('index.html')) throw new ConfigError(`the web app's folder ${dir} has no index.html`);
  return files;
}
