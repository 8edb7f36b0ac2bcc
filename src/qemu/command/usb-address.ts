// USB ports for the devices that have none (qemuDomainAssignUSBAddresses at process start:
// libvirt does not persist them). Addresses the user wrote are reserved first; when the
// free ports do not suffice, usb-hubs are added (qemuDomainUSBAddressAddHubs); then hubs
// and the other USB devices take the first free port, depth first through the hubs.
import type { Controller } from '../../conf/controller.js';
import type { Device, RawDevice } from '../../conf/devices.js';
import { isRawDevice } from '../../conf/devices.js';
import type { Domain } from '../../conf/domain.js';
import { deviceInfoOf } from '../../conf/validate.js';
import { InternalError, XmlError } from '../../util/errors.js';
import type { XmlElement } from '../../util/xml.js';

export interface UsbPort {
  bus: number;
  /** e.g. '1' or '1.2.3' */
  port: string;
}

/** Ports of the root hub by controller model (virDomainUSBAddressControllerModelToPorts). */
const ROOT_PORTS: Record<string, number> = {
  'piix3-uhci': 2, 'piix4-uhci': 2, 'vt82c686b-uhci': 2, 'ich9-uhci1': 2, 'ich9-uhci2': 2, 'ich9-uhci3': 2,
  ehci: 6, 'ich9-ehci1': 6, 'pci-ohci': 3, 'nec-xhci': 4, 'qemu-xhci': 4,
};
const HUB_PORTS = 8;

interface Hub {
  used: boolean[];
  hubs: (Hub | undefined)[];
}

const newHub = (ports: number): Hub => ({ used: new Array<boolean>(ports).fill(false), hubs: new Array<Hub | undefined>(ports) });

function elementOf(d: Device): XmlElement | undefined {
  return isRawDevice(d) ? d.el : undefined;
}

function attrOf(d: Device, name: string): string | undefined {
  const el = elementOf(d);
  if (el) return el.attrs.get(name);
  return (d as unknown as Record<string, unknown>)[name] as string | undefined;
}

/** The USB address a device was given, if any (`port` undefined: libvirt picks one on that bus). */
function givenAddress(d: Device): { bus: number; port?: string } | undefined {
  const el = elementOf(d);
  let attrs: Map<string, string> | undefined;
  if (el) {
    const a = el.children.find((c) => c.name === 'address');
    if (a?.attrs.get('type') === 'usb') attrs = a.attrs;
  } else {
    const a = deviceInfoOf(d)?.address as { type: string; attrs?: [string, string][] } | undefined;
    if (a?.type === 'usb') attrs = new Map(a.attrs ?? []);
  }
  if (!attrs) return undefined;
  const port = attrs.get('port');
  const bus = Number(attrs.get('bus') ?? '0');
  return port === undefined || port === '' ? { bus } : { bus, port };
}

/** The devices libvirt puts on USB, in virDomainUSBDeviceDefForeach's order (hubs first). */
export function usbDevices(devices: readonly Device[]): Device[] {
  const kind = (d: Device) => (isRawDevice(d) ? d.el.name : d.kind);
  const of = (name: string, pred: (d: Device) => boolean) => devices.filter((d) => kind(d) === name && pred(d));
  return [
    ...of('hub', (d) => attrOf(d, 'type') === 'usb'),
    ...of('hostdev', (d) => attrOf(d, 'type') === 'usb' || (d as { subsysType?: string }).subsysType === 'usb'),
    ...of('disk', (d) => (d as { target?: { bus?: string } }).target?.bus === 'usb'),
    ...of('interface', (d) => (d as { model?: { type?: string } }).model?.type === 'usb-net'),
    ...of('controller', (d) => (d as Controller).type === 'ccid'),
    ...of('input', (d) => attrOf(d, 'bus') === 'usb'),
    ...of('serial', (d) => (d as { target?: { type?: string } }).target?.type === 'usb-serial'),
    ...of('sound', (d) => attrOf(d, 'model') === 'usb'),
    ...of('redirdev', (d) => attrOf(d, 'bus') === 'usb'),
  ];
}

class UsbPortSet {
  private readonly buses = new Map<number, Hub>();

  constructor(controllers: readonly Controller[]) {
    for (const c of controllers) {
      if (c.type !== 'usb' || c.info.master || this.buses.has(c.index)) continue;
      const ports = c.ports ?? ROOT_PORTS[c.model ?? ''] ?? 0;
      if (ports > 0) this.buses.set(c.index, newHub(ports));
    }
  }

  hasBus(bus: number): boolean {
    return this.buses.has(bus);
  }

