/** The CLI's entry point, bundled into dist/gantry.mjs by scripts/bundle-cli.mjs. */
import { main } from './main.js';

process.exitCode = await main(process.argv);
