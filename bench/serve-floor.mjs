#!/usr/bin/env node
// The registry floor of the embedded-registry section (bench/serving.ts): the least a Node
// server costs that takes an image's uploads and serves its pulls over node:http(s), with no
// storage layout, auth, metrics, garbage collection or checks beyond the digest. Beside
// `gantry serve` and docker-registry it says how much of a server's CPU is Node's (HTTP
// parsing, TLS, reading and writing files, sha256) and how much is gantry's.
//
//   node bench/serve-floor.mjs DIR PORT [CERT KEY]
//
// Serves on 127.0.0.1:PORT (https with CERT and KEY) until SIGTERM:
//   GET /v2/                                     200
//   HEAD|GET /v2/<name>/blobs/<digest>           DIR/blobs/<hex>, piped into the response (1 MiB reads)
//   POST /v2/<name>/blobs/uploads/               202, a session
//   PATCH <session>                              the body appended to the session's file, hashed on the way
//   PUT <session>?digest=D                       the body (if any) appended; the digest checked; fsync; rename to DIR/blobs/<hex>
//   PUT|HEAD|GET /v2/<name>/manifests/<ref>      kept in memory by name and ref (and by digest)
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const [dir, port, cert, key] = process.argv.slice(2);
if (!dir || !port) throw new Error('usage: serve-floor.mjs DIR PORT [CERT KEY]');
const blobs = join(dir, 'blobs', 'sha256');
const uploads = join(dir, 'uploads');
await mkdir(blobs, { recursive: true });
const blobPath = (digest) => join(blobs, digest.slice('sha256:'.length));
const manifests = new Map();
/** Upload sessions: their file, running hash and size. */
const sessions = new Map();

async function receive(req, session) {
  req.on('data', (c) => {
    session.hash.update(c);
    session.size += c.length;
  });
  await pipeline(req, createWriteStream(session.file, { flags: 'a' }));
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  if (path === '/v2/') return void res.end('{}');
  let m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(path);
  if (m && req.method === 'POST') {
    const id = randomUUID();
    await mkdir(uploads, { recursive: true });
    sessions.set(id, { file: join(uploads, id), hash: createHash('sha256'), size: 0 });
    req.resume();
    res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}`, range: '0-0', 'content-length': 0 });
    return void res.end();
  }
  m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path);
  if (m) {
    const session = sessions.get(m[2]);
    if (!session) return void res.writeHead(404).end();
    await receive(req, session);
    if (req.method === 'PATCH') {
      res.writeHead(202, { location: path, range: `0-${Math.max(session.size - 1, 0)}`, 'content-length': 0 });
      return void res.end();
    }
    const digest = url.searchParams.get('digest');
    if (`sha256:${session.hash.digest('hex')}` !== digest) return void res.writeHead(400).end('digest mismatch');
    const fh = await open(session.file, 'r+');
    await fh.sync();
    await fh.close();
    await rename(session.file, blobPath(digest));
    sessions.delete(m[2]);
    res.writeHead(201, { location: `/v2/${m[1]}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': 0 });
    return void res.end();
  }
  m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
  if (m) {
    req.resume();
    const size = await stat(blobPath(m[2])).then((s) => s.size, () => undefined);
    if (size === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': size, 'docker-content-digest': m[2], 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    return pipeline(createReadStream(blobPath(m[2]), { highWaterMark: 1 << 20 }), res);
  }
  m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
  if (m) {
    if (req.method === 'PUT') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks);
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const entry = { body, mediaType: req.headers['content-type'], digest };
      manifests.set(`${m[1]}:${m[2]}`, entry);
      manifests.set(`${m[1]}:${digest}`, entry);
      res.writeHead(201, { location: path, 'docker-content-digest': digest, 'content-length': 0 });
      return void res.end();
    }
    req.resume();
    const entry = manifests.get(`${m[1]}:${m[2]}`);
    if (!entry) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': entry.body.length, 'content-type': entry.mediaType, 'docker-content-digest': entry.digest });
    return void res.end(req.method === 'HEAD' ? undefined : entry.body);
  }
  req.resume();
  res.writeHead(404).end();
}

const listener = (req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) res.statusCode = 500;
    res.end();
  });
};
const server = cert && key ? createHttps({ cert: readFileSync(cert), key: readFileSync(key) }, listener) : createHttp(listener);
server.keepAliveTimeout = 30_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
