// `virt-failover pair --vf ADDR [--into FILE]`: a correct failover pair, alone
// (a minimal q35 domain) or added to a domain; the result is linted.
import type { Command } from 'commander';
import { readFileBounded } from '../util/fs.js';
import { decodeXmlBytes, parseXml } from '../util/xml.js';
import { addFailoverPair } from '../lint/index.js';
import { lintDomainXml } from '../lint/index.js';
import { type CliIo, printJson } from './io.js';
import { connectUri, openBackend } from './backend.js';
import { lintExitCode, lintResult, renderLintHuman } from './lint.js';

interface Options {
  vf: string;
  mac?: string;
  alias?: string;
  standby?: string;
  plainHostdev?: boolean;
  into?: string;
  name?: string;
}

export function registerPair(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('pair')
    .description('generate a correct failover pair (virtio standby + VF primary, same MAC, linked by a user alias)')
    .requiredOption('--vf <pci-address>', 'host PCI address of the VF, e.g. 0000:3b:02.1')
    .option('--mac <mac>', 'MAC for both sides (default: a random 52:54:00:xx:xx:xx)')
    .option('--alias <ua-name>', "the standby's user alias (default: ua-failoverN)")
    .option('--standby <spec>', "standby backend: 'user', 'network:NAME' or 'bridge:NAME'", 'network:default')
    .option('--plain-hostdev', 'a plain <hostdev> primary instead of <interface type=hostdev>')
    .option('--into <file>', 'add the pair to this domain XML (default: a minimal q35 domain); with --connect: a domain name, its definition')
    .option('--name <name>', 'domain name when no --into is given', 'failover-guest')
    .action(async (opts: Options) => {
      let base: string | undefined;
      if (opts.into && connectUri(program) !== undefined) base = await openBackend(program).getXml(opts.into, { inactive: true });
      else if (opts.into) base = decodeXmlBytes(await readFileBounded(opts.into), opts.into);
      const xml = addFailoverPair(base, opts, opts.name);
      const findings = lintDomainXml(parseXml(xml, { source: 'pair' }));
      const result = lintResult(opts.into ?? 'pair', findings);
      if (io.json) printJson(io, { xml, lint: result });
      else {
        io.out(xml);
        if (findings.length) io.err(renderLintHuman(result));
      }
      // The pair itself is right; an error here comes from the domain it was added to.
      if (lintExitCode([result]) === 1) setExit(1);
    });
}
