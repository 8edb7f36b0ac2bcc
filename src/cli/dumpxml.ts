// `virt-failover dumpxml DOMAIN [--inactive]`: virsh dumpxml. The live XML (id, aliases,
// addresses) while the domain runs; --inactive: the stored definition.
import type { Command } from 'commander';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function registerDumpxml(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('dumpxml')
    .description('domain information in XML')
    .argument('<domain>', 'domain name, id or uuid')
    .option('--inactive', 'show the inactive domain definition')
    .action(async (ref: string, opts: { inactive?: boolean }) => {
      const driver = openBackend(program);
      const xml = await virshAction(io, ref, `Failed to get the XML of domain '${ref}'`, () => driver.getXml(ref, { inactive: opts.inactive }));
      if (io.json) printJson(io, { domain: ref, inactive: !!opts.inactive, xml });
      else printVirsh(io, xml);
    });
}
