// `virt-failover destroy DOMAIN`: virsh destroy. SIGTERM, SIGKILL after 10 s, clean up.
import type { Command } from 'commander';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function registerDestroy(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('destroy')
    .description('destroy (stop) a domain')
    .argument('<domain>', 'domain name, id or uuid')
    .action(async (ref: string) => {
      const r = await virshAction(io, ref, `Failed to destroy domain '${ref}'`, () => openBackend(program).destroy(ref));
      if (io.json) printJson(io, r);
      else printVirsh(io, `Domain '${r.name}' destroyed`);
    });
}
