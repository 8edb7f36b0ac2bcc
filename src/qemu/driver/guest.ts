// After a migration: has the guest taken its re-plugged failover primaries up again? QEMU cannot see a
// guest's link state, but it sees the guest's driver enable the device (its BARs get mapped, see
// guestEnabledPciIds). `migrate` polls the new QEMU's query-pci for that, so a guest that never
// picks its primary up (a lost hot-plug event, a failing probe) is reported instead of passing silently.
import { performance } from 'node:perf_hooks';
import { OperationInvalidError } from '../../util/errors.js';
import { guestEnabledPciIds, pciQdevIds } from '../migration/index.js';
import { Monitor } from '../monitor/index.js';
import type { DriverContext } from './state.js';
import { inspectDomain } from './state.js';

export interface PrimaryUptake {
  id: string;
  /** query-pci lists it. */
  plugged: boolean;
  /** ms from the start of the wait until the guest had enabled it; null: not within the deadline. */
  enabledAfterMs: number | null;
}

/** Polls query-pci every `pollMs` (100) until the guest enabled every id in `ids`, at most `timeoutMs`. */
export async function waitPrimariesEnabled(
  ctx: DriverContext,
  name: string,
  ids: readonly string[],
  opts: { timeoutMs: number; pollMs?: number; signal?: AbortSignal },
): Promise<PrimaryUptake[]> {
  const info = inspectDomain(ctx, name);
  const sock = info?.status?.monitor;
  if (!info?.active || !sock) throw new OperationInvalidError('domain is not running');
  const t0 = performance.now();
  const out = new Map<string, PrimaryUptake>(ids.map((id) => [id, { id, plugged: false, enabledAfterMs: null }]));
  if (!ids.length) return [];
  const mon = await Monitor.connect(sock, { timeoutMs: ctx.timeouts.monitorMs, retryRefused: false, signal: opts.signal });
  try {
    for (;;) {
      const reply = await mon.execute('query-pci', undefined, { timeoutMs: ctx.timeouts.monitorMs });
      const plugged = pciQdevIds(reply);
      const enabled = guestEnabledPciIds(reply);
      const now = performance.now() - t0;
      for (const u of out.values()) {
        u.plugged = plugged.has(u.id);
        if (u.enabledAfterMs === null && enabled.has(u.id)) u.enabledAfterMs = Math.round(now);
      }
      const waiting = [...out.values()].some((u) => u.enabledAfterMs === null);
      if (!waiting || now >= opts.timeoutMs || opts.signal?.aborted) break;
      await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 100, Math.max(1, opts.timeoutMs - now))));
    }
  } finally {
    await mon.close();
  }
  return [...out.values()];
}
