// The guest PCI address space as libvirt keeps it while assigning addresses
// (virDomainPCIAddressSet): one entry per PCI controller index ("bus"), what
// each bus accepts, and which functions of which slots are taken. Model-free:
// callers hand in connect flags and addresses; pci-address-assign.ts maps the
// domain's devices onto it.
import type { PciControllerModel } from '../../conf/controller.js';
import { InternalError, XmlError } from '../../util/errors.js';

/** Connect flags, with libvirt's bit values (they appear in one error message). */
export const PCI_CONNECT = {
  AUTOASSIGN: 1 << 0,
  HOTPLUGGABLE: 1 << 1,
  INTEGRATED: 1 << 2,
  AGGREGATE_SLOT: 1 << 3,
  TYPE_PCI_DEVICE: 1 << 4,
  TYPE_PCIE_DEVICE: 1 << 5,
  TYPE_PCIE_ROOT_PORT: 1 << 6,
  TYPE_PCIE_SWITCH_UPSTREAM_PORT: 1 << 7,
  TYPE_PCIE_SWITCH_DOWNSTREAM_PORT: 1 << 8,
  TYPE_DMI_TO_PCI_BRIDGE: 1 << 9,
  TYPE_PCI_EXPANDER_BUS: 1 << 10,
  TYPE_PCIE_EXPANDER_BUS: 1 << 11,
  TYPE_PCI_BRIDGE: 1 << 12,
  TYPE_PCIE_TO_PCI_BRIDGE: 1 << 13,
} as const;

const C = PCI_CONNECT;
export const PCI_CONNECT_TYPES_MASK =
  C.TYPE_PCI_DEVICE | C.TYPE_PCIE_DEVICE | C.TYPE_PCIE_SWITCH_UPSTREAM_PORT | C.TYPE_PCIE_SWITCH_DOWNSTREAM_PORT |
  C.TYPE_PCIE_ROOT_PORT | C.TYPE_DMI_TO_PCI_BRIDGE | C.TYPE_PCI_EXPANDER_BUS | C.TYPE_PCIE_EXPANDER_BUS |
  C.TYPE_PCI_BRIDGE | C.TYPE_PCIE_TO_PCI_BRIDGE;
export const PCI_CONNECT_TYPES_ENDPOINT = C.TYPE_PCI_DEVICE | C.TYPE_PCIE_DEVICE;

export const PCI_SLOT_LAST = 31;
export const PCI_FUNCTION_LAST = 7;

/** A guest PCI address as the allocator sees it (no multifunction, no zpci). */
export interface PciSlotAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

