// `virt-failover validate FILE...`: what libvirt checks at `virsh define`
// (parse + validate), without touching host resources.
import type { Command } from 'commander';
import { readDomainFile, type CliIo, printJson } from './io.js';
import { validateDomain } from '../conf/validate.js';
import { validateDomainForQemu } from '../qemu/postparse/index.js';
import { isVirtFailoverError } from '../util/errors.js';

export interface ValidateResult {
  file: string;
  ok: boolean;
  error?: { code: string; message: string };
}

export async function validateFile(file: string): Promise<ValidateResult> {
  try {
    const dom = await readDomainFile(file);
    validateDomain(dom);
    validateDomainForQemu(dom);
    return { file, ok: true };
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    return { file, ok: false, error: { code: e.code, message: e.message } };
  }
}

export function registerValidate(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('validate')
    .description('check domain XML files as libvirt does at define (parse + validate)')
    .argument('<file...>', 'domain XML files')
    .action(async (files: string[]) => {
      const results: ValidateResult[] = [];
      for (const f of files) results.push(await validateFile(f));
      if (io.json) printJson(io, results);
      else {
        for (const r of results) {
          if (r.ok) io.out(`${r.file}: ok\n`);
          else io.err(files.length > 1 ? `error: ${r.file}: ${r.error!.message}\n` : `error: ${r.error!.message}\n`);
        }
      }
      if (results.some((r) => !r.ok)) setExit(1);
    });
}
