// `virt-failover format FILE`: the canonical XML (libvirt's formatter), or --json the model.
// --post-parse adds what libvirt adds at define (defaults, controllers, PCI addresses).
import type { Command } from 'commander';
import { readDomainFile, type CliIo, printJson } from './io.js';
import { formatDomain } from '../conf/domain.js';
import { addQemuOptions, defineWithOptions, type QemuCliOptions } from './qemu-options.js';

export function registerFormat(program: Command, io: CliIo): void {
  addQemuOptions(
    program
      .command('format')
      .description('print the canonical libvirt form of a domain XML file')
      .argument('<file>', 'domain XML file')
      .option('--post-parse', 'apply post-parse defaults and PCI addresses as libvirt does at define'),
  ).action(async (file: string, opts: QemuCliOptions & { postParse?: boolean }) => {
    let dom = await readDomainFile(file);
    if (opts.postParse) dom = (await defineWithOptions(dom, opts, io.err)).dom;
    if (io.json) printJson(io, dom);
    else io.out(formatDomain(dom));
  });
}
