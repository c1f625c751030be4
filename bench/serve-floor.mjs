#!/usr/bin/env node
// The serving floor of the embedded-registry pull (bench/run.ts, "embedded"): the least a Node
// server costs that serves an image's blobs over node:http — an OCI layout read-only, each blob
// a file piped into the response (`stream.pipeline`, 1 MiB reads), no storage layout, auth,
// metrics or checks. Beside `gantry serve` and docker-registry it says how much of the serving
// CPU is Node's way of sending a file (read into memory, written to the socket: Node's HTTP
// server has no sendfile) and how much is gantry's.
//
//   node bench/serve-floor.mjs LAYOUT_DIR PORT
//
// Serves GET /v2/, GET|HEAD /v2/<name>/manifests/<ref> (the layout's first manifest, whatever
// the name and ref) and GET|HEAD /v2/<name>/blobs/<digest> on 127.0.0.1:PORT until SIGTERM.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const [layout, port] = process.argv.slice(2);
if (!layout || !port) throw new Error('usage: serve-floor.mjs LAYOUT_DIR PORT');
const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
const top = index.manifests[0];
const blobPath = (digest) => join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/v2/') return void res.end('{}');
    const manifest = /^\/v2\/.+\/manifests\/[^/]+$/.test(url.pathname);
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (!manifest && !blob) {
      res.statusCode = 404;
      return void res.end();
    }
    const digest = manifest ? top.digest : blob[1];
    const path = blobPath(digest);
    const { size } = await stat(path);
    res.setHeader('content-length', size);
    res.setHeader('docker-content-digest', digest);
    res.setHeader('content-type', manifest ? top.mediaType : 'application/octet-stream');
    if (req.method === 'HEAD') return void res.end();
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), res);
  } catch (err) {
    if (!res.headersSent) res.statusCode = err?.code === 'ENOENT' ? 404 : 500;
    res.end();
  }
});
server.keepAliveTimeout = 30_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
