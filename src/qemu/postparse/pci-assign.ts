// Guest PCI address assignment for the QEMU driver, as libvirt does it when a
// definition is parsed (qemuDomainAssignPCIAddresses):
//
//  1. a dry run over a copy of the address space finds how many buses are
//     needed, adding pcie-root-ports (q35) or pci-bridges (pc) when no bus has
//     room, plus one spare root port on a fresh q35 guest for hotplug;
//  2. the missing controllers are added to the domain;
//  3. the real run gives every device that wants one an address, class by
//     class in libvirt's order; addresses the user wrote are kept;
//  4. function 0 of shared slots gets multifunction='on', and PCI controllers
//     get their <model name>, chassis and port.
import type { PciAddress } from '../../conf/address.js';
import type { Chardev } from '../../conf/chardev.js';
import { type Controller, type PciControllerModel, addController, isController, newController } from '../../conf/controller.js';
import type { DeviceInfo } from '../../conf/device-info.js';
import type { Device } from '../../conf/devices.js';
import type { Disk } from '../../conf/disk.js';
import type { Domain } from '../../conf/domain.js';
import type { Hostdev } from '../../conf/hostdev.js';
import type { Input } from '../../conf/input.js';
import type { Interface } from '../../conf/interface.js';
import type { Memballoon } from '../../conf/memballoon.js';
import type { Panic } from '../../conf/panic.js';
import type { Sound } from '../../conf/sound.js';
import type { Video } from '../../conf/video.js';
import type { Watchdog } from '../../conf/watchdog.js';
import { ConfigUnsupportedError, InternalError } from '../../util/errors.js';
import { type QemuCaps, hasFlag } from '../caps/index.js';
import { isI440FX, isQ35 } from './machine-type.js';
import { PCI_CONNECT as C, PciAddressSet, type PciSlotAddress } from './pci-set.js';
import { type ConnectFlagSet, connectFlagSet, deviceConnectFlags, pciAddressPresent, pciAddressWanted } from './pci-connect.js';
import { setAllMulti, setPciControllerDefaults } from './pci-finish.js';
import { controllers, hasPciRoot, hasPcieRoot, infoDevices, ofKind, pciControllers, pciOf, sameSlotFn } from './pci-devices.js';

export interface PciAssignOptions {
  machine: string | undefined;
  caps: QemuCaps;
  /** Whether a host PCI device is PCI Express (only asked on q35, for hostdevs without an address). */
  hostPciIsExpress?: (addr: PciAddress) => boolean | undefined;
}

const USB2_MODELS = new Set(['ich9-ehci1', 'ich9-uhci1', 'ich9-uhci2', 'ich9-uhci3']);

/** One run over the address space (libvirt builds a fresh set for the dry run and for the real one). */
class Run {
  readonly set: PciAddressSet;

  constructor(
    readonly dom: Domain,
    readonly opts: PciAssignOptions,
    readonly flagsOf: Map<Device, number>,
    nbuses: number,
    dryRun: boolean,
  ) {
    this.set = new PciAddressSet(nbuses, dryRun, hasFlag(opts.caps, 'pcie-pci-bridge'));
  }

  flags(d: Device): number {
    return this.flagsOf.get(d) ?? 0;
  }

  /** qemuDomainPCIAddressSetCreate: bus models from the PCI controllers, then the addresses already in use. */
  init(): void {
    const set = this.set;
    for (const c of pciControllers(this.dom)) {
      if (c.index >= set.nbuses) {
        throw new InternalError(`Inappropriate new pci controller index ${c.index} exceeds addrs array length`);
      }
      if (c.model === undefined) throw new InternalError('PCI controller model was not set correctly');
      set.setBusModel(c.index, c.model as PciControllerModel, c.target?.hotplug !== 'off');
    }
    if (set.nbuses > 0 && !set.buses[0]) set.setBusModel(0, 'pci-root', true);
    const fallback: PciControllerModel = hasPcieRoot(this.dom) ? 'pcie-root-port' : 'pci-bridge';
    for (let i = 1; i < set.nbuses; i++) if (!set.buses[i]) set.setBusModel(i, fallback, true);
    for (const { d, info } of infoDevices(this.dom)) this.collect(d, info);
  }

