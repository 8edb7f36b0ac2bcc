// `virt-failover start DOMAIN`: virsh start. QEMU starts paused (-S), detached, with its
// output in the runtime dir's NAME.log; QMP setup, then `cont`.
import type { Command } from 'commander';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function registerStart(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('start')
    .description('start a (previously defined) inactive domain')
    .argument('<domain>', 'domain name, id or uuid')
    .action(async (ref: string) => {
      const r = await virshAction(io, ref, `Failed to start domain '${ref}'`, () => openBackend(program).start(ref));
      if (io.json) printJson(io, r);
      else printVirsh(io, `Domain '${r.name}' started`);
    });
}
