// `virt-failover net-undefine NETWORK`: virsh net-undefine (an active network goes on as a transient one).
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetUndefine(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-undefine')
    .description('undefine a persistent network')
    .argument('<network>', 'network name or uuid')
    .action(async (ref: string) => {
      const r = await netAction(io, { network: ref }, `Failed to undefine network ${ref}`, () => openNetworkBackend(program).undefine(ref));
      if (io.json) printJson(io, r);
      else printVirsh(io, `Network ${ref} has been undefined`);
    });
}
