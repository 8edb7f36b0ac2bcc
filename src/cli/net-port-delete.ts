// `virt-failover net-port-delete NETWORK PORT`: virsh net-port-delete (its device is free again).
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetPortDelete(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-port-delete')
    .description('delete the specified network port')
    .argument('<network>', 'network name or uuid')
    .argument('<port>', 'port UUID')
    .action(async (ref: string, port: string) => {
      const uuid = await netAction(io, { network: ref, port }, `Failed to delete network port ${port}`, () =>
        openNetworkBackend(program).deletePort(ref, port));
      if (io.json) printJson(io, { network: ref, port: uuid });
      else printVirsh(io, `Network port ${uuid} deleted`);
    });
}