  private find(a: UsbPort): { hub: Hub; index: number } {
    let hub: Hub | undefined = this.buses.get(a.bus);
    if (!hub) throw new XmlError(`USB bus ${a.bus} requested but no controller with that index is present`);
    const path = a.port.split('.').map(Number);
    for (let i = 0; i < path.length; i++) {
      const p = path[i]!;
      if (!Number.isInteger(p) || p < 1 || p > hub.used.length) throw new XmlError(`requested USB port ${a.port} not present on USB bus ${a.bus}`);
      if (i === path.length - 1) return { hub, index: p - 1 };
      const next: Hub | undefined = hub.hubs[p - 1];
      if (!next) throw new XmlError(`there is no hub at port ${p} in USB address bus: ${a.bus} port: ${a.port}`);
      hub = next;
    }
    throw new InternalError('empty USB port path');
  }

  reserve(a: UsbPort, isHub: boolean): void {
    const { hub, index } = this.find(a);
    if (hub.used[index]) throw new XmlError(`Duplicate USB address bus ${a.bus} port ${a.port}`);
    hub.used[index] = true;
    if (isHub) hub.hubs[index] = newHub(HUB_PORTS);
  }

  /** The first free port: this level first, then inside its hubs, in port order. */
  private static free(hub: Hub, prefix: string): string | undefined {
    const i = hub.used.indexOf(false);
    if (i >= 0) return `${prefix}${i + 1}`;
    for (let p = 0; p < hub.hubs.length; p++) {
      const child = hub.hubs[p];
      const found = child && UsbPortSet.free(child, `${prefix}${p + 1}.`);
      if (found) return found;
    }
    return undefined;
  }

  assign(isHub: boolean, onBus?: number): UsbPort | undefined {
    for (const [bus, hub] of this.buses) {
      if (onBus !== undefined && bus !== onBus) continue;
      const port = UsbPortSet.free(hub, '');
      if (!port) continue;
      const a = { bus, port };
      this.reserve(a, isHub);
      return a;
    }
    return undefined;
  }

  /** The ports of the root hubs (virDomainUSBAddressCountAllPorts counts hubs' ports apart). */
  rootPorts(): number {
    return [...this.buses.values()].reduce((n, h) => n + h.used.length, 0);
  }

  get empty(): boolean {
    return this.buses.size === 0;
  }
}

const newUsbHub = (): RawDevice => ({ kind: 'raw', el: { name: 'hub', attrs: new Map([['type', 'usb']]), children: [], text: '', line: 0, column: 0 } });

/**
 * The domain with the usb-hubs libvirt adds when ports run out, and the port of every USB
 * device (given or assigned). The caller's domain is not changed.
 */
export function assignUsbPorts(dom: Domain): { dom: Domain; ports: Map<Device, UsbPort> } {
  const controllers = dom.devices.filter((d) => !isRawDevice(d) && d.kind === 'controller') as Controller[];
  const ports = new Map<Device, UsbPort>();
  let set = new UsbPortSet(controllers);
  const isHub = (d: Device) => isRawDevice(d) && d.el.name === 'hub';
  const reserveGiven = (devices: Device[]) => {
    for (const d of devices) {
      const a = givenAddress(d);
      if (!a) continue;
      if (!set.hasBus(a.bus)) throw new XmlError(`USB bus ${a.bus} requested but no controller with that index is present`);
      if (a.port === undefined) continue;
      set.reserve({ bus: a.bus, port: a.port }, isHub(d));
      ports.set(d, { bus: a.bus, port: a.port });
    }
  };
  let devices = usbDevices(dom.devices);
  if (devices.length === 0 || set.empty) return { dom, ports };
  reserveGiven(devices);
  const unaddressed = devices.filter((d) => !ports.has(d)).length;
  // Every port there is, used or not: the root hubs' and 8 per usb-hub in the definition.
  const all = set.rootPorts() + HUB_PORTS * devices.filter(isHub).length;
  if (all < unaddressed) {
    const hubs = Math.ceil((unaddressed - all + 1) / (HUB_PORTS - 1));
    dom = { ...dom, devices: [...dom.devices, ...Array.from({ length: hubs }, newUsbHub)] };
    devices = usbDevices(dom.devices);
    set = new UsbPortSet(controllers);
    ports.clear();
    reserveGiven(devices);
  }
  for (const d of devices) {
    if (ports.has(d)) continue;
    const a = set.assign(isHub(d), givenAddress(d)?.bus);
    if (!a) throw new InternalError('No free USB ports');
    ports.set(d, a);
  }
  return { dom, ports };
}
