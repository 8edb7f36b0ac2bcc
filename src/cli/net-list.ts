// `virt-failover net-list [--all|--inactive]`: virsh net-list, the same table (Name, State, Autostart,
// Persistent), networks sorted by name as virsh sorts them.
import type { Command } from 'commander';
import { type NetworkSummary, openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { renderTable } from './list.js';

export function renderNetworkList(nets: NetworkSummary[]): string {
  return renderTable(
    ['Name', 'State', 'Autostart', 'Persistent'],
    nets.map((n) => [n.name, n.active ? 'active' : 'inactive', n.autostart ? 'yes' : 'no', n.persistent ? 'yes' : 'no']),
  );
}

export function registerNetList(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-list')
    .description('list networks (active ones; --inactive: inactive ones; --all: both)')
    .option('--all', 'list inactive & active networks')
    .option('--inactive', 'list inactive networks')
    .option('--name', 'list network names only')
    .option('--uuid', "list uuid's only")
    .action(async (opts: { all?: boolean; inactive?: boolean; name?: boolean; uuid?: boolean }) => {
      const nets = (await openNetworkBackend(program).list()).filter((n) => opts.all || (opts.inactive ? !n.active : n.active));
      if (io.json) printJson(io, nets);
      else if (opts.name) printVirsh(io, nets.map((n) => `${n.name}\n`).join(''));
      else if (opts.uuid) printVirsh(io, nets.map((n) => `${n.uuid}\n`).join(''));
      else printVirsh(io, renderNetworkList(nets));
    });
}
