// `virt-failover define FILE`: virsh define. Parse, post-parse, validate, store atomically.
import type { Command } from 'commander';
import { readFileBounded } from '../util/fs.js';
import { printVirsh, virshAction } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

export function registerDefine(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('define')
    .description('define (but do not start) a domain from an XML file')
    .argument('<file>', 'file containing an XML domain description')
    .action(async (file: string) => {
      const r = await virshAction(io, undefined, `Failed to define domain from ${file}`, async () => {
        const bytes = await readFileBounded(file);
        return openBackend(program).define(bytes, { source: file });
      });
      if (io.json) printJson(io, { ...r, file });
      else printVirsh(io, `Domain '${r.name}' defined from ${file}`);
    });
}
