// State shared while one command line is built, and the helpers every device
// section uses: aliases, the device address properties, boot indexes.
import type { Address, PciAddress } from '../../conf/address.js';
import type { Controller } from '../../conf/controller.js';
import { isUserAlias, type DeviceInfo } from '../../conf/device-info.js';
import { type Device, deviceName, isRawDevice } from '../../conf/devices.js';
import { formatDevices } from '../../conf/device-table.js';
import type { Domain } from '../../conf/domain.js';
import type { Interface } from '../../conf/interface.js';
import { deviceInfoOf } from '../../conf/validate.js';
import { parseIntegerString } from '../../conf/props.js';
import { ConfigUnsupportedError, InternalError, OperationUnsupportedError } from '../../util/errors.js';
import { parseXml, XmlWriter, type XmlElement } from '../../util/xml.js';
import type { AliasMap } from './aliases.js';
import type { QemuCaps } from '../caps/index.js';
import type { ArgvBuilder, PropObject } from './props.js';
import { positive, tristate } from './props.js';
import type { CommandProfile } from './profile.js';
import type { ActualNet } from './network-resolve.js';
import type { UsbPort } from './usb-address.js';

export interface BuildContext {
  dom: Domain;
  caps: QemuCaps;
  profile: CommandProfile;
  argv: ArgvBuilder;
  aliases: AliasMap;
  machine: string;
  arch: string;
  /** Resolved <interface type='network'>. */
  actualNets: Map<Interface, ActualNet>;
  /** Boot indexes from <os><boot dev=...> (qemuProcessPrepareDeviceBootorder), when it has any. */
  osBootIndex?: Map<Device, number>;
  /** Next fdset index for -add-fd. */
  fdset: number;
  /** The USB port of every USB device (given in the XML or assigned at start). */
  usbPorts: Map<Device, UsbPort>;
}

export function devicesOf<T extends Device = Device>(ctx: BuildContext, name: string): T[] {
  return ctx.dom.devices.filter((d) => deviceName(d) === name) as T[];
}

export function aliasOf(ctx: BuildContext, d: Device): string {
  const a = ctx.aliases.get(d);
  if (a === undefined) throw new InternalError(`no alias was assigned to a <${deviceName(d)}> device`);
  return a;
}

/** A device as canonical XML, whether conf types it or keeps it verbatim. */
export function deviceXml(d: Device): XmlElement {
  if (isRawDevice(d)) return d.el;
  const w = new XmlWriter();
  formatDevices(w, [d]);
  const devices = parseXml(w.toString());
  const el = devices.children[0];
  if (!el) throw new InternalError(`<${deviceName(d)}> formatted to nothing`);
  return el;
}

