// `virt-failover net-destroy NETWORK`: virsh net-destroy (its ports go with it).
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetDestroy(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-destroy')
    .description('destroy (stop) a network')
    .argument('<network>', 'network name or uuid')
    .action(async (ref: string) => {
      const r = await netAction(io, { network: ref }, `Failed to destroy network ${ref}`, () => openNetworkBackend(program).destroy(ref));
      if (io.json) printJson(io, r);
      else printVirsh(io, `Network ${ref} destroyed`);
    });
}
