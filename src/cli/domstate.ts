// `virt-failover domstate DOMAIN [--reason]`: virsh domstate: "running", "shut off (crashed)".
import type { Command } from 'commander';
import { formatState } from '../conf/domain-state.js';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function registerDomstate(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('domstate')
    .description('domain state')
    .argument('<domain>', 'domain name, id or uuid')
    .option('--reason', 'also print the reason for the state')
    .action(async (ref: string, opts: { reason?: boolean }) => {
      const s = await virshAction(io, ref, `Failed to get the state of domain '${ref}'`, () => openBackend(program).getState(ref));
      if (io.json) printJson(io, { name: s.name, state: s.state, reason: s.reason });
      else printVirsh(io, formatState(s, !!opts.reason));
    });
}
