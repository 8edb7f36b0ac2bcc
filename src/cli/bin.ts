#!/usr/bin/env node
// The virt-failover executable. `npm run build` also bundles it into
// dist/virt-failover.mjs (one file loads in a fraction of the time).
import { runCli } from './main.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`error: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
