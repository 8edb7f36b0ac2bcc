// The failover state of a running guest, read from QEMU with read-only queries only (query-pci, qom-get,
// x-query-virtio-status): what `domfailover` shows before a maintenance window, on either backend.
//
// Negotiation: QEMU reports it only as the FAILOVER_NEGOTIATED event. Afterwards the standby's negotiated
// guest features (x-query-virtio-status, QEMU >= 7.1) say whether the guest acked VIRTIO_NET_F_STANDBY;
// without that command a plugged primary implies negotiation (QEMU plugs it only then), a hidden one
// leaves it unknown.
import type { MigrationMonitor } from './phases.js';
import type { FailoverPairRef } from './precheck.js';

export type NegotiationSource = 'guest-features' | 'primary-plugged' | 'unknown';

export interface PciSlot {
  /** bus:slot.function as the guest sees it, e.g. 05:00.0 */
  address: string;
  /** qdev id of the bridge or root port it sits behind ('' on the root bus). */
  parent: string;
}

export interface FailoverPairState extends FailoverPairRef {
  standbyPresent: boolean;
  /** QEMU created the primary (query-pci or QOM); otherwise it keeps it hidden (or it does not exist). */
  plugged: boolean;
  negotiated: boolean | null;
  negotiatedHow: NegotiationSource;
  mac: { standby: string | null; primary: string | null; equal: boolean | null };
  primarySlot: PciSlot | null;
  standbySlot: PciSlot | null;
}

interface PciDevice {
  qdev_id?: string;
  bus?: number;
  slot?: number;
  function?: number;
  pci_bridge?: { devices?: PciDevice[] };
}

const hex2 = (n: number | undefined): string => (n ?? 0).toString(16).padStart(2, '0');

/** Every qdev id in a query-pci reply with its address and the bridge it sits behind. */
export function pciSlots(reply: unknown): Map<string, PciSlot> {
  const out = new Map<string, PciSlot>();
  const walk = (devices: unknown, parent: string): void => {
    if (!Array.isArray(devices)) return;
    for (const d of devices as PciDevice[]) {
      const id = typeof d?.qdev_id === 'string' ? d.qdev_id : '';
      if (id) out.set(id, { address: `${hex2(d.bus)}:${hex2(d.slot)}.${(d.function ?? 0).toString(16)}`, parent });
      walk(d?.pci_bridge?.devices, id);
    }
  };
  if (Array.isArray(reply)) for (const bus of reply as { devices?: unknown }[]) walk(bus?.devices, '');
  return out;
}

type Cmd = { timeoutMs?: number; signal?: AbortSignal };

/** The device exists in QEMU (a hidden primary does not; a device behind a root port the firmware has not
 * numbered yet is missing from query-pci but exists). */
async function qomExists(mon: MigrationMonitor, id: string, cmd: Cmd): Promise<boolean> {
  const v = await mon.execute<unknown>('qom-get', { path: `/machine/peripheral/${id}`, property: 'type' }, cmd).catch(() => undefined);
  return typeof v === 'string';
}

async function qomMac(mon: MigrationMonitor, id: string, cmd: Cmd): Promise<string | null> {
  const v = await mon.execute<unknown>('qom-get', { path: `/machine/peripheral/${id}`, property: 'mac' }, cmd).catch(() => undefined);
  return typeof v === 'string' ? v.toLowerCase() : null;
}

/**
 * Whether the guest acked VIRTIO_NET_F_STANDBY on the standby, from its negotiated features; undefined
 * when QEMU cannot say (no x-query-virtio-status, or no such device).
 */
export async function standbyNegotiated(mon: MigrationMonitor, standbyId: string, cmd: Cmd = {}): Promise<boolean | undefined> {
  const st = await mon
    .execute<{ 'guest-features'?: { 'dev-features'?: unknown } }>('x-query-virtio-status', { path: `/machine/peripheral/${standbyId}/virtio-backend` }, cmd)
    .catch(() => undefined);
  const feats = st?.['guest-features']?.['dev-features'];
  if (!Array.isArray(feats)) return undefined;
  return feats.some((f) => typeof f === 'string' && f.startsWith('VIRTIO_NET_F_STANDBY'));
}

/** The standby ids whose guest features show failover negotiated; undefined when QEMU cannot tell. */
export async function negotiatedStandbys(mon: MigrationMonitor, pairs: readonly FailoverPairRef[], cmd: Cmd = {}): Promise<Set<string> | undefined> {
  const out = new Set<string>();
  for (const p of pairs) {
    const n = await standbyNegotiated(mon, p.standbyId, cmd);
    if (n === undefined) return undefined;
    if (n) out.add(p.standbyId);
  }
  return out;
}

/** Reads the state of every pair (see the file comment). */
export async function inspectFailoverPairs(mon: MigrationMonitor, pairs: readonly FailoverPairRef[], cmd: Cmd = {}): Promise<FailoverPairState[]> {
  const slots = pciSlots(await mon.execute('query-pci', undefined, cmd));
  const out: FailoverPairState[] = [];
  for (const p of pairs) {
    const plugged = slots.has(p.id) || (await qomExists(mon, p.id, cmd));
    const standbyPresent = slots.has(p.standbyId) || (await qomExists(mon, p.standbyId, cmd));
    const features = standbyPresent ? await standbyNegotiated(mon, p.standbyId, cmd) : undefined;
    let negotiated: boolean | null = null;
    let negotiatedHow: NegotiationSource = 'unknown';
    if (features !== undefined) [negotiated, negotiatedHow] = [features, 'guest-features'];
    else if (plugged && standbyPresent) [negotiated, negotiatedHow] = [true, 'primary-plugged'];
    const standbyMac = standbyPresent ? await qomMac(mon, p.standbyId, cmd) : null;
    const primaryMac = plugged ? await qomMac(mon, p.id, cmd) : null;
    out.push({
      ...p,
      standbyPresent,
      plugged,
      negotiated,
      negotiatedHow,
      mac: { standby: standbyMac, primary: primaryMac, equal: standbyMac && primaryMac ? standbyMac === primaryMac : null },
      primarySlot: slots.get(p.id) ?? null,
      standbySlot: slots.get(p.standbyId) ?? null,
    });
  }
  return out;
}