  /** qemuDomainCollectPCIAddress */
  private collect(d: Device, info: DeviceInfo): void {
    if (!pciAddressPresent(info)) return;
    const addr = pciOf(info)!;
    // The PIIX3 IDE and USB functions of slot 1 are reserved with the chipset.
    if (isController(d) && addr.domain === 0 && addr.bus === 0 && addr.slot === 1) {
      const piix3 =
        (d.type === 'ide' && d.index === 0 && addr.function === 1) ||
        (d.type === 'usb' && d.index === 0 && (d.model === 'piix3-uhci' || d.model === undefined) && addr.function === 2);
      if (piix3) {
        if (this.set.nbuses > 0 && !(this.set.bus(0).flags & C.TYPE_PCI_DEVICE)) {
          throw new InternalError('Bus 0 must be PCI for integrated PIIX3 USB or IDE controllers');
        }
        return;
      }
    }
    // A device with a PCI address it should not have is tolerated as a PCI device.
    this.set.reserveAddr(addr, this.flags(d) || C.TYPE_PCI_DEVICE, true);
  }

  /** Give `info` the next free address (or only count it, on a dry run). */
  reserveNext(info: DeviceInfo, flags: number, fn = -1): PciSlotAddress {
    const a = this.set.reserveNextAddr(flags, fn);
    if (!this.set.dryRun) {
      const old = pciOf(info);
      const addr: PciAddress = { type: 'pci', domain: a.domain, bus: a.bus, slot: a.slot, function: a.function };
      if (old?.zpci) addr.zpci = old.zpci;
      info.address = addr;
    }
    return a;
  }

  private setAddress(info: DeviceInfo, a: PciSlotAddress, multifunction?: 'on'): void {
    const addr: PciAddress = { type: 'pci', domain: a.domain, bus: a.bus, slot: a.slot, function: a.function };
    if (multifunction) addr.multifunction = multifunction;
    info.address = addr;
  }

  /** The primary video sits on the first slot after the chipset's (qemuDomainValidateDevicePCISlots*). */
  private placePrimaryVideo(slot: number, flags: number): void {
    const primary = ofKind<Video>(this.dom, 'video')[0];
    if (!primary || primary.model.type === 'none' || primary.model.type === 'ramfb') return;
    if (!pciAddressWanted(primary.info)) return;
    const a: PciSlotAddress = { domain: 0, bus: 0, slot, function: 0 };
    this.set.validate(a, flags, true);
    if (this.set.slotInUse(a)) {
      this.reserveNext(primary.info, this.flags(primary));
    } else {
      this.set.reserveAddr(a, flags);
      this.setAddress(primary.info, a);
    }
  }

  /** qemuDomainValidateDevicePCISlotsPIIX3 */
  private chipsetPiix3(): void {
    const flags = C.AUTOASSIGN | C.TYPE_PCI_DEVICE;
    const ide: PciSlotAddress = { domain: 0, bus: 0, slot: 1, function: 1 };
    const usb: PciSlotAddress = { domain: 0, bus: 0, slot: 1, function: 2 };
    for (const c of controllers(this.dom)) {
      let fixed: PciSlotAddress;
      let msg: string;
      if (c.type === 'ide' && c.index === 0) {
        fixed = ide;
        msg = 'Primary IDE controller must have PCI address 0:0:1.1';
      } else if (c.type === 'usb' && c.index === 0 && (c.model === 'piix3-uhci' || c.model === undefined)) {
        fixed = usb;
        msg = 'PIIX3 USB controller at index 0 must have PCI address 0:0:1.2';
      } else {
        continue;
      }
      if (pciAddressPresent(c.info)) {
        if (!sameSlotFn(pciOf(c.info)!, fixed)) throw new InternalError(msg);
      } else {
        this.setAddress(c.info, fixed);
      }
      if (this.set.nbuses) this.set.reserveAddr(fixed, flags);
    }
    if (this.set.nbuses) {
      this.set.reserveAddr({ domain: 0, bus: 0, slot: 1, function: 0 }, flags); // ISA bridge
      this.set.reserveAddr({ domain: 0, bus: 0, slot: 1, function: 3 }, flags); // ACPI/SMBus
    }
    this.placePrimaryVideo(2, flags);
  }

