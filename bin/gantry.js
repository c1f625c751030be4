#!/usr/bin/env node
// The `gantry` command: a thin shim over the compiled CLI (`npm install` builds it).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
