// SR-IOV discovery: physical functions (devices with sriov_totalvfs) and their virtual
// functions (the PF's virtfnN links; each VF links back through physfn).
import path from 'node:path';
import { InternalError } from '../util/errors.js';
import {
  type HostPciAddr,
  type SysfsOptions,
  isPciAddrString,
  listDir,
  pciDeviceDir,
  pciPaths,
  readAttr,
  readLinkBase,
  readPciDevice,
  sysfsRootOf,
} from './sysfs-pci.js';

export const VFIO_DRIVER = 'vfio-pci';

export interface SriovVf {
  /** N of the PF's virtfnN: what `ip link set dev PF vf N` takes. */
  index: number;
  address: string;
  driver?: string;
  /** The VF's own network interface (only while a host NIC driver has it). */
  netdev?: string;
  /** The MAC of that interface, from sysfs (net/IF/address). */
  netdevMac?: string;
  /** Bound to vfio-pci (ready for QEMU's vfio-pci device). */
  vfio: boolean;
  iommuGroup?: number;
}

export interface SriovPf {
  address: string;
  driver?: string;
  /** The PF's network interfaces: the first one is what `ip link set dev PF vf N` takes. */
  netdevs: string[];
  /** sriov_totalvfs: how many VFs the device can have. */
  totalVfs: number;
  /** sriov_numvfs: how many are enabled now. */
  numVfs: number;
  numaNode?: number;
  vfs: SriovVf[];
}

function readCount(file: string): number {
  const v = readAttr(file);
  const n = v === undefined ? NaN : Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 0) throw new InternalError(`cannot parse '${file}': '${v ?? ''}' is not a count`);
  return n;
}

function readVf(index: number, address: string, opts: SysfsOptions): SriovVf {
  const dev = readPciDevice(address, opts);
  const vf: SriovVf = { index, address, vfio: dev.driver === VFIO_DRIVER };
  if (dev.driver) vf.driver = dev.driver;
  if (dev.netdevs.length) {
    vf.netdev = dev.netdevs[0];
    const mac = readAttr(path.join(pciPaths(opts).device(address), 'net', vf.netdev, 'address'));
    if (mac) vf.netdevMac = mac.toLowerCase();
  }
  if (dev.iommuGroup !== undefined) vf.iommuGroup = dev.iommuGroup;
  return vf;
}

/** One PF (SystemError when absent; InternalError when it is not SR-IOV capable). */
export function readSriovPf(addr: HostPciAddr, opts: SysfsOptions = {}): SriovPf {
  const dir = pciDeviceDir(addr, opts);
  const total = path.join(dir, 'sriov_totalvfs');
  if (readAttr(total) === undefined) {
    throw new InternalError(`PCI device ${path.basename(dir)} is not an SR-IOV physical function: no ${total}`);
  }
  const dev = readPciDevice(addr, opts);
  const pf: SriovPf = {
    address: dev.address,
    netdevs: dev.netdevs,
    totalVfs: readCount(total),
    numVfs: readCount(path.join(dir, 'sriov_numvfs')),
    vfs: dev.virtfns.map((v) => readVf(v.index, v.address, opts)),
  };
  if (dev.driver) pf.driver = dev.driver;
  if (dev.numaNode !== undefined) pf.numaNode = dev.numaNode;
  return pf;
}

/** Every SR-IOV physical function, by address. Empty when the host has none (or no PCI bus). */
export function listSriov(opts: SysfsOptions = {}): SriovPf[] {
  const { devices } = pciPaths(opts);
  const pfs: SriovPf[] = [];
  for (const name of listDir(devices)) {
    if (!isPciAddrString(name)) continue;
    if (readAttr(path.join(devices, name, 'sriov_totalvfs')) === undefined) continue;
    pfs.push(readSriovPf(name, opts));
  }
  return pfs;
}

export interface VfLocation {
  /** The PF's PCI address. */
  pf: string;
  /** The PF's first network interface, when it has one. */
  pfNetdev?: string;
  /** The VF index on that PF. */
  index: number;
}

/**
 * Where a VF sits: its PF and index (the PF's virtfnN link that points at it). Undefined when
 * the device is not a VF; SystemError when it does not exist.
 */
export function findVf(addr: HostPciAddr, opts: SysfsOptions = {}): VfLocation | undefined {
  const dir = pciDeviceDir(addr, opts);
  const address = path.basename(dir);
  const pf = readLinkBase(path.join(dir, 'physfn'));
  if (!pf) return undefined;
  const pfDir = pciDeviceDir(pf, opts);
  for (const entry of listDir(pfDir)) {
    const m = /^virtfn(\d+)$/.exec(entry);
    if (!m || readLinkBase(path.join(pfDir, entry)) !== address) continue;
    const loc: VfLocation = { pf, index: Number(m[1]) };
    const netdev = listDir(path.join(pfDir, 'net'))[0];
    if (netdev) loc.pfNetdev = netdev;
    return loc;
  }
  throw new InternalError(`PCI device ${address} has physfn ${pf}, but no virtfn link of ${pfDir} points back to it`);
}

/**
 * The PCI address of the device that owns network interface `netdev` (a PF named by <pf dev=>):
 * /sys/class/net/NETDEV/device when the tree has it, else the device whose net/ lists it.
 * Undefined when no PCI device has that interface.
 */
export function findPciByNetdev(netdev: string, opts: SysfsOptions = {}): string | undefined {
  if (netdev === '' || netdev.includes('/') || netdev === '.' || netdev === '..') return undefined;
  const viaClass = readLinkBase(path.join(sysfsRootOf(opts), 'class', 'net', netdev, 'device'));
  if (viaClass && isPciAddrString(viaClass)) return viaClass;
  const { devices } = pciPaths(opts);
  for (const name of listDir(devices)) {
    if (isPciAddrString(name) && listDir(path.join(devices, name, 'net')).includes(netdev)) return name;
  }
  return undefined;
}

/**
 * Whether QEMU can be given this VF: bound to vfio-pci already, or (managed) bindable to it: the
 * vfio-pci driver is loaded and the kernel offers driver_override. Reasons are for logs.
 */
export function vfioUsable(addr: HostPciAddr, managed: boolean, opts: SysfsOptions = {}): { ok: boolean; why?: string } {
  let dev;
  try {
    dev = readPciDevice(addr, opts);
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
  if (dev.driver === VFIO_DRIVER) return { ok: true };
  if (!managed) return { ok: false, why: `PCI device ${dev.address} is not bound to ${VFIO_DRIVER} (managed='no')` };
  const { driver } = pciPaths(opts);
  if (readAttr(path.join(pciPaths(opts).device(dev.address), 'driver_override')) === undefined) {
    return { ok: false, why: `PCI device ${dev.address} has no driver_override` };
  }
  if (listDir(driver(VFIO_DRIVER)).length === 0) return { ok: false, why: `the ${VFIO_DRIVER} driver is not loaded` };
  return { ok: true };
}
