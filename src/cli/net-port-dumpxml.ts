// `virt-failover net-port-dumpxml NETWORK PORT`: virsh net-port-dumpxml.
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetPortDumpxml(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-port-dumpxml')
    .description('network port information in XML')
    .argument('<network>', 'network name or uuid')
    .argument('<port>', 'port UUID')
    .action(async (ref: string, port: string) => {
      const xml = await netAction(io, { network: ref, port }, undefined, () => openNetworkBackend(program).getPortXml(ref, port));
      if (io.json) printJson(io, { network: ref, port, xml });
      else io.out(xml);
    });
}
