// Host PCI devices as sysfs shows them (/sys/bus/pci/devices/DDDD:BB:SS.F). Every path is
// under an injectable root so tests run on a fake tree. Reads are synchronous: sysfs
// attributes are small and in memory, and post-parse (hostPciIsExpress) is synchronous.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { PciAddress } from '../conf/address.js';
import { InvalidArgError, SystemError } from '../util/errors.js';

/** A host PCI address: "0000:3b:02.0" or the fields of a <source><address>. */
export type HostPciAddr = string | Pick<PciAddress, 'domain' | 'bus' | 'slot' | 'function'>;

export interface SysfsOptions {
  /** The sysfs mount point (default: $VIRT_FAILOVER_SYSFS_ROOT, else /sys). */
  sysfsRoot?: string;
}

/**
 * The sysfs root every read and write of the host layer goes under: the caller's, else
 * VIRT_FAILOVER_SYSFS_ROOT (tests and containers point it at another tree), else /sys.
 */
export function sysfsRootOf(opts: SysfsOptions = {}, env: NodeJS.ProcessEnv = process.env): string {
  return opts.sysfsRoot ?? (env.VIRT_FAILOVER_SYSFS_ROOT || '/sys');
}

export interface PciVirtfn {
  /** N of virtfnN: the VF index the PF's `ip link set ... vf N` uses. */
  index: number;
  address: string;
}

export interface PciDevice {
  address: string;
  /** "0x8086" as sysfs writes it. */
  vendor: string;
  device: string;
  /** "0x020000" (Ethernet controller). */
  class: string;
  /** Name of the bound driver (basename of the `driver` link); absent when unbound. */
  driver?: string;
  /** driver_override, absent when unset ("(null)") or unsupported. */
  driverOverride?: string;
  iommuGroup?: number;
  /** Absent when the kernel reports -1 (no NUMA affinity). */
  numaNode?: number;
  /**
   * Whether the device has a PCI Express capability (id 0x10) in its config space.
   * Undefined when the capability list cannot be read (no config, or the 64-byte header
   * an unprivileged reader gets).
   */
  isExpress?: boolean;
  /** A VF's PF (the `physfn` link). */
  physfn?: string;
  /** A PF's VFs (the `virtfnN` links), by index. */
  virtfns: PciVirtfn[];
  /** Network interfaces of this function (entries of `net/`). */
  netdevs: string[];
}

const ADDR_RE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;

