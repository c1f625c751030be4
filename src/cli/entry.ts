/** The CLI's entry point, bundled into dist/gantry.mjs by scripts/bundle-cli.mjs. */
import type { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { main } from './main.js';

// undici parses HTTP with llhttp compiled to WebAssembly, on first use. V8 compiles it with its
// baseline compiler and later re-compiles hot functions with its optimising one on a
// background thread, which a process must wait for when it exits: ~0.15 s of a short command
// such as `gantry inspect`. The baseline code is enough for gantry: llhttp only reads headers
// (a body's bytes are skipped by length). Set before any connection compiles the parser.
setFlagsFromString('--liftoff-only');

function flushed(stream: Writable): Promise<void> {
  return stream.writableLength === 0 ? Promise.resolve() : new Promise((resolve) => stream.once('drain', resolve));
}

const code = await main(process.argv);
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
// Everything the command does has been awaited by main() (`gantry serve` returns only after its
// server has closed): exit without waiting for idle keep-alive sockets to be collected.
process.exit(code);
