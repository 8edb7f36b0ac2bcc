// PCI host devices around a QEMU's life, as libvirt's hostdev manager does it (virHostdevPreparePCIDevices
// / virHostdevReAttachPCIDevices), for plain <hostdev type='pci'> and <interface type='hostdev'>:
//
//   prepare (before QEMU runs), all or nothing:
//     1. checks, nothing changed yet: the device exists; no other domain of ours holds it (or a device
//        of its IOMMU group); managed='no' devices are on vfio-pci already; an <interface type='hostdev'>
//        is an SR-IOV VF whose PF has a network interface
//     2. the VF's current settings are saved: its admin MAC and VLAN as the PF reports them, and the MAC
//        of its own host interface when a host driver has one
//     3. managed='yes': bound to vfio-pci (the driver it had is remembered)
//     4. <interface type='hostdev'>: the VF's MAC (<mac>) and VLAN (<vlan><tag>, else 0) set through the
//        PF (libvirt sets them once the VF is off its host driver, so it comes up with them in the guest)
//   release (after QEMU is gone), in reverse, best effort: the saved MAC/VLAN put back (a VF that had a
//   host interface gets that interface's old MAC as its admin MAC, so the host driver brings it back
//   with it), then managed devices given back to their driver.
//
// What was changed is handed to `persist` after every step: the driver keeps it in the domain's status
// record, so whichever process stops the domain later (or notices it crashed) can undo it. A domain
// without PCI hostdevs touches nothing here: no sysfs, no lock, no ip(8).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Domain } from '../../conf/domain.js';
import { type Hostdev, isPciHostdev } from '../../conf/hostdev.js';
import type { Interface } from '../../conf/interface.js';
import {
  type CommandRunner,
  type SysfsWriter,
  type VfConfigOptions,
  type VfioOptions,
  VFIO_DRIVER,
  bindVfio,
  findVf,
  pciAddrString,
  pciPaths,
  readPciDevice,
  readVfInfo,
  setVfConfig,
  unbindVfio,
} from '../../host/index.js';
import { ConfigUnsupportedError, OperationInvalidError, OperationFailedError } from '../../util/errors.js';
import { acquireLock } from './lock.js';

/** Where and how the host is reached; tests point it at a fake sysfs tree and a fake ip(8). */
export interface HostdevHostOptions {
  /** The sysfs mount point (default /sys). */
  sysfsRoot?: string;
  /** Runs ip(8) (default: execFile). */
  ipRunner?: CommandRunner;
  ipBinary?: string;
  /** Writes a sysfs attribute (default: the file itself; the kernel acts on it). */
  write?: SysfsWriter;
  /** How long a driver link may take to move, per bind/unbind (default 10 s). */
  timeoutMs?: number;
  /** How often the link is re-read meanwhile (default 10 ms). */
  pollIntervalMs?: number;
}

/** One PCI host device a domain asks for. */
export interface WantedHostdev {
  /** Canonical host address, "0000:3b:02.1". */
  address: string;
  managed: boolean;
  /** <interface type='hostdev'>: what the VF gets through its PF. */
  net?: { mac?: string; vlan: number };
}

/** A VF's settings as the PF had them before (what release puts back). */
export interface SavedVfConfig {
  /** The PF's interface (`ip link set dev PF vf N`) and the VF index. */
  pfNetdev: string;
  vf: number;
  /** The admin MAC the PF reported (00:00:00:00:00:00: none). */
  adminMac?: string;
  vlan: number;
  /** The MAC of the VF's own host interface, when a host driver had one. */
  netdevMac?: string;
}

/** What prepare did to one device, as kept in the domain's status record. */
export interface PreparedHostdev {
  address: string;
  managed: boolean;
  iommuGroup?: number;
  /** Moved to vfio-pci by us: unbindVfio gives it back (to `originalDriver` when it had one). */
  boundVfio?: boolean;
  originalDriver?: string;
  /** MAC/VLAN set (or being set) through the PF; the settings to put back. */
  vfConfig?: SavedVfConfig;
}

/** The devices another domain of ours holds. */
export interface HostdevClaim {
  domain: string;
  hostdevs: PreparedHostdev[];
}

