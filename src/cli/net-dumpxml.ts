// `virt-failover net-dumpxml NETWORK [--inactive]`: virsh net-dumpxml (live XML while active, with the
// VF pool a <pf> expanded to and connections='N'; --inactive: the definition).
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetDumpxml(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-dumpxml')
    .description('network information in XML')
    .argument('<network>', 'network name or uuid')
    .option('--inactive', 'show inactive defined XML')
    .action(async (ref: string, opts: { inactive?: boolean }) => {
      const xml = await netAction(io, { network: ref }, undefined, () => openNetworkBackend(program).getXml(ref, { inactive: opts.inactive }));
      if (io.json) printJson(io, { network: ref, xml });
      else io.out(xml);
    });
}
