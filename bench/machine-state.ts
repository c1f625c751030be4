/**
 * What else the machine was doing while a section of the bench ran (issue 17): the 1-minute
 * load average before and after, and from `/proc/stat` the share of all CPU time between the
 * two readings that was stolen by the hypervisor, that was busy with anything, and that was
 * busy with the bench's own process tree (this process, the contenders, the registries), so
 * the rest is the other work that ran on the machine meanwhile. Also the machine's sha256
 * speed on one core, measured once, which bounds every contender that hashes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { SectionState, Sha256Speed } from './results-model.js';

/** /proc/stat's first line, in clock ticks summed over every CPU. */
interface CpuTicks {
  total: number;
  idle: number;
  steal: number;
}

/**
 * `cpu  user nice system idle iowait irq softirq steal guest guest_nice` (proc(5)). guest and
 * guest_nice are already counted in user and nice, so the total is the first eight.
 */
function cpuTicks(): CpuTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, steal };
}

/** utime + stime + cutime + cstime of one process, in clock ticks (proc(5) fields 14–17). */
function processTicks(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { ppid: f[1] ?? 0, ticks: (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0) };
  } catch {
    return undefined; // gone between the listing and the read
  }
}

/**
 * CPU ticks of this process and every live descendant, each with its reaped children. A
 * descendant that exits between two readings is counted whole in its parent's cutime/cstime at
 * the second, so the difference of two readings is the tree's CPU in between.
 */
function treeTicks(): number {
  const all = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = processTicks(Number(name));
    if (p) all.set(Number(name), p);
  }
  const children = new Map<number, number[]>();
  for (const [pid, p] of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let ticks = 0;
  const queue = [process.pid];
  while (queue.length) {
    const pid = queue.pop()!;
    ticks += all.get(pid)?.ticks ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return ticks;
}

interface Reading {
  at: number;
  load1: number;
  cpu: CpuTicks;
  tree: number;
}

function read(): Reading {
  return { at: Date.now(), load1: loadavg()[0] ?? NaN, cpu: cpuTicks(), tree: treeTicks() };
}

/** Runs `section` between two readings of the machine's state, added to `states` (also when it fails). */
export async function withMachineState<T>(name: string, states: SectionState[], section: () => Promise<T>): Promise<T> {
  const before = read();
  const finish = (): SectionState => {
    const after = read();
    const total = after.cpu.total - before.cpu.total;
    const share = (ticks: number): number => (total > 0 ? Math.max(0, ticks) / total : NaN);
    const busy = total - (after.cpu.idle - before.cpu.idle);
    const bench = after.tree - before.tree;
    return {
      section: name,
      seconds: (after.at - before.at) / 1000,
      load1Before: before.load1,
      load1After: after.load1,
      stealShare: share(after.cpu.steal - before.cpu.steal),
      busyShare: share(busy),
      benchShare: share(Math.min(bench, busy)),
      otherShare: share(busy - bench),
    };
  };
  try {
    return await section();
  } finally {
    states.push(finish());
  }
}

/** Bytes hashed to measure sha256's speed, in chunks of SHA_CHUNK (as the tools hash a stream). */
const SHA_BYTES = 256 * 1024 * 1024;
const SHA_CHUNK = 1024 * 1024;

/**
 * node:crypto's sha256 over SHA_BYTES in SHA_CHUNK pieces, on this thread. Per core is bytes
 * over the CPU time the hashing took (this process's user + system: the loop is synchronous),
 * which other work on the machine does not dilute; per wall second is what it got meanwhile.
 */
export function sha256Speed(): Sha256Speed {
  const chunk = randomBytes(SHA_CHUNK);
  const hash = createHash('sha256');
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let done = 0; done < SHA_BYTES; done += SHA_CHUNK) hash.update(chunk);
  hash.digest();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const gib = SHA_BYTES / 2 ** 30;
  return { bytes: SHA_BYTES, chunkBytes: SHA_CHUNK, seconds, cpuSeconds, gibPerSecond: gib / cpuSeconds, gibPerWallSecond: gib / seconds };
}
