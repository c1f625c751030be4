/**
 * Rendering copy progress. On a TTY: a live block, one bar per blob in flight (bytes and
 * speed), redrawn at most 10 times a second, and a summary line. Elsewhere (CI logs, pipes):
 * one plain line per state change, as `docker pull` does without a TTY. Always on stderr;
 * `--quiet` and `--json` turn it off (stdout is left to the result: commands/output.ts).
 */
import type { CopyEvent } from '../image/copy.js';

const REDRAW_MS = 100;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export interface ProgressRenderer {
  onEvent(e: CopyEvent): void;
  finish(): void;
}

/** Plain lines: `<digest12>: Exists`, `Mounted`, `Copying 12.0 MiB`, `Done`. */
export function plainRenderer(out: NodeJS.WritableStream): ProgressRenderer {
  return {
    onEvent(e) {
      if (e.kind === 'image' && e.phase === 'start') {
        out.write(`Copying ${e.source} to ${e.destination} (${e.digest}${e.platforms.length ? `, ${e.platforms.length} platforms` : ''})\n`);
      } else if (e.kind === 'image' && e.phase === 'exists') {
        out.write(`Image is up to date: ${e.digest}\n`);
      } else if (e.kind === 'blob' && e.phase !== 'copying') {
        const word = { exists: 'Already exists', mounted: 'Mounted from source repository', done: 'Copied' }[e.phase];
        out.write(`${short(e.digest)}: ${word} (${formatBytes(e.size)})\n`);
      } else if (e.kind === 'manifest') {
        out.write(`Wrote manifest ${e.digest}${e.platform ? ` (${e.platform})` : ''}\n`);
      }
    },
    finish() {},
  };
}

interface Bar {
  size: number;
  bytes: number;
  started: number;
  state: string;
}

/** A live block of bars on a TTY, redrawn in place. */
export function ttyRenderer(out: NodeJS.WriteStream): ProgressRenderer {
  const bars = new Map<string, Bar>();
  let header = '';
  let lines = 0;
  let last = 0;
  let totalBytes = 0;
  const begun = Date.now();
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < REDRAW_MS) return;
    last = now;
    const width = Math.max(10, Math.min(40, (out.columns ?? 80) - 50));
    const rows = [header];
    for (const [digest, b] of bars) {
      const frac = b.size > 0 ? Math.min(1, b.bytes / b.size) : 1;
      const fill = Math.round(frac * width);
      const secs = Math.max(0.001, (now - b.started) / 1000);
      const speed = b.state === 'copying' ? ` ${formatBytes(b.bytes / secs)}/s` : '';
      rows.push(`${short(digest)} [${'='.repeat(fill)}${' '.repeat(width - fill)}] ${formatBytes(b.bytes)}/${formatBytes(b.size)}${speed} ${b.state === 'copying' ? '' : b.state}`);
    }
    out.write(`${lines > 0 ? `\x1b[${lines}F` : ''}${rows.map((r) => `\x1b[2K${r}`).join('\n')}\n`);
    lines = rows.length;
  };
  return {
    onEvent(e) {
      if (e.kind === 'image' && e.phase === 'start') header = `Copying ${e.source} → ${e.destination}`;
      if (e.kind === 'blob') {
        const b = bars.get(e.digest) ?? { size: e.size, bytes: 0, started: Date.now(), state: 'waiting' };
        if (e.phase === 'copying') {
          b.bytes = e.bytes;
          b.state = 'copying';
        } else {
          if (e.phase === 'done') totalBytes += e.size;
          b.bytes = e.size;
          b.state = { exists: 'exists', mounted: 'mounted', done: 'done' }[e.phase];
        }
        bars.set(e.digest, b);
        draw(e.phase !== 'copying');
      }
      if (e.kind === 'image' && e.phase === 'exists') header = `Image is up to date: ${e.digest}`;
    },
    finish() {
      draw(true);
      const secs = (Date.now() - begun) / 1000;
      out.write(`${formatBytes(totalBytes)} copied in ${secs.toFixed(1)}s${secs > 0 && totalBytes > 0 ? ` (${formatBytes(totalBytes / secs)}/s)` : ''}\n`);
    },
  };
}

export function progressRenderer(options: { quiet?: boolean; json?: boolean }): ProgressRenderer | undefined {
  if (options.quiet || options.json) return undefined;
  const err = process.stderr;
  return err.isTTY ? ttyRenderer(err) : plainRenderer(err);
}
