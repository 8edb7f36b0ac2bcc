// Which kind of PCI slot each device needs (libvirt's
// qemuDomainDeviceCalculatePCIConnectFlags), and the address predicates
// the assignment uses. Devices without a PCI connection get 0.
import type { PciAddress } from '../../conf/address.js';
import type { Chardev } from '../../conf/chardev.js';
import type { Controller, PciControllerModel } from '../../conf/controller.js';
import type { DeviceInfo } from '../../conf/device-info.js';
import { type Device, isRawDevice } from '../../conf/devices.js';
import type { Disk } from '../../conf/disk.js';
import type { Hostdev, HostdevSubsys } from '../../conf/hostdev.js';
import type { Input } from '../../conf/input.js';
import type { Interface } from '../../conf/interface.js';
import type { Memballoon } from '../../conf/memballoon.js';
import type { Panic } from '../../conf/panic.js';
import type { Rng } from '../../conf/rng.js';
import type { Sound } from '../../conf/sound.js';
import type { Video } from '../../conf/video.js';
import type { Watchdog } from '../../conf/watchdog.js';
import { PCI_CONNECT as C, pciControllerConnectType } from './pci-set.js';

/** The three flag sets every device choice is made of. */
export interface ConnectFlagSet {
  pci: number;
  /** PCIe endpoint when the machine has pcie-root, else plain PCI. */
  pcie: number;
  /** virtio devices: like pcie when QEMU has the non-transitional split, else PCI. */
  virtio: number;
  /** Is a host PCI device a PCI Express one? undefined when unknown (assumed yes, as libvirt does). */
  hostIsExpress?: (addr: PciAddress) => boolean | undefined;
}

export function connectFlagSet(hasPcieRoot: boolean, virtioPciTransitional: boolean): ConnectFlagSet {
  const pci = C.TYPE_PCI_DEVICE | C.AUTOASSIGN;
  const pcie = hasPcieRoot ? C.TYPE_PCIE_DEVICE | C.AUTOASSIGN : pci;
  return { pci, pcie, virtio: virtioPciTransitional ? pcie : pci };
}

/** virPCIDeviceAddressIsEmpty: domain, bus and slot all zero. */
function pciEmpty(a: PciAddress): boolean {
  return !(a.domain || a.bus || a.slot);
}

/** The device has a real guest PCI address (virDeviceInfoPCIAddressIsPresent). */
export function pciAddressPresent(info: DeviceInfo): boolean {
  return info.address?.type === 'pci' && !pciEmpty(info.address as PciAddress);
}

/** The device wants a PCI address assigned (no address, or an empty type='pci' one). */
export function pciAddressWanted(info: DeviceInfo): boolean {
  return info.address === undefined || (info.address.type === 'pci' && pciEmpty(info.address as PciAddress));
}

function controllerFlags(c: Controller, f: ConnectFlagSet): number {
  switch (c.type) {
    case 'pci':
      return pciControllerConnectType(c.model as PciControllerModel | undefined);
    case 'sata':
    case 'ide':
      return f.pci;
    case 'usb':
      switch (c.model) {
        case 'nec-xhci':
        case 'qemu-xhci':
          return f.pcie;
        case 'qusb1':
        case 'qusb2':
        case 'none':
          return 0;
        default:
          return f.pci; // the UHCI/EHCI/OHCI family, and no model (-usb)
      }
    case 'scsi':
      switch (c.model) {
        case undefined:
        case 'ncr53c90':
          return 0;
        case 'virtio-scsi':
        case 'virtio-non-transitional':
          return f.virtio;
        default:
          return f.pci; // transitional virtio and the emulated HBAs work in plain PCI slots only
      }
    case 'virtio-serial':
      return c.model === 'virtio-transitional' ? f.pci : f.virtio;
    default:
      return 0; // fdc, ccid, xenbus, isa
  }
}

function virtioModelFlags(model: string | undefined, f: ConnectFlagSet): number {
  return model === 'virtio-transitional' ? f.pci : f.virtio;
}

/** Connect flags of a hostdev subsystem (also the hostdev half of <interface type='hostdev'>). */
export function hostdevSubsysFlags(s: HostdevSubsys, info: DeviceInfo, f: ConnectFlagSet): number {
  if (s.type !== 'pci' && s.type !== 'scsi_host' && s.type !== 'mdev') return 0;
  if (f.pci === f.pcie) return f.pci;
  if (pciAddressPresent(info)) return f.pcie;
  if (s.type === 'mdev') return f.pcie;
  if (s.type === 'scsi_host') {
    const model = 'model' in s ? s.model : undefined;
    return model === 'virtio-transitional' ? f.pci : f.virtio;
  }
  // libvirt reads the host device's config space; when it cannot, it assumes PCIe.
  const express = s.type === 'pci' ? f.hostIsExpress?.(s.source.address) : undefined;
  return express === false ? f.pci : f.pcie;
}

/** qemuDomainDeviceCalculatePCIConnectFlags for one device of the domain. */
export function deviceConnectFlags(d: Device, f: ConnectFlagSet): number {
  if (isRawDevice(d)) return 0;
  switch (d.kind) {
    case 'controller':
      return controllerFlags(d as Controller, f);
    case 'interface': {
      const n = d as Interface;
      if (n.type === 'hostdev') return n.hostdev ? hostdevSubsysFlags(n.hostdev, n.info, f) : 0;
      const model = n.model?.type;
      if (model === 'usb-net') return 0;
      if (model === 'virtio' || model === 'virtio-non-transitional') return f.virtio;
      if (model === 'virtio-transitional') return f.pci;
      if (model === 'e1000e' || model === 'igb' || model === undefined) return f.pcie;
      return f.pci;
    }
    case 'sound': {
      const m = (d as Sound).model;
      return m === 'es1370' || m === 'ac97' || m === 'ich6' || m === 'ich9' ? f.pci : 0;
    }
    case 'disk': {
      const disk = d as Disk;
      return disk.target.bus === 'virtio' ? virtioModelFlags(disk.model, f) : 0;
    }
    case 'hostdev': {
      const h = d as Hostdev;
      return h.mode === 'subsystem' ? hostdevSubsysFlags(h.subsys, h.info, f) : 0;
    }
    case 'memballoon': {
      const m = (d as Memballoon).model;
      if (m === 'xen' || m === 'none') return 0;
      return virtioModelFlags(m, f);
    }
    case 'rng':
      return virtioModelFlags((d as Rng).model, f);
    case 'watchdog':
      return (d as Watchdog).model === 'i6300esb' ? f.pci : 0;
    case 'video':
      switch ((d as Video).model.type) {
        case 'virtio':
          return f.virtio;
        case 'bochs':
          return f.pcie;
        case 'default':
        case 'gop':
        case 'none':
        case 'ramfb':
          return 0;
        default:
          return f.pci;
      }
    case 'input': {
      const i = d as Input;
      return i.bus === 'virtio' ? virtioModelFlags(i.model, f) : 0;
    }
    case 'serial':
      return (d as Chardev).target.type === 'pci-serial' ? f.pci : 0;
    case 'panic':
      return (d as Panic).model === 'pvpanic' ? f.pci | C.INTEGRATED : 0;
    default:
      return 0;
  }
}
