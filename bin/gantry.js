#!/usr/bin/env node
// The `gantry` command: the bundled CLI (`npm install` builds it; see scripts/bundle-cli.mjs
// and docs/startup.md).
import module from 'node:module';
import v8 from 'node:v8';

// V8's young generation stays at its first size instead of growing to 16 MiB semi-spaces: a
// transfer's garbage is short-lived stream chunks, so small, frequent scavenges free them (and
// the buffers they hold) sooner. Measured on a 1 GiB pull (farm-bench, 6 paired runs): peak RSS
// 90 MiB instead of 108, CPU 0.76×, wall 0.87× (docs/startup.md). Set before any code is loaded.
// Not for `gantry serve`: the embedded registry spent more CPU per GiB with it (bench).
if (!process.argv.slice(2).includes('serve')) v8.setFlagsFromString('--semi-space-growth-factor=1');

// V8's code cache for the bundle, where Node has one (22.1 and later): a later run reads the
// compiled code instead of compiling the bundle again. Node keeps it in its default directory
// under the OS temporary directory, or where NODE_COMPILE_CACHE says (NODE_DISABLE_COMPILE_CACHE
// turns it off). A directory that cannot be written leaves the cache off, never the command:
// enableCompileCache() reports that in its result instead of throwing, and the try covers the rest.
try {
  module.enableCompileCache?.();
} catch {
  // no cache: the command runs the same, compiling as before
}

// Imported after the cache is on, so that the bundle is compiled through it.
await import('../dist/gantry.mjs');
