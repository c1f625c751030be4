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
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/docker-registry.js';
import { benchImage, GIB } from './image.js';
import { measure } from './measure.js';
import { createBenchPki, startBenchDockerRegistry, startGantryServe, type BenchPki, type BenchRegistry } from './registries.js';
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

const cpuOf = (pid: number | undefined): number => {
  if (pid === undefined) return NaN;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

/** The registry floor as a BenchRegistry: a fresh process on empty storage at every reset. */
async function startFloor(storage: string, tls?: BenchPki): Promise<BenchRegistry> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const certDir = tls?.trust(host);
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    rmSync(storage, { recursive: true, force: true });
    mkdirSync(storage, { recursive: true });
    const args = [join(root, 'bench', 'serve-floor.mjs'), storage, String(port), ...(tls ? [tls.server.certFile, tls.server.keyFile] : [])];
    child = spawn(process.execPath, args, { stdio: 'inherit' });
    await new Promise((r) => setTimeout(r, 400));
  };
  const stopChild = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await gone;
  };
  await launch();
  return {
    host,
    kind: 'gantry serve', // unused here; the name printed is the caller's
    tls: tls !== undefined,
    ...(certDir ? { certDir } : {}),
    async reset() {
      await stopChild();
      await launch();
    },
    cpuSeconds: () => cpuOf(child?.pid),
    stop: stopChild,
  };
}

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

async function timed(scenario: string, name: Name, server: BenchRegistry, argv: string[]): Promise<void> {
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
const ref = (s: BenchRegistry): string => `${s.host}/bench/img:v1`;
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
