// `virt-failover format FILE`: the canonical XML (libvirt's formatter), or --json the model.
import type { Command } from 'commander';
import { readDomainFile, type CliIo, printJson } from './io.js';
import { formatDomain } from '../conf/domain.js';

export function registerFormat(program: Command, io: CliIo): void {
  program
    .command('format')
    .description('print the canonical libvirt form of a domain XML file')
    .argument('<file>', 'domain XML file')
    .action(async (file: string) => {
      const dom = await readDomainFile(file);
      if (io.json) printJson(io, dom);
      else io.out(formatDomain(dom));
    });
}
