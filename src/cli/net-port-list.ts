// `virt-failover net-port-list NETWORK [--uuid]`: virsh net-port-list, one UUID column, sorted by UUID.
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { renderTable } from './list.js';
import { netAction } from './network-common.js';

export function registerNetPortList(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-port-list')
    .description('list network ports')
    .argument('<network>', 'network name or uuid')
    .option('--uuid', "list uuid's only")
    .action(async (ref: string, opts: { uuid?: boolean }) => {
      const uuids = await netAction(io, { network: ref }, undefined, () => openNetworkBackend(program).listPorts(ref));
      if (io.json) printJson(io, uuids);
      else if (opts.uuid) printVirsh(io, uuids.map((u) => `${u}\n`).join(''));
      else printVirsh(io, renderTable(['UUID'], uuids.map((u) => [u])));
    });
}
