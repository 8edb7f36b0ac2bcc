// `virt-failover net-port-create NETWORK FILE`: virsh net-port-create. A port without <plug> gets one from
// the network (on a hostdev network: a free VF of the pool).
import type { Command } from 'commander';
import { readFileBounded } from '../util/fs.js';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetPortCreate(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-port-create')
    .description('create a network port from an XML file')
    .argument('<network>', 'network name or uuid')
    .argument('<file>', 'file containing an XML network port description')
    .action(async (ref: string, file: string) => {
      const uuid = await netAction(io, { network: ref }, `Failed to create network from ${file}`, async () =>
        openNetworkBackend(program).createPort(ref, await readFileBounded(file), { source: file }));
      if (io.json) printJson(io, { uuid, network: ref, file });
      else printVirsh(io, `Network port ${uuid} created from ${file}`);
    });
}