export interface PrepareOptions {
  /** The domain being started (for messages). */
  domain: string;
  /** Lock file that serialises check-and-claim between processes (and calls). */
  lockFile: string;
  /** How long to wait for another start that holds that lock (default 60 s). */
  lockWaitMs?: number;
  /** The devices other domains hold now (read under the lock). */
  claims(): Promise<HostdevClaim[]>;
  /** Called with everything claimed/changed so far, after each change (and with [] after a rollback). */
  persist(done: PreparedHostdev[]): void;
  /** Release problems during a rollback (prepare throws the first error, not these). */
  log?: (line: string) => void;
}

const ZERO_MAC = '00:00:00:00:00:00';
/** libvirt's retry for drivers that refuse an all-zero admin MAC: only the locally administered bit. */
const ALT_ZERO_MAC = '02:00:00:00:00:00';

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function vfioOptions(host: HostdevHostOptions): VfioOptions {
  const o: VfioOptions = {};
  if (host.sysfsRoot !== undefined) o.sysfsRoot = host.sysfsRoot;
  if (host.write) o.write = host.write;
  if (host.timeoutMs !== undefined) o.timeoutMs = host.timeoutMs;
  if (host.pollIntervalMs !== undefined) o.pollIntervalMs = host.pollIntervalMs;
  return o;
}

function ipOptions(host: HostdevHostOptions): VfConfigOptions {
  const o: VfConfigOptions = {};
  if (host.ipRunner) o.runner = host.ipRunner;
  if (host.ipBinary) o.ipBinary = host.ipBinary;
  return o;
}

/** virNetDevSetNetConfig's VLAN rule: one tag, no trunk; none at all clears it (0). */
function vlanOf(net: Interface): number {
  const v = net.vlan;
  if (!v || v.tag.length === 0) return 0;
  if (v.tag.length !== 1 || v.trunk) throw new ConfigUnsupportedError('vlan trunking is not supported by SR-IOV network devices');
  return v.tag[0]!.id;
}

function netConfigOf(net: Interface): { mac?: string; vlan: number } {
  const vp = net.virtualport;
  if (vp) {
    if (net.vlan) {
      throw new ConfigUnsupportedError(`direct setting of the vlan tag is not allowed for hostdev devices using ${vp.type ?? 'none'} mode`);
    }
    // 802.1Qbh port profiles (libvirt associates them through lldpad) are not done here.
    throw new ConfigUnsupportedError(`virtualport type ${vp.type ?? 'none'} is currently not supported on interfaces of type hostdev`);
  }
  const cfg: { mac?: string; vlan: number } = { vlan: vlanOf(net) };
  if (net.mac?.address) cfg.mac = net.mac.address.toLowerCase();
  return cfg;
}

/**
 * The PCI host devices of a domain, in libvirt's order (hostdev interfaces first, as its def->hostdevs
 * has them), each once. Reads nothing from the host.
 */
export function wantedHostdevs(dom: Domain): WantedHostdev[] {
  const out: WantedHostdev[] = [];
  const seen = new Set<string>();
  const add = (w: WantedHostdev): void => {
    if (seen.has(w.address)) return;
    seen.add(w.address);
    out.push(w);
  };
  for (const d of dom.devices) {
    if (d.kind !== 'interface') continue;
    const net = d as Interface;
    if (net.type !== 'hostdev' || net.hostdev?.type !== 'pci') continue;
    add({ address: pciAddrString(net.hostdev.source.address), managed: net.hostdev.managed === 'yes', net: netConfigOf(net) });
  }
  for (const d of dom.devices) {
    if (d.kind !== 'hostdev') continue;
    const h = d as Hostdev;
    if (!isPciHostdev(h)) continue;
    add({ address: pciAddrString(h.subsys.source.address), managed: h.subsys.managed === 'yes' });
  }
  return out;
}

/** The host addresses of a domain's PCI hostdevs (plain and hostdev interfaces), in libvirt's order. */
export function pciHostdevAddresses(dom: Domain): string[] {
  const out: string[] = [];
  for (const d of dom.devices) {
    const net = d as Interface;
    if (d.kind === 'interface' && net.type === 'hostdev' && net.hostdev?.type === 'pci') out.push(pciAddrString(net.hostdev.source.address));
  }
  for (const d of dom.devices) {
    const h = d as Hostdev;
    if (d.kind === 'hostdev' && isPciHostdev(h)) out.push(pciAddrString(h.subsys.source.address));
  }
  return out;
}

