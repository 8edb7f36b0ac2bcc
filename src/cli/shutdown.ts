// `virt-failover shutdown DOMAIN [--timeout SECONDS]`: ACPI power button, then wait (default
// 60 s) until the guest is off. A guest that ignores ACPI fails after the timeout (QEMU keeps
// running; `destroy` forces it off). --timeout 0 only sends the request, as virsh does.
import type { Command } from 'commander';
import { InvalidArgError } from '../util/errors.js';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function parseTimeoutSeconds(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 2_000_000) {
    throw new InvalidArgError(`Numeric value '${raw}' for <timeout> option is malformed or out of range`);
  }
  return Number(raw);
}

export function registerShutdown(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('shutdown')
    .description('gracefully shut down a domain (ACPI power button) and wait until it is off')
    .argument('<domain>', 'domain name, id or uuid')
    .option('--timeout <seconds>', 'how long to wait for the guest to power off (0: do not wait)', '60')
    .action(async (ref: string, opts: { timeout: string }) => {
      const seconds = parseTimeoutSeconds(opts.timeout);
      const r = await virshAction(io, ref, `Failed to shutdown domain '${ref}'`, () =>
        openBackend(program).shutdown(ref, { timeoutMs: seconds * 1000 }),
      );
      if (io.json) printJson(io, r);
      else printVirsh(io, `Domain '${r.name}' is being shutdown`);
    });
}