  /** qemuDomainValidateDevicePCISlotsQ35 */
  private chipsetQ35(): void {
    const flags = C.TYPE_PCIE_DEVICE;
    const set = this.set;
    for (const c of controllers(this.dom)) {
      if (c.type === 'sata' && c.index === 0) {
        const sata: PciSlotAddress = { domain: 0, bus: 0, slot: 0x1f, function: 2 };
        if (pciAddressPresent(c.info)) {
          if (!sameSlotFn(pciOf(c.info)!, sata)) throw new InternalError('Primary SATA controller must have PCI address 0:0:1f.2');
        } else {
          this.setAddress(c.info, sata);
        }
      } else if (c.type === 'usb' && c.model === 'ich9-uhci1' && c.info.address === undefined) {
        // Real Q35 boards have their USB2 controllers at 1D and 1A.
        for (const slot of [0x1d, 0x1a]) {
          const a: PciSlotAddress = { domain: 0, bus: 0, slot, function: 0 };
          if (set.slotInUse(a)) continue;
          set.reserveAddr(a, flags);
          this.setAddress(c.info, a, 'on');
          break;
        }
      } else if (c.type === 'pci' && c.model === 'dmi-to-pci-bridge' && c.info.address === undefined) {
        const a: PciSlotAddress = { domain: 0, bus: 0, slot: 0x1e, function: 0 };
        if (!set.slotInUse(a)) {
          set.reserveAddr(a, flags);
          this.setAddress(c.info, a);
        }
      }
    }
    if (set.nbuses) {
      set.reserveAddr({ domain: 0, bus: 0, slot: 0x1f, function: 0 }, flags); // LPC/ISA bridge
      set.reserveAddr({ domain: 0, bus: 0, slot: 0x1f, function: 3 }, flags); // SMBus
    }
    this.placePrimaryVideo(1, flags);
    const hda: PciSlotAddress = { domain: 0, bus: 0, slot: 0x1b, function: 0 };
    if (!set.slotInUse(hda)) {
      const ich9 = ofKind<Sound>(this.dom, 'sound').find((s) => s.model === 'ich9' && pciAddressWanted(s.info));
      if (ich9) {
        set.reserveAddr(hda, flags);
        this.setAddress(ich9.info, hda);
      }
    }
  }

  chipset(): void {
    if (isI440FX(this.opts.machine)) this.chipsetPiix3();
    if (isQ35(this.opts.machine)) this.chipsetQ35();
  }

  /** qemuDomainAssignDevicePCISlots: the classes of devices in libvirt's order. */
  assignSlots(): void {
    const dom = this.dom;
    const next = (d: Device & { info: DeviceInfo }) => {
      if (pciAddressWanted(d.info)) this.reserveNext(d.info, this.flags(d));
    };
    for (const c of pciControllers(dom)) {
      if (c.model === 'pci-root' || c.model === 'pcie-root') continue;
      next(c);
    }
    for (const n of ofKind<Interface>(dom, 'interface')) {
      // type='hostdev' interfaces are placed with the hostdevs; a USB NIC takes no PCI slot.
      if (n.type === 'hostdev' || !this.flags(n)) continue;
      next(n);
    }
    for (const s of ofKind<Sound>(dom, 'sound')) {
      if (s.model === 'sb16' || s.model === 'pcspk' || s.model === 'usb') continue;
      next(s);
    }
    this.assignControllerSlots();
    for (const disk of ofKind<Disk>(dom, 'disk')) {
      if (disk.target.bus !== 'virtio') continue;
      const t = disk.info.address?.type;
      if (pciAddressPresent(disk.info) || t === 'ccw' || t === 'virtio-mmio') continue;
      if (!pciAddressWanted(disk.info)) throw new ConfigUnsupportedError(`virtio disk cannot have an address of type '${t}'`);
      next(disk);
    }
    // libvirt's hostdev list: those of <interface type='hostdev'> first (parsed with the nets), then <hostdev>s.
    const hostdevs: (Device & { info: DeviceInfo })[] = [
      ...ofKind<Interface>(dom, 'interface').filter((n) => n.type === 'hostdev' && n.hostdev),
      ...ofKind<Hostdev>(dom, 'hostdev'),
    ];
    for (const h of hostdevs) {
      const subsys = h.kind === 'interface' ? (h as Interface).hostdev! : (h as Hostdev).mode === 'subsystem' ? (h as Hostdev & { mode: 'subsystem' }).subsys : undefined;
      if (!subsys) continue;
      const mdevPci = subsys.type === 'mdev' && 'model' in subsys && subsys.model === 'vfio-pci';
      if (subsys.type !== 'pci' && subsys.type !== 'scsi_host' && !mdevPci) continue;
      next(h);
    }
    for (const m of ofKind<Memballoon>(dom, 'memballoon')) if (m.model !== 'none') next(m);
    for (const r of ofKind<Device & { info: DeviceInfo }>(dom, 'rng')) next(r);
    for (const w of ofKind<Watchdog>(dom, 'watchdog')) if (w.model === 'i6300esb') next(w);
    for (const v of ofKind<Video>(dom, 'video')) {
      if (v.model.type === 'none' || v.model.type === 'ramfb' || !this.flags(v)) continue;
      next(v);
    }
    for (const i of ofKind<Input>(dom, 'input')) if (i.bus === 'virtio') next(i);
    for (const s of ofKind<Chardev>(dom, 'serial')) if (s.target.type === 'pci-serial') next(s);
    for (const p of ofKind<Panic>(dom, 'panic')) if (p.model === 'pvpanic') next(p);
  }