/** The devices a status record says prepare changed (none when it has no valid list). */
export function recordedHostdevs(status: object | undefined): PreparedHostdev[] {
  const list = (status as { hostdevs?: unknown } | undefined)?.hostdevs;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (h): h is PreparedHostdev =>
      !!h && typeof h === 'object' && typeof (h as PreparedHostdev).address === 'string' && typeof (h as PreparedHostdev).managed === 'boolean',
  );
}

/** `status` without its hostdev list (for the record written once they are released). */
export function withoutHostdevs<T extends object>(status: T): T {
  const copy = { ...status } as T & { hostdevs?: unknown };
  delete copy.hostdevs;
  return copy;
}

function readNetdevMac(host: HostdevHostOptions, address: string, netdev: string): string | undefined {
  const file = path.join(pciPaths(host).device(address), 'net', netdev, 'address');
  try {
    const mac = readFileSync(file, 'utf8').trim().toLowerCase();
    return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) ? mac : undefined;
  } catch {
    return undefined;
  }
}

interface Plan {
  want: WantedHostdev;
  /** The device's own host interfaces now. */
  netdevs: string[];
  iommuGroup?: number;
  driver?: string;
  vf?: { pfNetdev: string; index: number; netdevMac?: string };
}

/** Step 1: everything checked before anything changes, in libvirt's order (all devices each time). */
function check(host: HostdevHostOptions, wanted: WantedHostdev[], claims: HostdevClaim[]): Plan[] {
  const plans: Plan[] = [];
  // Exists (SystemError naming the path when not), and nobody else has it or a device of its IOMMU group.
  for (const want of wanted) {
    const dev = readPciDevice(want.address, host);
    for (const c of claims) {
      const held = c.hostdevs.find(
        (h) => h.address === dev.address || (dev.iommuGroup !== undefined && h.iommuGroup === dev.iommuGroup),
      );
      if (held) throw new OperationInvalidError(`PCI device ${held.address} is in use by driver QEMU, domain ${c.domain}`);
    }
    const plan: Plan = { want, netdevs: dev.netdevs };
    if (dev.iommuGroup !== undefined) plan.iommuGroup = dev.iommuGroup;
    if (dev.driver) plan.driver = dev.driver;
    plans.push(plan);
  }
  // A hostdev interface must be a VF whose PF has a network interface to set it through.
  for (const plan of plans) {
    if (!plan.want.net) continue;
    const address = plan.want.address;
    const loc = findVf(address, host);
    if (!loc) throw new ConfigUnsupportedError('Interface type hostdev is currently supported on SR-IOV Virtual Functions only');
    if (!loc.pfNetdev) {
      throw new OperationFailedError(
        `cannot set the MAC/VLAN of VF ${address}: its PF ${loc.pf} has no network interface (is it bound to its network driver?)`,
      );
    }
    plan.vf = { pfNetdev: loc.pfNetdev, index: loc.index };
    const mac = plan.netdevs[0] ? readNetdevMac(host, address, plan.netdevs[0]) : undefined;
    if (mac) plan.vf.netdevMac = mac;
  }
  // managed='no': the user has put it on vfio-pci already.
  for (const plan of plans) {
    if (!plan.want.managed && plan.driver !== VFIO_DRIVER) {
      throw new OperationInvalidError(`Unmanaged PCI device ${plan.want.address} must be manually detached from the host`);
    }
  }
  return plans;
}

/** Step 2: the VFs' settings as their PFs report them now (one `ip link show` per PF). */
async function saveVfConfigs(host: HostdevHostOptions, plans: Plan[]): Promise<Map<Plan, SavedVfConfig>> {
  const byPf = new Map<string, Awaited<ReturnType<typeof readVfInfo>>>();
  const saved = new Map<Plan, SavedVfConfig>();
  for (const p of plans) {
    if (!p.vf) continue;
    let infos = byPf.get(p.vf.pfNetdev);
    if (!infos) {
      infos = await readVfInfo(p.vf.pfNetdev, ipOptions(host));
      byPf.set(p.vf.pfNetdev, infos);
    }
    const info = infos.find((i) => i.vf === p.vf!.index);
    if (!info) throw new OperationFailedError(`PF '${p.vf.pfNetdev}' reports no VF ${p.vf.index} (PCI device ${p.want.address})`);
    const s: SavedVfConfig = { pfNetdev: p.vf.pfNetdev, vf: p.vf.index, vlan: info.vlan ?? 0 };
    if (info.mac) s.adminMac = info.mac;
    if (p.vf.netdevMac) s.netdevMac = p.vf.netdevMac;
    saved.set(p, s);
  }
  return saved;
}

