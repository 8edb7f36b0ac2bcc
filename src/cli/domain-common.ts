// Shared by the domain verbs (define, start, list, ...): opening the driver for the
// --state-dir in effect, and virsh's output conventions.
import { NoDomainError, isVirtFailoverError } from '../util/errors.js';
import type { CliIo } from './io.js';

/**
 * virsh ends the output of every command with an empty line (vshPrintExtra(ctl, "\n") after
 * each command); human output here does the same. JSON output does not.
 */
export function printVirsh(io: CliIo, text: string): void {
  io.out(`${text}${text.endsWith('\n') ? '' : '\n'}\n`);
}

/**
 * Runs a verb the way virsh reports failures: an unknown domain is
 * `error: failed to get domain 'REF'`, any other failure is preceded by the verb's own line
 * (`error: Failed to start domain 'vm'`), then main prints the error itself.
 */
export async function virshAction<T>(io: CliIo, ref: string | undefined, context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!io.json && isVirtFailoverError(e)) {
      if (e instanceof NoDomainError && ref !== undefined) io.err(`error: failed to get domain '${ref}'\n`);
      else io.err(`error: ${context}\n`);
    }
    throw e;
  }
}
