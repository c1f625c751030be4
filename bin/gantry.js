#!/usr/bin/env node
// The `gantry` command: the bundled CLI (`npm install` builds it; see scripts/bundle-cli.mjs
// and docs/startup.md).
import module from 'node:module';

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
