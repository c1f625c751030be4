/**
 * What bounds the embedded registry's section of `npm run bench`: the same three transfers of
 * the 1 GiB bench image (8 × 128 MiB) by gantry — push into a plain server, copy from a plain
 * docker-registry into a TLS server, pull from the plain server — against docker-registry,
 * `gantry serve` and the registry floor (bench/serve-floor.mjs: node:http(s) with nothing but
 * the digest check), alternating, each server's CPU read from /proc/<pid>/stat around each
 * transfer. Prints the server CPU per GiB and the wall time, median (min–max), per scenario.
 *
 *   npm run build && node --import tsx bench/serving.ts [RUNS]
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchImage, GIB } from './image.js';
import { measure } from './measure.js';
import { createBenchPki, startBenchDockerRegistry, startGantryServe, startNodeServer, type BenchPki, type NodeServer } from './registries.js';
import { spread } from './stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 5);
const work = join(root, 'bench', 'work');
const dir = join(work, 'serving');
const bin = join(root, 'bin', 'gantry.js');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const image = await benchImage(work, GIB, 8, (m) => console.log(m));
const gib = image.totalBytes / GIB;
const pki = createBenchPki(dir);

/** The registry floor on empty storage (again at every reset). */
const startFloor = (storage: string, tls?: BenchPki): Promise<NodeServer> =>
  startNodeServer('the registry floor', storage, (host) => [
    join(root, 'bench', 'serve-floor.mjs'), storage, host.split(':')[1]!,
    ...(tls ? [tls.server.certFile, tls.server.keyFile] : []),
  ], tls);

const source = await startBenchDockerRegistry(join(dir, 'source'));
const plain = {
  'docker-registry': await startBenchDockerRegistry(join(dir, 'dr-plain')),
  'gantry serve': await startGantryServe(bin, join(dir, 'gs-plain')),
  'registry floor': await startFloor(join(dir, 'floor-plain')),
};
const tls = {
  'docker-registry': await startBenchDockerRegistry(join(dir, 'dr-tls'), pki),
  'gantry serve': await startGantryServe(bin, join(dir, 'gs-tls'), pki),
  'registry floor': await startFloor(join(dir, 'floor-tls'), pki),
};
type Name = keyof typeof plain;
const names = Object.keys(plain) as Name[];
const rows = new Map<string, { wall: number[]; cpu: number[] }>();
const gantry = (...args: string[]): string[] => [process.execPath, bin, ...args, '--certs-dir', pki.certsDir, '--quiet'];

async function timed(scenario: string, name: Name, server: NodeServer, argv: string[]): Promise<void> {
  const c0 = server.cpuSeconds();
  const m = await measure(argv);
  const cpu = server.cpuSeconds() - c0;
  const key = `${scenario} | ${name}`;
  if (!rows.has(key)) rows.set(key, { wall: [], cpu: [] });
  rows.get(key)!.wall.push(m.wallSeconds);
  rows.get(key)!.cpu.push(cpu / gib);
  console.log(`${scenario} ${name}: wall ${m.wallSeconds.toFixed(2)} s, server CPU ${cpu.toFixed(2)} s`);
}

const order = (i: number): Name[] => [...names.slice(i % names.length), ...names.slice(0, i % names.length)];
const ref = (s: NodeServer): string => `${s.host}/bench/img:v1`;
try {
  await measure(gantry('push', image.dir, ref(source)));
  for (let i = 0; i < runs; i++) {
    for (const name of order(i)) {
      await tls[name].reset();
      await timed('copy (TLS)', name, tls[name], gantry('copy', `docker://${ref(source)}`, `docker://${ref(tls[name])}`));
    }
  }
  for (let i = 0; i < runs; i++) {
    for (const name of order(i)) {
      await plain[name].reset();
      await timed('push', name, plain[name], gantry('push', image.dir, ref(plain[name])));
    }
  }
  const out = join(dir, 'pulled');
  for (let i = 0; i < runs; i++) {
    for (const name of order(i)) {
      rmSync(out, { recursive: true, force: true });
      await timed('pull', name, plain[name], gantry('pull', ref(plain[name]), out));
    }
  }
  const fmt = (v: number[]): string => {
    const s = spread(v);
    return `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  };
  console.log(`\n| scenario | server | wall s | server CPU s per GiB |\n|---|---|---|---|`);
  for (const [key, r] of rows) console.log(`| ${key} | ${fmt(r.wall)} | ${fmt(r.cpu)} |`);
  console.log(`\nmedian (min–max) of ${runs} alternating runs per server`);
} finally {
  await Promise.all([source, ...Object.values(plain), ...Object.values(tls)].map((s) => s.stop()));
}
