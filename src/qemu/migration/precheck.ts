// Before migrating: the failover state of every pair, read from QEMU (query-status, query-pci,
// qom-get), so a migration never starts into a wait it cannot finish.
//
// - plugged: query-pci (recursing into bridges) lists the primary's qdev id. A primary is hidden
//   until the guest negotiates VIRTIO_NET_F_STANDBY, so "plugged" also implies "negotiated" when
//   the caller did not record FAILOVER_NEGOTIATED itself.
// - A negotiated pair whose primary is not plugged is misconfigured (pcie.0, not function 0, no
//   primary at all): QEMU only prints a warning on stderr. A plugged primary whose MAC differs from
//   its standby's is never enslaved by the guest (QEMU does not check it). Both are warnings, or
//   refusals with requireFailover.
// - A paused guest cannot eject the primary, so QEMU would wait in wait-unplug forever: refuse, or
//   `cont` first when asked to.
import { OperationInvalidError } from '../../util/errors.js';
import type { MigrationMonitor } from './phases.js';

export interface FailoverPairRef {
  /** qdev id of the primary (the VF / emulated NIC with failover_pair_id). */
  id: string;
  /** qdev id of the virtio-net standby (failover=on). */
  standbyId: string;
}

export interface PairCheck extends FailoverPairRef {
  standbyPresent: boolean;
  plugged: boolean;
  /** From the caller's record of FAILOVER_NEGOTIATED, else inferred from `plugged`. */
  negotiated: boolean;
  negotiatedSource: 'event' | 'inferred';
  /** MACs read with qom-get when both devices exist. */
  mac?: { primary: string; standby: string };
  /** The pair goes through unplug on the source and re-plug on the destination. */
  failover: boolean;
}

export interface PrecheckOptions {
  /** Standby ids for which FAILOVER_NEGOTIATED was seen since QEMU started. */
  negotiated?: ReadonlySet<string>;
  requireFailover?: boolean;
  /** `cont` a paused guest whose primary is plugged instead of refusing. */
  resume?: boolean;
  signal?: AbortSignal;
  /** Per QMP command (default 10 s). */
  commandTimeoutMs?: number;
}

export interface PrecheckResult {
  status: string;
  /** Whether the guest runs now (after a `cont` done for `resume`). */
  running: boolean;
  resumed: boolean;
  pairs: PairCheck[];
  warnings: string[];
}

interface PciDevice {
  qdev_id?: string;
  pci_bridge?: { devices?: PciDevice[] };
  regions?: { address?: number }[];
}

/** Every qdev id in a query-pci reply, bridges included. */
export function pciQdevIds(reply: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (devices: unknown): void => {
    if (!Array.isArray(devices)) return;
    for (const d of devices as PciDevice[]) {
      if (typeof d?.qdev_id === 'string' && d.qdev_id !== '') out.add(d.qdev_id);
      walk(d?.pci_bridge?.devices);
    }
  };
  if (Array.isArray(reply)) for (const bus of reply as { devices?: unknown }[]) walk(bus?.devices);
  return out;
}

/**
 * The qdev ids in a query-pci reply whose device the guest has enabled: QEMU maps a BAR only once the
 * guest turned on decoding in the command register, which a Linux driver does when it probes the
 * device (`enabling device (0000 -> 0002)`). Unmapped BARs read address -1.
 */
export function guestEnabledPciIds(reply: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (devices: unknown): void => {
    if (!Array.isArray(devices)) return;
    for (const d of devices as PciDevice[]) {
      const mapped = Array.isArray(d?.regions) && d.regions.some((r) => typeof r?.address === 'number' && r.address !== -1);
      if (typeof d?.qdev_id === 'string' && d.qdev_id !== '' && mapped) out.add(d.qdev_id);
      walk(d?.pci_bridge?.devices);
    }
  };
  if (Array.isArray(reply)) for (const bus of reply as { devices?: unknown }[]) walk(bus?.devices);
  return out;
}

/** States from which QEMU cannot (or must not) start an outgoing migration. */
const NOT_MIGRATABLE: Readonly<Record<string, string>> = {
  inmigrate: 'it is still waiting for an incoming migration',
  postmigrate: 'it was already migrated away (its failover primaries stay unplugged)',
  'finish-migrate': 'a migration is finishing',
  shutdown: 'the guest has shut down',
};

