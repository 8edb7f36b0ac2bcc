// `virt-failover agent --stdio`: the destination's end of `migrate NAME ssh://HOST`, started by the source
// through ssh. It speaks the agent protocol (src/qemu/remote/protocol.ts) on stdin/stdout, diagnostics go to
// stderr, and it ends with its SSH session (see src/qemu/remote/agent.ts).
import type { Command } from 'commander';
import { serveAgent } from '../qemu/remote/index.js';
import { InvalidArgError } from '../util/errors.js';
import { openDriver } from './backend.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('serve an incoming migration from another host on stdin/stdout (run by `migrate NAME ssh://HOST` through ssh)')
    .option('--stdio', 'speak the agent protocol on stdin/stdout (the only mode)')
    .action(async (opts: { stdio?: boolean }) => {
      if (!opts.stdio) throw new InvalidArgError("agent needs --stdio (it is started by 'migrate NAME ssh://HOST', not by hand)");
      await serveAgent({
        input: process.stdin,
        output: process.stdout,
        driver: openDriver(program),
        log: (line) => process.stderr.write(`agent: ${line}\n`),
      });
    });
}