  /** The non-PCI controllers, USB2 companions sharing one slot. */
  private assignControllerSlots(): void {
    const all = controllers(this.dom);
    for (const c of all) {
      if (c.type === 'pci') continue;
      if (c.type === 'usb' && c.model === 'none') continue;
      if (c.type === 'fdc' || c.type === 'ccid') continue;
      if (c.type === 'ide' && c.index === 0) continue;
      if (c.type === 'scsi' && c.model === 'ncr53c90') continue;
      if (!pciAddressWanted(c.info) || !this.flags(c)) continue;
      if (c.type === 'usb' && c.model !== undefined && USB2_MODELS.has(c.model)) {
        this.assignUsb2(c, all);
      } else {
        this.reserveNext(c.info, this.flags(c));
      }
    }
  }

  private assignUsb2(c: Controller, all: Controller[]): void {
    const master = all.find(
      (o) => o.type === 'usb' && o.model !== undefined && USB2_MODELS.has(o.model) && o.index === c.index && pciAddressPresent(o.info),
    );
    const fn = c.model === 'ich9-ehci1' ? 7 : c.model === 'ich9-uhci1' ? 0 : c.model === 'ich9-uhci2' ? 1 : 2;
    const multi = c.model === 'ich9-uhci1' ? 'on' : undefined;
    if (master) {
      const m = pciOf(master.info)!;
      const a: PciSlotAddress = { domain: m.domain, bus: m.bus, slot: m.slot, function: fn };
      this.set.reserveAddr(a, this.flags(c), true);
      this.setAddress(c.info, a, multi);
    } else {
      this.reserveNext(c.info, this.flags(c), fn);
      const addr = pciOf(c.info);
      if (addr && multi && !this.set.dryRun) addr.multifunction = multi;
    }
  }
}

/** qemuDomainAssignPCIAddresses for a parsed definition (no live address cache). */
export function assignPciAddresses(dom: Domain, opts: PciAssignOptions): void {
  const maxIdx = Math.max(-1, ...pciControllers(dom).map((c) => c.index));
  let nbuses = maxIdx + 1;
  const fs: ConnectFlagSet = {
    ...connectFlagSet(hasPcieRoot(dom), hasFlag(opts.caps, 'virtio-pci-non-transitional')),
    hostIsExpress: opts.hostPciIsExpress,
  };
  const flagsOf = new Map<Device, number>();
  for (const d of dom.devices) flagsOf.set(d, deviceConnectFlags(d, fs));

  if (nbuses > 0) {
    // First pass: how many buses do the devices need?
    const dry = new Run(dom, opts, flagsOf, nbuses, true);
    dry.init();
    dry.chipset();
    if (hasPciRoot(dom)) {
      // Keep one slot free for a future pci-bridge (so hotplug can still grow the topology).
      const full = dry.set.buses.every((_, i) => dry.set.isBusFullyReserved(i));
      if (!full) dry.reserveNext({}, C.AUTOASSIGN | C.TYPE_PCI_DEVICE);
    }
    dry.assignSlots();
    // A fresh q35 guest whose devices needed new root ports gets one spare root port for hotplug.
    if (maxIdx <= 0 && dry.set.nbuses > maxIdx + 1 && hasPcieRoot(dom)) {
      dry.reserveNext({}, C.AUTOASSIGN | C.TYPE_PCIE_DEVICE);
    }
    for (let i = 1; i < dry.set.nbuses; i++) {
      if (pciControllers(dom).some((c) => c.index === i)) continue;
      const model = dry.set.bus(i).model;
      const c = newController('pci', i, model);
      addController(dom.devices, c);
      const flags = deviceConnectFlags(c, fs);
      flagsOf.set(c, flags);
      if (model !== 'pci-root' && model !== 'pcie-root') dry.reserveNext(c.info, flags);
    }
    nbuses = dry.set.nbuses;
  }

  const run = new Run(dom, opts, flagsOf, nbuses, false);
  run.init();
  run.chipset();
  run.assignSlots();
  setAllMulti(dom);
  setPciControllerDefaults(dom, opts.caps);
}
