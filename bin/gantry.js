#!/usr/bin/env node
// The `gantry` command: the bundled CLI (`npm install` builds it; see scripts/bundle-cli.mjs).
import '../dist/gantry.mjs';
