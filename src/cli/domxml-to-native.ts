// `virt-failover domxml-to-native FILE`: the QEMU command line libvirt would run.
import type { Command } from 'commander';
import { readDomainFile, type CliIo, printJson } from './io.js';
import { validateDomain } from '../conf/validate.js';
import { validateDomainForQemu } from '../qemu/postparse/index.js';
import { buildCommandLine, renderArgsFile, renderArgvLines, renderShellLine } from '../qemu/command/index.js';
import { loadNetworkResolver } from '../qemu/command/index.js';
import { addQemuOptions, postParseWithOptions, type QemuCliOptions } from './qemu-options.js';

interface Options extends QemuCliOptions {
  networkDir?: string;
  portDir?: string;
  shell?: boolean;
  argsFile?: boolean;
  runtimeDir?: string;
}

export function registerDomxmlToNative(program: Command, io: CliIo): void {
  addQemuOptions(
    program
      .command('domxml-to-native')
      .description('print the QEMU command line for a domain XML file (one argument per line)')
      .argument('<file>', 'domain XML file')
      .option('--network-dir <dir>', "libvirt network definitions for <interface type='network'>")
      .option('--port-dir <dir>', 'libvirt network port definitions')
      .option('--shell', 'one shell-quoted line, like virsh domxml-to-native qemu-argv')
      .option('--args-file', "libvirt's test .args layout (env lines, one option per line)")
      .option('--runtime-dir <dir>', 'runtime directory for sockets and the master key (default profile)', '/run/virt-failover/DOMAIN'),
  ).action(async (file: string, opts: Options) => {
    const parsed = await readDomainFile(file);
    const { dom, caps, profile } = await postParseWithOptions(parsed, opts, io.err);
    validateDomain(dom);
    validateDomainForQemu(dom, caps);
    const networks = opts.networkDir || opts.portDir ? await loadNetworkResolver({ networkDir: opts.networkDir, portDir: opts.portDir }) : undefined;
    const runtimeDir = (opts.runtimeDir ?? '').replace('DOMAIN', dom.name);
    const cmd = buildCommandLine(dom, caps, { profile, runtimeDir, networks });
    if (io.json) printJson(io, cmd);
    else if (opts.shell) io.out(renderShellLine(cmd));
    else if (opts.argsFile) io.out(renderArgsFile(cmd));
    else io.out(renderArgvLines(cmd));
  });
}