async function qomMac(mon: MigrationMonitor, id: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string | undefined> {
  try {
    const v = await mon.execute<unknown>('qom-get', { path: `/machine/peripheral/${id}`, property: 'mac' }, opts);
    return typeof v === 'string' ? v.toLowerCase() : undefined;
  } catch {
    return undefined; // not a peripheral with a MAC (or an old QEMU): nothing to compare
  }
}

/**
 * Reads the failover state of every pair. Throws OperationInvalidError for a guest that cannot be
 * migrated (paused with a plugged primary and no `resume`; a QEMU state that allows no migration;
 * with requireFailover, any pair that would not fail over). Returns warnings for the rest.
 */
export async function precheckFailover(
  mon: MigrationMonitor,
  primaries: readonly FailoverPairRef[],
  opts: PrecheckOptions = {},
): Promise<PrecheckResult> {
  const cmd = { timeoutMs: opts.commandTimeoutMs ?? 10_000, signal: opts.signal };
  const status = await mon.execute<{ running: boolean; status: string }>('query-status', undefined, cmd);
  const why = NOT_MIGRATABLE[status.status];
  if (why) throw new OperationInvalidError(`cannot migrate the guest: QEMU is in state '${status.status}' (${why})`);

  const ids = pciQdevIds(await mon.execute('query-pci', undefined, cmd));
  const warnings: string[] = [];
  const refusals: string[] = [];
  const complain = (text: string): void => {
    (opts.requireFailover ? refusals : warnings).push(text);
  };
  const pairs: PairCheck[] = [];
  for (const p of primaries) {
    const plugged = ids.has(p.id);
    const standbyPresent = ids.has(p.standbyId);
    const recorded = opts.negotiated?.has(p.standbyId);
    const negotiated = opts.negotiated ? recorded === true || plugged : plugged;
    const pair: PairCheck = {
      ...p,
      standbyPresent,
      plugged,
      negotiated,
      negotiatedSource: opts.negotiated ? 'event' : 'inferred',
      failover: plugged,
    };
    pairs.push(pair);
    if (!standbyPresent) {
      complain(`failover standby '${p.standbyId}' of primary '${p.id}' is not on the guest's PCI buses`);
      continue;
    }
    if (!plugged && !negotiated) {
      complain(
        `the guest has not negotiated failover on standby '${p.standbyId}' (no failover driver loaded): ` +
          `it migrates over the standby only, without unplugging primary '${p.id}', which it never had`,
      );
      continue;
    }
    if (!plugged) {
      complain(
        `failover primary '${p.id}' is not plugged although the guest negotiated failover on standby ` +
          `'${p.standbyId}': it must sit alone (function 0) on a hotpluggable PCIe root port; ` +
          `the guest migrates over the standby only`,
      );
      continue;
    }
    if (opts.negotiated && !recorded) {
      warnings.push(
        `failover primary '${p.id}' is plugged but no FAILOVER_NEGOTIATED was recorded for standby ` +
          `'${p.standbyId}' (was the primary created before its standby?)`,
      );
    }
    const [pm, sm] = await Promise.all([qomMac(mon, p.id, cmd), qomMac(mon, p.standbyId, cmd)]);
    if (pm !== undefined && sm !== undefined) {
      pair.mac = { primary: pm, standby: sm };
      if (pm !== sm) {
        complain(
          `failover primary '${p.id}' has MAC ${pm} but its standby '${p.standbyId}' has ${sm}: ` +
            `the guest does not pair them, so the primary carries no failover traffic`,
        );
      }
    }
  }
  if (refusals.length) {
    throw new OperationInvalidError(`failover is required but ${refusals.join('; ')}`);
  }

  let running = status.running;
  let resumed = false;
  const pluggedPair = pairs.find((p) => p.failover);
  if (!running && pluggedPair) {
    if (!opts.resume) {
      throw new OperationInvalidError(
        `cannot migrate a paused guest whose failover primary '${pluggedPair.id}' is plugged: ` +
          `it would wait for the unplug forever; resume it first (--resume)`,
      );
    }
    await resumeGuest(mon, cmd);
    running = true;
    resumed = true;
  }
  return { status: resumed ? 'running' : status.status, running, resumed, pairs, warnings };
}

/** `cont` runs the guest before it replies; query-status confirms it. */
async function resumeGuest(mon: MigrationMonitor, cmd: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  await mon.execute('cont', undefined, cmd);
  const st = await mon.execute<{ running: boolean; status: string }>('query-status', undefined, cmd);
  if (!st.running) throw new OperationInvalidError(`the guest did not resume after 'cont' (QEMU state '${st.status}')`);
}
