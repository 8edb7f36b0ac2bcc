// `virt-failover capabilities`: what the QEMU binary offers (probed over QMP, cached).
import type { Command } from 'commander';
import { type CliIo, printJson } from './io.js';
import { capsToJson, formatCapsHuman } from '../qemu/caps/index.js';
import { capsFor, type QemuCliOptions } from './qemu-options.js';

export function registerCapabilities(program: Command, io: CliIo): void {
  program
    .command('capabilities')
    .description('probe a QEMU binary over QMP (cached per binary) and summarise what it supports')
    .option('--emulator <path>', 'QEMU binary', '/usr/bin/qemu-system-x86_64')
    .option('--caps <file>', 'read libvirt capabilities XML instead of probing')
    .action(async (opts: QemuCliOptions) => {
      const caps = await capsFor(opts);
      if (io.json) printJson(io, capsToJson(caps));
      else io.out(formatCapsHuman(caps));
    });
}