/**
 * Prepares a domain's PCI host devices (see the file comment). All or nothing: on failure what was
 * done is undone, persist([]) is called, and the first error is thrown. Returns what was changed.
 */
export async function prepareHostdevs(host: HostdevHostOptions, wanted: WantedHostdev[], opts: PrepareOptions): Promise<PreparedHostdev[]> {
  if (wanted.length === 0) return [];
  const lock = await acquireLock(opts.lockFile, {
    op: `hostdev ${opts.domain}`,
    waitMs: opts.lockWaitMs ?? 60_000,
    busyError: (o) =>
      new OperationInvalidError(`host PCI devices are being prepared by another virt-failover process${o ? ` (pid ${o.pid})` : ''}`),
  });
  const done: PreparedHostdev[] = [];
  try {
    const plans = check(host, wanted, await opts.claims());
    const saved = await saveVfConfigs(host, plans);
    // Every device is claimed (recorded) before the first change, so a concurrent start sees it.
    const records = plans.map((p) => {
      const r: PreparedHostdev = { address: p.want.address, managed: p.want.managed };
      if (p.iommuGroup !== undefined) r.iommuGroup = p.iommuGroup;
      done.push(r);
      return r;
    });
    opts.persist(done);
    // Step 3: managed devices to vfio-pci.
    for (const [i, p] of plans.entries()) {
      if (!p.want.managed) continue;
      const r = await bindVfio(p.want.address, vfioOptions(host));
      if (!r.changed) continue;
      records[i]!.boundVfio = true;
      if (r.previousDriver) records[i]!.originalDriver = r.previousDriver;
      opts.persist(done);
    }
    // Step 4: MAC/VLAN of the VFs, through their PFs (recorded first: a half-done set is undone too).
    for (const [i, p] of plans.entries()) {
      const s = saved.get(p);
      if (!s || !p.want.net) continue;
      records[i]!.vfConfig = s;
      opts.persist(done);
      const cfg: { mac?: string; vlan: number } = { vlan: p.want.net.vlan };
      if (p.want.net.mac) cfg.mac = p.want.net.mac;
      await setVfConfig(s.pfNetdev, s.vf, cfg, ipOptions(host));
    }
    return done;
  } catch (e) {
    const problems = await releaseHostdevs(host, done);
    for (const line of problems) opts.log?.(line);
    if (done.length) opts.persist([]);
    throw e;
  } finally {
    lock.release();
  }
}

async function restoreVfConfig(host: HostdevHostOptions, s: SavedVfConfig): Promise<void> {
  // A VF that had a host interface gets that interface's MAC back as its admin MAC: the host driver
  // brings the interface up with it when the VF is given back (libvirt does the same).
  const mac = s.netdevMac ?? s.adminMac;
  try {
    await setVfConfig(s.pfNetdev, s.vf, mac === undefined ? { vlan: s.vlan } : { mac, vlan: s.vlan }, ipOptions(host));
  } catch (e) {
    if (mac !== ZERO_MAC) throw e;
    // Some drivers refuse an all-zero admin MAC.
    await setVfConfig(s.pfNetdev, s.vf, { mac: ALT_ZERO_MAC, vlan: s.vlan }, ipOptions(host));
  }
}

/**
 * Undoes prepare for `devices` (after QEMU is gone): MAC/VLAN put back, then managed devices given back
 * to their drivers, in reverse order. Never throws: returns one line per step that failed (the
 * device stays as it is), for the domain's log.
 */
export async function releaseHostdevs(host: HostdevHostOptions, devices: readonly PreparedHostdev[]): Promise<string[]> {
  const problems: string[] = [];
  const reversed = [...devices].reverse();
  for (const d of reversed) {
    if (!d.vfConfig) continue;
    try {
      await restoreVfConfig(host, d.vfConfig);
    } catch (e) {
      problems.push(`cannot restore the MAC/VLAN of PCI device ${d.address} (VF ${d.vfConfig.vf} of ${d.vfConfig.pfNetdev}): ${errText(e)}`);
    }
  }
  for (const d of reversed) {
    if (!d.boundVfio) continue;
    try {
      await unbindVfio(d.address, d.originalDriver, vfioOptions(host));
    } catch (e) {
      problems.push(`cannot give PCI device ${d.address} back to ${d.originalDriver ?? 'the host'}: ${errText(e)}`);
    }
  }
  return problems;
}
