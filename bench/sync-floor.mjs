#!/usr/bin/env node
// The sync scenario's floor (bench/sync.ts): what a no-change rerun costs with nothing but the
// requests themselves. One process, node:http with 8 kept-alive connections per registry
// (gantry's default; node:http is built in, no package to load), 8 tags in flight, each tag's two manifest HEADs at once, after one tag listing
// per repository: the same requests gantry's rerun makes, without auth, configuration,
// retries, filters or a report. A tag whose digests differ is only counted.
//
//   node bench/sync-floor.mjs SRC_HOST DEST_HOST REPOS_FILE PREFIX
//
// REPOS_FILE: one source repository a line; the destination repository is PREFIX/<basename>.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const [src, dest, reposFile, prefix] = process.argv.slice(2);
if (!src || !dest || !reposFile || !prefix) throw new Error('usage: sync-floor.mjs SRC_HOST DEST_HOST REPOS_FILE PREFIX');
const repos = readFileSync(reposFile, 'utf8').split('\n').filter(Boolean);
const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
/** One request; resolves with the status, a header and the body (empty for a HEAD). */
const send = (method, host, path, headers = {}) =>
  new Promise((resolve, reject) => {
    const [hostname, port] = host.split(':');
    const req = request({ method, hostname, port, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, digest: res.headers['docker-content-digest'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
const head = async (host, path) => {
  const res = await send('HEAD', host, path, { accept: ACCEPT });
  return res.status === 200 ? res.digest : undefined;
};
let listed = 0;
async function* items() {
  for (const repo of repos) {
    const { tags } = JSON.parse((await send('GET', src, `/v2/${repo}/tags/list`)).body.toString('utf8'));
    listed++;
    const base = repo.split('/').pop();
    for (const tag of tags ?? []) yield { from: `/v2/${repo}/manifests/${tag}`, to: `/v2/${prefix}/${base}/manifests/${tag}` };
  }
}
const it = items();
let same = 0;
let differ = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    for (let n = await it.next(); !n.done; n = await it.next()) {
      const [a, b] = await Promise.all([head(src, n.value.from), head(dest, n.value.to)]);
      if (a !== undefined && a === b) same++;
      else differ++;
    }
  }),
);
agent.destroy();
process.stdout.write(`${JSON.stringify({ listed, same, differ })}\n`);
// A floor that found differences timed something else than a no-change rerun.
if (differ > 0) process.exitCode = 1;
