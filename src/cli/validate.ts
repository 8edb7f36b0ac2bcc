// `virt-failover validate FILE...`: what libvirt checks at `virsh define` — post-parse
// (defaults, addresses) and then the validators, exactly what format --post-parse runs,
// without touching host resources other than the QEMU capabilities.
import type { Command } from 'commander';
import { readDomainFile, type CliIo, printJson } from './io.js';
import { isVirtFailoverError } from '../util/errors.js';
import { addQemuOptions, defineWithOptions, type QemuCliOptions } from './qemu-options.js';

export interface ValidateResult {
  file: string;
  ok: boolean;
  error?: { code: string; message: string };
}

export async function validateFile(file: string, opts: QemuCliOptions = {}, note?: (text: string) => void): Promise<ValidateResult> {
  try {
    await defineWithOptions(await readDomainFile(file), opts, note);
    return { file, ok: true };
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    return { file, ok: false, error: { code: e.code, message: e.message } };
  }
}

export function registerValidate(program: Command, io: CliIo, setExit: (code: number) => void): void {
  addQemuOptions(
    program
      .command('validate')
      .description('check domain XML files as libvirt does at define (parse, post-parse, validate)')
      .argument('<file...>', 'domain XML files'),
  ).action(async (files: string[], opts: QemuCliOptions) => {
    const results: ValidateResult[] = [];
    for (const f of files) results.push(await validateFile(f, opts, io.err));
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
