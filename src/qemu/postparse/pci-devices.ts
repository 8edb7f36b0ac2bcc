// Small views of a domain's devices shared by the PCI address code.
import type { PciAddress } from '../../conf/address.js';
import { type Controller, isController } from '../../conf/controller.js';
import type { DeviceInfo } from '../../conf/device-info.js';
import { type Device, isRawDevice } from '../../conf/devices.js';
import type { Domain } from '../../conf/domain.js';
import type { PciSlotAddress } from './pci-set.js';

export function controllers(dom: Domain): Controller[] {
  return dom.devices.filter(isController);
}

export function pciControllers(dom: Domain): Controller[] {
  return controllers(dom).filter((c) => c.type === 'pci');
}

export function ofKind<T>(dom: Domain, kind: string): T[] {
  return dom.devices.filter((d) => d.kind === kind) as T[];
}

export function hasPciRoot(dom: Domain): boolean {
  return pciControllers(dom).some((c) => c.index === 0 && c.model === 'pci-root');
}

export function hasPcieRoot(dom: Domain): boolean {
  return pciControllers(dom).some((c) => c.index === 0 && c.model === 'pcie-root');
}

/** A device's guest PCI address, when it has a typed one. */
export function pciOf(info: DeviceInfo): PciAddress | undefined {
  return info.address?.type === 'pci' ? (info.address as PciAddress) : undefined;
}

export function sameSlotFn(a: PciSlotAddress, b: PciSlotAddress): boolean {
  return a.domain === b.domain && a.bus === b.bus && a.slot === b.slot && a.function === b.function;
}

/** Devices that carry a DeviceInfo, in the order libvirt iterates them (virDomainDeviceInfoIterate). */
export const ITERATE_ORDER = [
  'disk', 'interface', 'sound', 'hostdev', 'video', 'controller', 'smartcard', 'serial', 'parallel', 'channel',
  'console', 'input', 'filesystem', 'watchdog', 'memballoon', 'rng', 'nvram', 'hub', 'shmem', 'tpm', 'panic',
  'memory', 'redirdev', 'iommu', 'vsock', 'crypto',
];

export function infoDevices(dom: Domain): { d: Device; info: DeviceInfo }[] {
  const out: { d: Device; info: DeviceInfo }[] = [];
  for (const kind of ITERATE_ORDER) {
    for (const d of dom.devices) {
      if (d.kind !== kind || isRawDevice(d)) continue;
      const info = (d as { info?: DeviceInfo }).info;
      if (info) out.push({ d, info });
    }
  }
  return out;
}
