// After a live migration: does the test guest take the re-plugged primary back? QEMU plugs the
// primary on the destination during the load (FAILOVER_NEGOTIATED); the guest then has to see the
// hot-plug, probe e1000e, enslave it under the failover master and bring its link up (≈2 s, see
// docs/replug.md). Watching for that never throws on a timeout: a guest that stays on the standby
// is an outcome the demo and the benches report, not a crash.
import { performance } from 'node:perf_hooks';
import type { ConsoleLine, GuestConsole } from './guest-image.js';
import type { GuestEvent } from './guest-init.js';

type StateEvent = Extract<GuestEvent, { kind: 'state' }>;

export interface ReplugWatch {
  /** The guest enslaved the primary with its link up within the deadline. */
  onPrimary: boolean;
  /** Host times (the console's clock) of the first destination VFSTATE with the primary enslaved / also link up. */
  enslavedAt: number | null;
  linkUpAt: number | null;
  /** The guest's last VFSTATE when the watch ended (null: none since RESUME, e.g. no re-plug seen at all). */
  lastState: StateEvent | null;
  /** How long the watch lasted from RESUME, ms. */
  waitedMs: number;
  /**
   * The guest crashed on the destination: its kernel's first oops/panic line after RESUME (the console
   * shows them even with `quiet`), or 'rebooted' when only a new VFINIT shows it. A rebooted guest
   * enslaves its primary again at boot; that is not a take-back after the migration.
   */
  crash: { at: number; text: string } | null;
}

/**
 * Kernel lines that mean the guest is going down (printed straight to the console, untagged). A soft
 * lockup report is left out: a TCG guest on a busy host can print one and carry on.
 */
const CRASH = /(Kernel panic - not syncing: .*|kernel BUG at \S+|BUG: (?!soft lockup).*|general protection fault.*|Oops: .*)/;

const isState = (l: ConsoleLine): l is ConsoleLine & { event: StateEvent } => l.event?.kind === 'state';

/**
 * Watches the console from host time `resumeAt` (the destination's RESUME) until the guest reports the
 * primary enslaved with its link up, at most `timeoutMs` after RESUME. Resolves in every case except an
 * aborted `signal` (then it rejects with the signal's reason).
 */
export async function watchGuestReplug(
  con: GuestConsole,
  resumeAt: number,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<ReplugWatch> {
  const up = (l: ConsoleLine): boolean => l.t >= resumeAt && isState(l) && l.event.enslaved && l.event.link === 'up';
  const down = (l: ConsoleLine): boolean => l.t >= resumeAt && crashText(l) !== null;
  const left = Math.max(1, resumeAt + opts.timeoutMs - performance.now());
  let seen: ConsoleLine | undefined;
  try {
    seen = await con.waitFor((l) => up(l) || down(l), left, 0, opts.signal);
  } catch (e) {
    if (opts.signal?.aborted) throw e;
  }
  return replugOutcome(con.lines, resumeAt, seen?.t ?? performance.now(), seen !== undefined && up(seen));
}

function crashText(l: ConsoleLine): string | null {
  if (l.event?.kind === 'init') return 'rebooted';
  return CRASH.exec(l.line)?.[1]?.trim() ?? null;
}

/** The same outcome from recorded lines (for a trace, or once the watch is over). */
export function replugOutcome(lines: readonly ConsoleLine[], resumeAt: number, end: number, onPrimary: boolean): ReplugWatch {
  let enslavedAt: number | null = null;
  let linkUpAt: number | null = null;
  let lastState: StateEvent | null = null;
  let crash: ReplugWatch['crash'] = null;
  for (const l of lines) {
    if (l.t < resumeAt || l.t > end) continue;
    const c = crashText(l);
    if (c !== null && crash === null) crash = { at: l.t, text: c };
    if (crash !== null || !isState(l)) continue; // what a rebooted guest does is not a take-back
    lastState = l.event;
    if (l.event.enslaved) enslavedAt ??= l.t;
    if (l.event.enslaved && l.event.link === 'up') linkUpAt ??= l.t;
  }
  return { onPrimary: onPrimary && linkUpAt !== null && crash === null, enslavedAt, linkUpAt, lastState, waitedMs: Math.round(end - resumeAt), crash };
}

/** What the guest shows of its primary in its last state, in words. */
export function describeGuestState(s: StateEvent | null): string {
  if (!s) return 'no network state reported since the switchover';
  if (!s.primary) return `no PCI netdev (still on the standby ${s.standby ?? '?'})`;
  if (!s.enslaved) return `netdev ${s.primary} present but not enslaved by ${s.master ?? 'the failover master'}`;
  return `netdev ${s.primary} enslaved, link ${s.link ?? '?'}`;
}

/**
 * The plain statement for a migration that completed but whose guest did not take the primary back:
 * `primaryIds` are the primaries QEMU lists on the destination (query-pci).
 */
export function replugTimeoutText(w: ReplugWatch, primaryIds: readonly string[]): string {
  if (w.crash) {
    const what = w.crash.text === 'rebooted' ? 'rebooted' : `crashed (${w.crash.text})`;
    return `the migration completed, but the guest kernel ${what} on the destination after the switchover, before it took its primary back`;
  }
  const plugged = primaryIds.length
    ? `QEMU has the failover primary ${primaryIds.map((i) => `'${i}'`).join(', ')} plugged on the destination`
    : 'QEMU lists no failover primary on the destination';
  return (
    `the migration completed and ${plugged}, but the guest has not brought it up after ${(w.waitedMs / 1000).toFixed(0)} s ` +
    `(${describeGuestState(w.lastState)}); its traffic stays on the standby`
  );
}
