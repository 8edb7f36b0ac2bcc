// `virt-failover net-start NETWORK`: virsh net-start. A hostdev network with a <pf> gets that PF's VFs as its pool.
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetStart(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-start')
    .description('start a (previously defined) inactive network')
    .argument('<network>', 'network name or uuid')
    .action(async (ref: string) => {
      const r = await netAction(io, { network: ref }, `Failed to start network ${ref}`, () => openNetworkBackend(program).start(ref));
      if (io.json) printJson(io, r);
      else printVirsh(io, `Network ${ref} started`);
    });
}
