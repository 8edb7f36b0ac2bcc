// Shared by the net-* verbs: virsh's failure lines for networks and ports.
import { NoNetworkError, NoNetworkPortError, isVirtFailoverError } from '../util/errors.js';
import type { CliIo } from './io.js';

/**
 * Runs a network verb the way virsh reports failures: an unknown network is
 * `error: failed to get network 'REF'`, an unknown port `error: failed to get network port 'UUID'`,
 * any other failure is preceded by the verb's own line (`context`, when it has one); then main prints
 * the error itself.
 */
export async function netAction<T>(
  io: CliIo,
  refs: { network?: string; port?: string },
  context: string | undefined,
  fn: () => Promise<T> | T,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!io.json && isVirtFailoverError(e)) {
      if (e instanceof NoNetworkError && refs.network !== undefined) io.err(`error: failed to get network '${refs.network}'\n`);
      else if (e instanceof NoNetworkPortError && refs.port !== undefined) io.err(`error: failed to get network port '${refs.port}'\n`);
      else if (context) io.err(`error: ${context}\n`);
    }
    throw e;
  }
}
