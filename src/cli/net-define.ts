// `virt-failover net-define FILE`: virsh net-define. Parse, libvirt's define-time checks, store atomically.
import type { Command } from 'commander';
import { readFileBounded } from '../util/fs.js';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetDefine(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-define')
    .description('define an inactive persistent virtual network or modify an existing persistent one from an XML file')
    .argument('<file>', 'file containing an XML network description')
    .action(async (file: string) => {
      const r = await netAction(io, {}, `Failed to define network from ${file}`, async () =>
        openNetworkBackend(program).define(await readFileBounded(file), { source: file }));
      if (io.json) printJson(io, { ...r, file });
      else printVirsh(io, `Network ${r.name} defined from ${file}`);
    });
}
