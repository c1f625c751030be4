#!/usr/bin/env node
// The client's CPU per request: N manifest HEADs, 8 in flight, through gantry's library
// (`RegistryClient`, dist/index.js: the transport with its layers, undici) or through bare
// node:http with a kept-alive agent. Prints wall and CPU milliseconds per request. Measures
// what a sync rerun (one HEAD per tag and side) and a push of many small blobs pay per request
// on the client; with REGISTRY_PID, also the registry's CPU per request (/proc/<pid>/stat).
//
//   npm run build && node bench/request-cost.mjs HOST REPO TAG gantry|node [N [REGISTRY_PID]]
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

const [host, repo, tag, mode, count, registryPid] = process.argv.slice(2);
/** The registry's user + system CPU seconds so far (clock ticks of 1/100 s), or NaN without a pid. */
const registryCpu = () => {
  if (!registryPid) return NaN;
  const f = readFileSync(`/proc/${registryPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
if (!host || !repo || !tag || (mode !== 'gantry' && mode !== 'node')) throw new Error('usage: request-cost.mjs HOST REPO TAG gantry|node [N]');
const N = Number(count ?? 2000);
const IN_FLIGHT = 8;
let next = 0;
let t0;
let u0;
let r0;
if (mode === 'gantry') {
  const { RegistryClient } = await import('../dist/index.js');
  const client = RegistryClient.create({ host });
  const r = client.repository(repo);
  if (!(await r.headManifest(tag))) throw new Error(`${host}/${repo}:${tag}: no such manifest`); // the ping and the first connection, untimed
  t0 = performance.now();
  u0 = process.cpuUsage();
  r0 = registryCpu();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next++ < N) await r.headManifest(tag);
  }));
  await client.close();
} else {
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const [hostname, port] = host.split(':');
  const head = () => new Promise((resolve, reject) => {
    const req = request({ method: 'HEAD', hostname, port, path: `/v2/${repo}/manifests/${tag}`, agent, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HEAD: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  await head();
  t0 = performance.now();
  u0 = process.cpuUsage();
  r0 = registryCpu();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next++ < N) await head();
  }));
  agent.destroy();
}
const u = process.cpuUsage(u0);
const reg = registryPid ? `, registry CPU ${(((registryCpu() - r0) * 1000) / N).toFixed(3)} ms/request` : '';
console.log(`${mode}: ${N} HEADs, wall ${((performance.now() - t0) / N).toFixed(3)} ms/request, client CPU ${((u.user + u.system) / 1000 / N).toFixed(3)} ms/request${reg}`);