export function xmlChild(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

export function xmlChildren(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

export function unsupported(what: string): never {
  throw new OperationUnsupportedError(`${what} is not supported by virt-failover's QEMU command line builder`);
}

/** The boot index a device gets: from <os><boot dev>, or its own <boot order>. */
export function bootIndexOf(ctx: BuildContext, d: Device, info: DeviceInfo | undefined): number | undefined {
  if (ctx.osBootIndex) return positive(ctx.osBootIndex.get(d));
  return positive(info?.boot?.order);
}

function pciControllers(ctx: BuildContext): Controller[] {
  return devicesOf<Controller>(ctx, 'controller').filter((c) => c.type === 'pci');
}

/** qemuBuildDeviceAddressPCIGetBus: the QEMU bus name of a guest PCI address. */
function pciBusName(ctx: BuildContext, addr: PciAddress): string {
  const cont = pciControllers(ctx).find((c) => c.index === addr.bus);
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const where = `${hex(addr.domain, 4)}:${hex(addr.bus, 2)}:${hex(addr.slot, 2)}.${addr.function}`;
  if (!cont) throw new InternalError(`Could not find PCI controller with index '${addr.bus}' required for device at address '${where}'`);
  const alias = aliasOf(ctx, cont);
  if (isUserAlias(alias)) {
    if (cont.model === 'pci-root') return 'pci.0';
    if (cont.model === 'pcie-root') return 'pcie.0';
  }
  return alias;
}

/** qemuBuildDeviceAddressProps for the address types a device on x86 can have (not drive). */
/** bus/port of a USB device, addr/bus of the rest: the device's address properties. */
export function deviceAddressProps(ctx: BuildContext, d: Device): PropObject {
  const usb = ctx.usbPorts.get(d);
  if (!usb) return addressProps(ctx, infoOf(d));
  const cont = devicesOf<Controller>(ctx, 'controller').find((c) => c.type === 'usb' && c.index === usb.bus && !c.info.master);
  if (!cont) throw new InternalError(`Could not find USB controller with index '${usb.bus}'`);
  return { bus: `${aliasOf(ctx, cont)}.0`, port: usb.port };
}

export function addressProps(ctx: BuildContext, info: DeviceInfo | undefined): PropObject {
  const a: Address | undefined = info?.address;
  if (!a) return {};
  switch (a.type) {
    case 'pci': {
      const p = a as PciAddress;
      return {
        bus: pciBusName(ctx, p),
        multifunction: tristate(p.multifunction),
        addr: p.function !== 0 ? `0x${p.slot.toString(16)}.0x${p.function.toString(16)}` : `0x${p.slot.toString(16)}`,
        'acpi-index': positive(info?.acpi?.index),
      };
    }
    case 'usb': {
      const attrs = new Map((a as { attrs: [string, string][] }).attrs);
      const bus = Number(attrs.get('bus') ?? '0');
      const cont = devicesOf<Controller>(ctx, 'controller').find((c) => c.type === 'usb' && c.index === bus);
      if (!cont) throw new InternalError(`Could not find USB controller with index '${bus}'`);
      return { bus: `${aliasOf(ctx, cont)}.0`, port: attrs.get('port') };
    }
    case 'isa': {
      const attrs = new Map((a as { attrs: [string, string][] }).attrs);
      const iobase = attrs.get('iobase');
      const irq = attrs.get('irq');
      const hex = (v: string | undefined) => (v === undefined ? undefined : Number(parseIntegerString(v, 16)));
      return { iobase: hex(iobase), irq: positive(hex(irq)) };
    }
    case 'virtio-serial': {
      const attrs = new Map((a as { attrs: [string, string][] }).attrs);
      const idx = Number(attrs.get('controller') ?? '0');
      const cont = devicesOf<Controller>(ctx, 'controller').find((c) => c.type === 'virtio-serial' && c.index === idx);
      if (!cont) throw new InternalError(`Could not find virtio-serial controller with index '${idx}'`);
      return { bus: `${aliasOf(ctx, cont)}.${attrs.get('bus') ?? '0'}`, nr: Number(attrs.get('port') ?? '0') };
    }
    case 'unassigned':
      return {};
    default:
      return unsupported(`device address type '${a.type}'`);
  }
}

/** qemuBuildRomProps */
export function romProps(info: DeviceInfo | undefined): PropObject {
  const rom = info?.rom;
  if (!rom || (rom.enabled === undefined && rom.bar === undefined && rom.file === undefined)) return {};
  if (info?.address?.type !== 'pci') throw new OperationUnsupportedError('ROM tuning is only supported for PCI devices');
  if (rom.enabled === 'no') return { romfile: '' };
  return { rombar: rom.bar === 'on' ? 1 : rom.bar === 'off' ? 0 : undefined, romfile: rom.file };
}

/** qemuBuildVirtioDevGetConfig's device name: base + -pci (+ -transitional / -non-transitional). */
export function virtioDriverName(ctx: BuildContext, base: string, model: string | undefined, info: DeviceInfo | undefined): string {
  const t = info?.address?.type;
  if (t !== 'pci') return unsupported(`virtio devices without a PCI address ('${t ?? 'none'}')`);
  const transitionalCaps = ctx.caps.flags.has('virtio-pci-non-transitional');
  if (model === 'virtio-transitional') return transitionalCaps ? `${base}-pci-transitional` : `${base}-pci`;
  if (model === 'virtio-non-transitional') {
    if (!transitionalCaps) throw new ConfigUnsupportedError('virtio non-transitional model not supported for this qemu');
    return `${base}-pci-non-transitional`;
  }
  return `${base}-pci`;
}

/** The virtio options every virtio device can carry (iommu_platform, ats, packed, page-per-vq). */
export function virtioOptionProps(o: { iommu?: string; ats?: string; packed?: string; page_per_vq?: string } | undefined): PropObject {
  return {
    iommu_platform: tristate(o?.iommu),
    ats: tristate(o?.ats),
    packed: tristate(o?.packed),
    'page-per-vq': tristate(o?.page_per_vq),
  };
}

export function infoOf(d: Device): DeviceInfo | undefined {
  return deviceInfoOf(d);
}
