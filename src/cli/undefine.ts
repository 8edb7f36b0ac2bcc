// `virt-failover undefine DOMAIN`: virsh undefine. A running domain keeps running as a
// transient domain (libvirt's behaviour) and is gone once it stops.
import type { Command } from 'commander';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function registerUndefine(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('undefine')
    .description('undefine a domain (a running domain becomes transient)')
    .argument('<domain>', 'domain name, id or uuid')
    .action(async (ref: string) => {
      const r = await virshAction(io, ref, `Failed to undefine domain '${ref}'`, () => openBackend(program).undefine(ref));
      if (io.json) printJson(io, r);
      else printVirsh(io, `Domain '${r.name}' has been undefined`);
    });
}
