// `virt-failover net-autostart NETWORK [--disable]`: virsh net-autostart (recorded; a network is started
// by whoever runs `net-start`, there is no daemon to start it at boot).
import type { Command } from 'commander';
import { openNetworkBackend } from './backend.js';
import { printVirsh } from './domain-common.js';
import { type CliIo, printJson } from './io.js';
import { netAction } from './network-common.js';

export function registerNetAutostart(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('net-autostart')
    .description('autostart a network')
    .argument('<network>', 'network name or uuid')
    .option('--disable', 'disable autostarting')
    .action(async (ref: string, opts: { disable?: boolean }) => {
      const on = !opts.disable;
      const context = on ? `failed to mark network ${ref} as autostarted` : `failed to unmark network ${ref} as autostarted`;
      const r = await netAction(io, { network: ref }, context, () => openNetworkBackend(program).setAutostart(ref, on));
      if (io.json) printJson(io, r);
      else printVirsh(io, on ? `Network ${ref} marked as autostarted` : `Network ${ref} unmarked as autostarted`);
    });
}
