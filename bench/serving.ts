/**
 * What bounds the embedded registry's serving (`npm run bench`'s embedded pull): gantry pulls
 * the 1 GiB bench image (8 × 128 MiB) from docker-registry, from `gantry serve` and from the
 * serving floor (bench/serve-floor.mjs: node:http piping each blob's file into the response),
 * alternating, each server's CPU read from /proc/<pid>/stat around each pull.
 *
 *   npm run build && node --import tsx bench/serving.ts [RUNS]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchImage, GIB } from './image.js';
import { measure, run } from './measure.js';
import { freePort } from '../test/helpers/docker-registry.js';
import { startBenchDockerRegistry, startGantryServe } from './registries.js';
import { spread } from './stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 5);
const work = join(root, 'bench', 'work');
const dir = join(work, 'serving');
const bin = join(root, 'bin', 'gantry.js');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const image = await benchImage(work, GIB, 8, (m) => console.log(m));
const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const registry = await startBenchDockerRegistry(join(dir, 'docker-registry'));
const serve = await startGantryServe(bin, join(dir, 'gantry-serve'));
const port = await freePort();
const floor = spawn(process.execPath, [join(root, 'bench', 'serve-floor.mjs'), image.dir, String(port)], { stdio: 'inherit' });
try {
  for (const s of [registry, serve]) await run([process.execPath, bin, 'push', image.dir, `${s.host}/bench/img:v1`, '--quiet']);
  await new Promise((r) => setTimeout(r, 300));
  const servers = [
    { name: 'docker-registry', host: registry.host, cpu: () => registry.cpuSeconds() },
    { name: 'gantry serve', host: serve.host, cpu: () => serve.cpuSeconds() },
    { name: 'serving floor', host: `127.0.0.1:${port}`, cpu: () => cpuOf(floor.pid!) },
  ];
  const rows = new Map<string, { wall: number[]; cpu: number[] }>(servers.map((s) => [s.name, { wall: [], cpu: [] }]));
  const out = join(dir, 'pulled');
  for (let i = 0; i < runs; i++) {
    for (const s of [...servers.slice(i % 3), ...servers.slice(0, i % 3)]) {
      rmSync(out, { recursive: true, force: true });
      const c0 = s.cpu();
      const m = await measure([process.execPath, bin, 'pull', `${s.host}/bench/img:v1`, out, '--quiet']);
      const cpu = s.cpu() - c0;
      rows.get(s.name)!.wall.push(m.wallSeconds);
      rows.get(s.name)!.cpu.push(cpu);
      console.log(`run ${i + 1} ${s.name}: wall ${m.wallSeconds.toFixed(2)} s, server CPU ${cpu.toFixed(2)} s`);
    }
  }
  const fmt = (v: number[]): string => {
    const s = spread(v);
    return `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  };
  const gib = image.totalBytes / GIB;
  for (const [name, r] of rows) console.log(`${name}: wall ${fmt(r.wall)} s, server CPU ${fmt(r.cpu.map((c) => c / gib))} s per GiB (median, min–max of ${runs} runs)`);
} finally {
  floor.kill('SIGTERM');
  await Promise.all([registry.stop(), serve.stop()]);
}