/** The canonical sysfs name ("0000:3b:02.0") of an address; InvalidArgError when malformed. */
export function pciAddrString(addr: HostPciAddr): string {
  if (typeof addr === 'string') {
    const m = ADDR_RE.exec(addr.trim());
    if (!m) throw new InvalidArgError(`'${addr}' is not a PCI address (expected DDDD:BB:SS.F)`);
    return `${m[1].toLowerCase()}:${m[2].toLowerCase()}:${m[3].toLowerCase()}.${m[4]}`;
  }
  const { domain, bus, slot, function: fn } = addr;
  const ok = (v: number, max: number) => Number.isInteger(v) && v >= 0 && v <= max;
  if (!ok(domain, 0xffffffff) || !ok(bus, 0xff) || !ok(slot, 0x1f) || !ok(fn, 7)) {
    throw new InvalidArgError(`invalid PCI address ${JSON.stringify({ domain, bus, slot, function: fn })}`);
  }
  const hex = (v: number, n: number) => v.toString(16).padStart(n, '0');
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${fn}`;
}

export function isPciAddrString(s: string): boolean {
  return ADDR_RE.test(s);
}

/** Paths of the PCI bus under a sysfs root. */
export function pciPaths(opts: SysfsOptions = {}) {
  const bus = path.join(sysfsRootOf(opts), 'bus', 'pci');
  return {
    bus,
    devices: path.join(bus, 'devices'),
    drivers: path.join(bus, 'drivers'),
    driversProbe: path.join(bus, 'drivers_probe'),
    device: (addr: string) => path.join(bus, 'devices', addr),
    driver: (name: string) => path.join(bus, 'drivers', name),
  };
}

export function errnoText(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': return 'Permission denied';
    case 'EPERM': return 'Operation not permitted';
    case 'EBUSY': return 'Device or resource busy';
    case 'ENODEV': return 'No such device';
    case 'EINVAL': return 'Invalid argument';
    case 'EEXIST': return 'File exists';
    default: return (e as Error).message;
  }
}

/** A sysfs attribute, trimmed; undefined when absent. Other failures throw SystemError naming the path. */
export function readAttr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SystemError(`Failed to read '${file}': ${errnoText(e)}`, { cause: e });
  }
}

function requireAttr(file: string): string {
  const v = readAttr(file);
  if (v === undefined) throw new SystemError(`Failed to read '${file}': No such file or directory`);
  return v;
}

/** Basename of a symlink's target; undefined when there is no such link. */
export function readLinkBase(link: string): string | undefined {
  try {
    return path.basename(readlinkSync(link));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new SystemError(`Failed to read link '${link}': ${errnoText(e)}`, { cause: e });
  }
}

/** Entries of a directory; empty when it does not exist. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new SystemError(`Failed to read directory '${dir}': ${errnoText(e)}`, { cause: e });
  }
}

/** The driver a device is bound to now (basename of DEVICE/driver). */
export function readPciDriver(addr: HostPciAddr, opts: SysfsOptions = {}): string | undefined {
  return readLinkBase(path.join(pciPaths(opts).device(pciAddrString(addr)), 'driver'));
}

/** The directory of a device; SystemError when the kernel does not know it. */
export function pciDeviceDir(addr: HostPciAddr, opts: SysfsOptions = {}): string {
  const name = pciAddrString(addr);
  const dir = pciPaths(opts).device(name);
  if (!existsSync(dir)) throw new SystemError(`Device ${name} not found: could not access ${dir}`);
  return dir;
}

const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_HEADER_TYPE = 0x0e;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_CB_CAPABILITY_LIST = 0x14;
const PCI_CAP_ID_EXP = 0x10;

/**
 * Whether a config space (as read from sysfs `config`) has a PCI Express capability:
 * the standard capability list walked from the header's pointer, as libvirt's
 * virPCIDeviceFindCapabilityOffset does. Undefined when the bytes needed are not there
 * (unprivileged readers get only the first 64 bytes).
 */
export function configHasExpressCap(cfg: Uint8Array): boolean | undefined {
  // (A VF's vendor/device registers read 0xffff by design: they say nothing here.)
  if (cfg.length < 0x40) return undefined;
  if ((cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST) === 0) return false;
  const headerType = cfg[PCI_HEADER_TYPE] & 0x7f;
  let pos = cfg[headerType === 2 ? PCI_CB_CAPABILITY_LIST : PCI_CAPABILITY_LIST] & 0xfc;
  // 48 = the most capabilities that fit in 256 bytes: also ends a looped list.
  for (let ttl = 48; pos >= 0x40 && ttl > 0; ttl--) {
    if (pos + 1 >= cfg.length) return undefined;
    if (cfg[pos] === PCI_CAP_ID_EXP) return true;
    pos = cfg[pos + 1] & 0xfc;
  }
  return false;
}

/** isExpress of one device alone (undefined when unknown, never throws). */
export function readPciIsExpress(addr: HostPciAddr, opts: SysfsOptions = {}): boolean | undefined {
  try {
    const cfg = readFileSync(path.join(pciPaths(opts).device(pciAddrString(addr)), 'config'));
    return configHasExpressCap(cfg);
  } catch {
    return undefined;
  }
}

function readInt(file: string): number | undefined {
  const v = readAttr(file);
  if (v === undefined || v === '') return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isNaN(n) ? undefined : n;
}

/** Everything sysfs says about one PCI function that the host layer uses. */
export function readPciDevice(addr: HostPciAddr, opts: SysfsOptions = {}): PciDevice {
  const dir = pciDeviceDir(addr, opts);
  const address = path.basename(dir);
  const dev: PciDevice = {
    address,
    vendor: requireAttr(path.join(dir, 'vendor')),
    device: requireAttr(path.join(dir, 'device')),
    class: requireAttr(path.join(dir, 'class')),
    virtfns: [],
    netdevs: listDir(path.join(dir, 'net')),
  };
  const driver = readLinkBase(path.join(dir, 'driver'));
  if (driver) dev.driver = driver;
  const override = readAttr(path.join(dir, 'driver_override'));
  if (override && override !== '(null)') dev.driverOverride = override;
  const group = readLinkBase(path.join(dir, 'iommu_group'));
  if (group !== undefined && /^\d+$/.test(group)) dev.iommuGroup = Number(group);
  const numa = readInt(path.join(dir, 'numa_node'));
  if (numa !== undefined && numa >= 0) dev.numaNode = numa;
  const isExpress = readPciIsExpress(address, opts);
  if (isExpress !== undefined) dev.isExpress = isExpress;
  const physfn = readLinkBase(path.join(dir, 'physfn'));
  if (physfn) dev.physfn = physfn;
  for (const entry of listDir(dir)) {
    const m = /^virtfn(\d+)$/.exec(entry);
    if (!m) continue;
    const vf = readLinkBase(path.join(dir, entry));
    if (vf) dev.virtfns.push({ index: Number(m[1]), address: vf });
  }
  dev.virtfns.sort((a, b) => a.index - b.index);
  return dev;
}