export function pciAddressString(a: PciSlotAddress): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h(a.domain, 4)}:${h(a.bus, 2)}:${h(a.slot, 2)}.${a.function}`;
}

/** What a controller of each model accepts downstream (virDomainPCIAddressBusSetModel). */
function busShape(model: PciControllerModel, hotplug: boolean): { flags: number; minSlot: number; maxSlot: number } {
  const hp = hotplug ? C.HOTPLUGGABLE : 0;
  switch (model) {
    case 'pci-root':
      return { flags: C.AUTOASSIGN | C.TYPE_PCI_DEVICE | C.TYPE_PCI_BRIDGE | C.TYPE_PCI_EXPANDER_BUS | hp, minSlot: 1, maxSlot: PCI_SLOT_LAST };
    case 'pci-bridge':
      return { flags: C.AUTOASSIGN | C.TYPE_PCI_DEVICE | C.TYPE_PCI_BRIDGE | hp, minSlot: 1, maxSlot: PCI_SLOT_LAST };
    case 'pci-expander-bus':
      return { flags: C.AUTOASSIGN | C.TYPE_PCI_DEVICE | C.TYPE_PCI_BRIDGE | hp, minSlot: 0, maxSlot: PCI_SLOT_LAST };
    case 'pcie-root':
      // No hotplug and no auto-assignment of endpoints: those go behind root ports.
      return {
        flags: C.TYPE_PCIE_DEVICE | C.TYPE_PCIE_ROOT_PORT | C.TYPE_DMI_TO_PCI_BRIDGE | C.TYPE_PCIE_EXPANDER_BUS,
        minSlot: 1,
        maxSlot: PCI_SLOT_LAST,
      };
    case 'dmi-to-pci-bridge':
      return { flags: C.TYPE_PCI_DEVICE | C.TYPE_PCI_BRIDGE, minSlot: 0, maxSlot: PCI_SLOT_LAST };
    case 'pcie-to-pci-bridge':
      return { flags: C.AUTOASSIGN | C.TYPE_PCI_DEVICE | C.TYPE_PCI_BRIDGE | hp, minSlot: 1, maxSlot: PCI_SLOT_LAST };
    case 'pcie-root-port':
    case 'pcie-switch-downstream-port':
      return {
        flags: C.AUTOASSIGN | C.TYPE_PCIE_DEVICE | C.TYPE_PCIE_SWITCH_UPSTREAM_PORT | C.TYPE_PCIE_TO_PCI_BRIDGE | hp,
        minSlot: 0,
        maxSlot: 0,
      };
    case 'pcie-switch-upstream-port':
      return { flags: C.TYPE_PCIE_SWITCH_DOWNSTREAM_PORT, minSlot: 0, maxSlot: PCI_SLOT_LAST };
    case 'pcie-expander-bus':
      return { flags: C.TYPE_PCIE_ROOT_PORT | C.TYPE_DMI_TO_PCI_BRIDGE, minSlot: 0, maxSlot: PCI_SLOT_LAST };
  }
}

/** How a PCI controller of `model` plugs into its parent (virDomainPCIControllerModelToConnectType). */
export function pciControllerConnectType(model: PciControllerModel | undefined): number {
  switch (model) {
    case undefined:
    case 'pci-root':
    case 'pcie-root':
      return 0;
    case 'pci-bridge': return C.TYPE_PCI_BRIDGE;
    case 'pci-expander-bus': return C.TYPE_PCI_EXPANDER_BUS;
    case 'pcie-expander-bus': return C.TYPE_PCIE_EXPANDER_BUS;
    case 'dmi-to-pci-bridge': return C.TYPE_DMI_TO_PCI_BRIDGE;
    case 'pcie-to-pci-bridge': return C.TYPE_PCIE_TO_PCI_BRIDGE;
    case 'pcie-root-port': return C.TYPE_PCIE_ROOT_PORT | C.AGGREGATE_SLOT;
    case 'pcie-switch-upstream-port': return C.TYPE_PCIE_SWITCH_UPSTREAM_PORT;
    case 'pcie-switch-downstream-port': return C.TYPE_PCIE_SWITCH_DOWNSTREAM_PORT;
  }
}

/** The controller model that would provide a connection of this type, if one can. */
function connectTypeToModel(flags: number): PciControllerModel | undefined {
  if (flags & C.TYPE_PCIE_ROOT_PORT) return 'pcie-root-port';
  if (flags & C.TYPE_PCIE_SWITCH_UPSTREAM_PORT) return 'pcie-switch-upstream-port';
  if (flags & C.TYPE_PCIE_SWITCH_DOWNSTREAM_PORT) return 'pcie-switch-downstream-port';
  if (flags & C.TYPE_DMI_TO_PCI_BRIDGE) return 'dmi-to-pci-bridge';
  if (flags & C.TYPE_PCI_EXPANDER_BUS) return 'pci-expander-bus';
  if (flags & C.TYPE_PCIE_EXPANDER_BUS) return 'pcie-expander-bus';
  if (flags & C.TYPE_PCI_BRIDGE) return 'pci-bridge';
  return undefined;
}

const CONNECT_NAMES: [number, string][] = [
  [C.TYPE_PCI_DEVICE, 'standard PCI device'],
  [C.TYPE_PCIE_DEVICE, 'PCI Express device'],
  [C.TYPE_PCIE_ROOT_PORT, 'pcie-root-port'],
  [C.TYPE_PCIE_SWITCH_UPSTREAM_PORT, 'pcie-switch-upstream-port'],
  [C.TYPE_PCIE_SWITCH_DOWNSTREAM_PORT, 'pcie-switch-downstream-port'],
  [C.TYPE_DMI_TO_PCI_BRIDGE, 'dmi-to-pci-bridge'],
  [C.TYPE_PCIE_TO_PCI_BRIDGE, 'pcie-to-pci-bridge'],
  [C.TYPE_PCI_EXPANDER_BUS, 'pci-expander-bus'],
  [C.TYPE_PCIE_EXPANDER_BUS, 'pcie-expander-bus'],
  [C.TYPE_PCI_BRIDGE, 'pci-bridge'],
];

interface Slot {
  /** One bit per function in use. */
  functions: number;
  /** Only devices that may share a slot (root ports) are on it, so more may join. */
  aggregate: boolean;
}

export interface PciBus {
  model: PciControllerModel;
  flags: number;
  minSlot: number;
  maxSlot: number;
  slots: Slot[];
}

function newBus(model: PciControllerModel, hotplug: boolean): PciBus {
  const shape = busShape(model, hotplug);
  const slots = Array.from({ length: PCI_SLOT_LAST + 1 }, () => ({ functions: 0, aggregate: false }));
  return { model, ...shape, slots };
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

export class PciAddressSet {
  readonly buses: (PciBus | undefined)[];

  /**
   * @param nbuses number of buses (highest PCI controller index + 1)
   * @param dryRun on a dry run, buses are added when none has room (libvirt's first pass)
   * @param pcieToPciBridge the QEMU has pcie-pci-bridge (preferred over dmi-to-pci-bridge)
   */
  constructor(nbuses: number, readonly dryRun: boolean, readonly pcieToPciBridge: boolean) {
    this.buses = new Array<PciBus | undefined>(nbuses).fill(undefined);
  }

  get nbuses(): number {
    return this.buses.length;
  }

  setBusModel(index: number, model: PciControllerModel, hotplug: boolean): void {
    this.buses[index] = newBus(model, hotplug);
  }

  bus(index: number): PciBus {
    const b = this.buses[index];
    if (!b) throw new InternalError('PCI controller model was not set correctly');
    return b;
  }

  slotInUse(a: PciSlotAddress): boolean {
    return this.bus(a.bus).slots[a.slot].functions !== 0;
  }

  isBusFullyReserved(index: number): boolean {
    const b = this.bus(index);
    for (let s = b.minSlot; s <= b.maxSlot; s++) if (b.slots[s].functions === 0) return false;
    return true;
  }

  /** virDomainPCIAddressFlagsCompatible; `report` false: just answer. */
  private flagsCompatible(a: PciSlotAddress, busFlags: number, devFlags: number, report: boolean, fromConfig: boolean): boolean {
    const err = (msg: string): false => {
      if (report) throw fromConfig ? new XmlError(msg) : new InternalError(msg);
      return false;
    };
    const addrStr = pciAddressString(a);
    if (devFlags & C.INTEGRATED) {
      if (a.bus !== 0) return err(`The device at PCI address ${addrStr} needs to be an integrated device (bus=0)`);
      busFlags |= C.AUTOASSIGN;
    }
    if (fromConfig) {
      // A user-given address may put a PCI device on a PCIe port and vice versa.
      if (busFlags & PCI_CONNECT_TYPES_ENDPOINT) busFlags |= PCI_CONNECT_TYPES_ENDPOINT;
      if (devFlags & C.TYPE_PCI_BRIDGE) devFlags |= C.TYPE_PCI_DEVICE;
    } else if (devFlags & C.AUTOASSIGN && !(busFlags & C.AUTOASSIGN)) {
      return err(
        `The device at PCI address ${addrStr} was auto-assigned this address, but the PCI controller ` +
          `with index='${a.bus}' doesn't allow auto-assignment`,
      );
    }
    if (devFlags & C.HOTPLUGGABLE && !(busFlags & C.HOTPLUGGABLE)) {
      return err(
        `The device at PCI address ${addrStr} requires hotplug capability, but the PCI controller ` +
          `with index='${a.bus}' doesn't support hotplug`,
      );
    }
    if (!(devFlags & busFlags & PCI_CONNECT_TYPES_MASK)) {
      if (!report) return false;
      const name = CONNECT_NAMES.find(([bit]) => devFlags & bit)?.[1];
      if (!name) {
        return err(`The device at PCI address ${addrStr} has unrecognized connection type flags 0x${hex2(devFlags & PCI_CONNECT_TYPES_MASK)}`);
      }
      return err(
        `The device at PCI address ${addrStr} cannot be plugged into the PCI controller with index='${a.bus}'. ` +
          `It requires a controller that accepts a ${name}.`,
      );
    }
    return true;
  }

  /** virDomainPCIAddressValidate: bounds and bus type; throws on failure. */
  validate(a: PciSlotAddress, flags: number, fromConfig: boolean): void {
    const fail = (msg: string): never => {
      throw fromConfig ? new XmlError(msg) : new InternalError(msg);
    };
    const addrStr = pciAddressString(a);
    if (this.nbuses === 0) fail('No PCI buses available');
    if (a.domain !== 0) fail(`Invalid PCI address ${addrStr}. Only PCI domain 0 is available`);
    if (a.bus >= this.nbuses) fail(`Invalid PCI address ${addrStr}. Only PCI buses up to ${this.nbuses - 1} are available`);
    const bus = this.bus(a.bus);
    this.flagsCompatible(a, bus.flags, flags, true, fromConfig);
    if (bus.minSlot && a.slot < bus.minSlot) fail(`Invalid PCI address ${addrStr}. slot must be >= ${bus.minSlot}`);
    if (a.slot > bus.maxSlot) fail(`Invalid PCI address ${addrStr}. slot must be <= ${bus.maxSlot}`);
    if (a.function > PCI_FUNCTION_LAST) fail(`Invalid PCI address ${addrStr}. function must be <= ${PCI_FUNCTION_LAST}`);
  }

  /**
   * Add buses so that `a.bus` exists (dry run only): the new controllers are whatever
   * can carry a device with `flags` (virDomainPCIAddressSetGrow). May bump `a.bus`.
   */
  private grow(a: PciSlotAddress, flags: number): void {
    let add = a.bus - this.nbuses + 1;
    if (add <= 0) return;
    let model: PciControllerModel;
    let needDmiToPci = false;
    let needPcieToPci = false;
    if (flags & C.TYPE_PCI_DEVICE) {
      model = 'pci-bridge';
      // A pure PCIe topology has nowhere to plug a pci-bridge: add the PCIe-to-PCI step too.
      const hasBridgeSlot = this.buses.some((b) => b && b.flags & C.TYPE_PCI_BRIDGE);
      needDmiToPci = !hasBridgeSlot && !this.pcieToPciBridge;
      needPcieToPci = !hasBridgeSlot && this.pcieToPciBridge;
      if ((needDmiToPci || needPcieToPci) && add === 1) {
        add++;
        a.bus++;
      }
    } else if (flags & (C.TYPE_PCIE_DEVICE | C.TYPE_PCIE_SWITCH_UPSTREAM_PORT)) {
      model = 'pcie-root-port';
    } else {
      const existing = connectTypeToModel(flags);
      if (existing) {
        throw new InternalError(
          `a PCI slot is needed to connect a PCI controller model='${existing}', but none is available, ` +
            'and it cannot be automatically added',
        );
      }
      throw new InternalError(`Cannot automatically add a new PCI bus for a device with connect flags ${hex2(flags)}`);
    }
    let i = this.nbuses;
    for (let n = 0; n < add; n++) this.buses.push(undefined);
    if (needDmiToPci) this.setBusModel(i++, 'dmi-to-pci-bridge', false);
    if (needPcieToPci) {
      // This root port only takes the pcie-to-pci-bridge, so the spare root port
      // reserved for hotplug later is a separate one.
      this.setBusModel(i, 'pcie-root-port', true);
      this.bus(i).flags = C.TYPE_PCIE_TO_PCI_BRIDGE;
      i++;
      this.setBusModel(i++, 'pcie-to-pci-bridge', true);
    }
    for (; i < this.nbuses; i++) this.setBusModel(i, model, true);
  }

  /** Mark one function as used (virDomainPCIAddressReserveAddrInternal). */
  reserveAddr(a: PciSlotAddress, flags: number, fromConfig = true): void {
    if (this.dryRun) this.grow(a, flags);
    this.validate(a, flags, fromConfig);
    const slot = this.bus(a.bus).slots[a.slot];
    if (slot.functions & (1 << a.function)) {
      const msg = `Attempted double use of PCI Address ${pciAddressString(a)}`;
      throw fromConfig ? new XmlError(msg) : new InternalError(msg);
    }
    if (!slot.functions && flags & C.AGGREGATE_SLOT) slot.aggregate = true;
    slot.functions |= 1 << a.function;
  }

  /** virDomainPCIAddressFindUnusedFunctionOnBus: moves `a` to a free place on its bus. */
  private findOnBus(bus: PciBus, a: PciSlotAddress, fn: number, flags: number): boolean {
    if (!this.flagsCompatible(a, bus.flags, flags, false, false)) return false;
    while (a.slot <= bus.maxSlot) {
      const slot = bus.slots[a.slot];
      if (slot.functions === 0) return true;
      if (flags & C.AGGREGATE_SLOT && slot.aggregate) {
        if ((slot.functions & (1 << a.function)) === 0) return true;
        if (fn === -1) {
          while (a.function <= PCI_FUNCTION_LAST) {
            if ((slot.functions & (1 << a.function)) === 0) return true;
            a.function++;
          }
          a.function = 0;
        }
      }
      a.slot++;
    }
    return false;
  }

  /** First free place for a device with `flags` (virDomainPCIAddressGetNextAddr; no isolation groups). */
  nextAddr(flags: number, fn = -1): PciSlotAddress {
    if (this.nbuses === 0) throw new XmlError('No PCI buses available');
    const a: PciSlotAddress = { domain: 0, bus: 0, slot: 0, function: fn === -1 ? 0 : fn };
    for (a.bus = 0; a.bus < this.nbuses; a.bus++) {
      const bus = this.bus(a.bus);
      a.slot = bus.minSlot;
      if (this.findOnBus(bus, a, fn, flags)) return a;
    }
    if (this.dryRun) {
      this.grow(a, flags);
      a.slot = this.bus(a.bus).minSlot;
      return a;
    }
    throw new InternalError('No more available PCI slots');
  }

  /**
   * Reserve the next free place (virDomainPCIAddressReserveNextAddr). Returns the
   * address; on a dry run the caller must not store it in the device.
   */
  reserveNextAddr(flags: number, fn = -1): PciSlotAddress {
    const a = this.nextAddr(flags, fn);
    this.reserveAddr(a, flags, false);
    return a;
  }
}
