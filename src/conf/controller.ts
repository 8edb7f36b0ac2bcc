// <controller type='pci' index='1' model='pcie-root-port'>: type, parse,
// format and validation side by side (virDomainControllerDef*), plus the
// list helpers libvirt applies to controllers (insertion order, index
// assignment) so a post-parse step can add controllers the same way.
import { ConfigUnsupportedError, XmlDetailError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';
import { scaleToKiB } from './memory.js';
import type { OnOff } from './common.js';
import { propEnum, propInt, propOnOff, propUInt, propULongLong } from './props.js';
import { type VirtioOptions, parseVirtioOptions, virtioOptionAttrs } from './virtio-options.js';

export const CONTROLLER_TYPES = ['ide', 'fdc', 'scsi', 'sata', 'virtio-serial', 'ccid', 'usb', 'pci', 'xenbus', 'isa'] as const;
export type ControllerType = (typeof CONTROLLER_TYPES)[number];

export const PCI_CONTROLLER_MODELS = [
  'pci-root', 'pcie-root', 'pci-bridge', 'dmi-to-pci-bridge', 'pcie-to-pci-bridge', 'pcie-root-port',
  'pcie-switch-upstream-port', 'pcie-switch-downstream-port', 'pci-expander-bus', 'pcie-expander-bus',
] as const;
export type PciControllerModel = (typeof PCI_CONTROLLER_MODELS)[number];

export const USB_CONTROLLER_MODELS = [
  'piix3-uhci', 'piix4-uhci', 'ehci', 'ich9-ehci1', 'ich9-uhci1', 'ich9-uhci2', 'ich9-uhci3', 'vt82c686b-uhci',
  'pci-ohci', 'nec-xhci', 'qusb1', 'qusb2', 'qemu-xhci', 'none',
] as const;
export type UsbControllerModel = (typeof USB_CONTROLLER_MODELS)[number];

export const SCSI_CONTROLLER_MODELS = [
  'auto', 'buslogic', 'lsilogic', 'lsisas1068', 'vmpvscsi', 'ibmvscsi', 'virtio-scsi', 'lsisas1078',
  'virtio-transitional', 'virtio-non-transitional', 'ncr53c90', 'dc390', 'am53c974',
] as const;
export const IDE_CONTROLLER_MODELS = ['piix3', 'piix4', 'ich6'] as const;
export const VIRTIO_SERIAL_CONTROLLER_MODELS = ['virtio', 'virtio-transitional', 'virtio-non-transitional'] as const;

/** Model tables per controller type; types without a table accept no model at all. */
export const CONTROLLER_MODELS: Partial<Record<ControllerType, readonly string[]>> = {
  scsi: SCSI_CONTROLLER_MODELS,
  usb: USB_CONTROLLER_MODELS,
  pci: PCI_CONTROLLER_MODELS,
  ide: IDE_CONTROLLER_MODELS,
  'virtio-serial': VIRTIO_SERIAL_CONTROLLER_MODELS,
  isa: [],
};

/** <model name='...'/> of PCI controllers (index 0 of libvirt's table is 'none'). */
export const PCI_MODEL_NAMES = [
  'none', 'pci-bridge', 'i82801b11-bridge', 'ioh3420', 'x3130-upstream', 'xio3130-downstream', 'pxb', 'pxb-pcie',
  'pcie-root-port', 'spapr-pci-host-bridge', 'pcie-pci-bridge',
] as const;
export type PciModelName = Exclude<(typeof PCI_MODEL_NAMES)[number], 'none'>;

/** <target> of PCI controllers; each field is absent when not set (libvirt's -1). */
export interface PciControllerTarget {
  chassisNr?: number;
  chassis?: number;
  port?: number;
  busNr?: number;
  index?: number;
  hotplug?: OnOff;
  memReserve?: number;
  /** <target><node>N</node></target>: NUMA node. */
  node?: number;
  extra?: Extra;
}

export interface ControllerDriver {
  queues?: number;
  cmd_per_lun?: number;
  max_sectors?: number;
  ioeventfd?: OnOff;
  iothread?: number;
  virtio?: VirtioOptions;
  extra?: Extra;
}

export interface Controller {
  kind: 'controller';
  type: ControllerType;
  /** -1 until assigned (the attribute is optional; see assignControllerIndexes). */
  index: number;
  /** From the type's model table (CONTROLLER_MODELS); absent = not set yet. */
  model?: string;
  /** usb and virtio-serial */
  ports?: number;
  /** virtio-serial */
  vectors?: number;
  /** xenbus */
  maxGrantFrames?: number;
  maxEventChannels?: number;
  /** pci: <model name=.../> */
  modelName?: PciModelName;
  modelExtra?: Extra;
  /** pci: <target .../> */
  target?: PciControllerTarget;
  driver?: ControllerDriver;
  /** pci-root/pcie-root: <pcihole64> in KiB */
  pcihole64?: number;
  pcihole64Extra?: Extra;
  info: DeviceInfo;
  extra?: Extra;
}

/** A controller as a post-parse step creates it (libvirt's virDomainControllerDefNew + idx/model). */
export function newController(type: ControllerType, index = -1, model?: string): Controller {
  const c: Controller = { kind: 'controller', type, index, info: {} };
  if (model !== undefined) c.model = model;
  return c;
}

export function isController(d: Device): d is Controller {
  return d.kind === 'controller';
}

export function isPciController(d: Device): d is Controller {
  return isController(d) && d.type === 'pci';
}

const USB2_COMPANION_START: Partial<Record<string, number>> = { 'ich9-uhci1': 0, 'ich9-uhci2': 2, 'ich9-uhci3': 4 };

function parseTarget(t: ElementReader): PciControllerTarget {
  const target: PciControllerTarget = {};
  const int = (name: 'chassisNr' | 'chassis' | 'port' | 'busNr' | 'index') => {
    const v = propInt(t, name, { base: 0, nonnegative: true });
    if (v !== undefined) target[name] = v;
  };
  int('chassisNr');
  int('chassis');
  int('port');
  int('busNr');
  const hotplug = propOnOff(t, 'hotplug');
  if (hotplug) target.hotplug = hotplug;
  int('index');
  const memReserve = propULongLong(t, 'memReserve', { base: 0, nonzero: true });
  if (memReserve !== undefined) target.memReserve = memReserve;
  return target;
}

/** string(./target/node) as virXPathInt reads it: an integer (leading blanks allowed) or "invalid NUMA node in target". */
function parseTargetNode(r: ElementReader): number | undefined {
  const t = r.el.children.find((c) => c.name === 'target');
  const n = t?.children.find((c) => c.name === 'node');
  if (!n || n.text === '') return undefined;
  const v = /^[ \t\n\r\f\v]*[+-]?[0-9]+$/.test(n.text) ? Number(n.text.trim()) : NaN;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0x7fffffff) throw new XmlError('invalid NUMA node in target');
  return v;
}

function parseDriver(d: ElementReader): ControllerDriver {
  const driver: ControllerDriver = {};
  for (const name of ['queues', 'cmd_per_lun', 'max_sectors'] as const) {
    const v = propUInt(d, name);
    if (v !== undefined) driver[name] = v;
  }
  const ioeventfd = propOnOff(d, 'ioeventfd');
  if (ioeventfd) driver.ioeventfd = ioeventfd;
  const iothread = propUInt(d, 'iothread');
  if (iothread !== undefined) driver.iothread = iothread;
  const virtio = parseVirtioOptions(d);
  if (virtio) driver.virtio = virtio;
  const extra = d.rest();
  if (extra) driver.extra = extra;
  return driver;
}

/** virDomainControllerDefParseXML */
export function parseController(r: ElementReader, ctx: { inactive: boolean }): Controller {
  const type = propEnum(r, 'type', CONTROLLER_TYPES) ?? 'ide';
  const c = newController(type);
  const model = r.attr('model');
  if (model !== undefined) {
    if (!(CONTROLLER_MODELS[type] ?? []).includes(model)) throw new ConfigUnsupportedError(`Unknown model type '${model}'`);
    c.model = model;
  }
  c.index = propInt(r, 'index', { nonnegative: true }) ?? -1;

  const driver = r.child('driver');
  if (driver) c.driver = parseDriver(driver);

  const models = r.el.children.filter((x) => x.name === 'model');
  if (models.length > 1) throw new XmlError('Multiple <model> elements in controller definition not allowed');
  const targets = r.el.children.filter((x) => x.name === 'target');
  if (targets.length > 1) throw new XmlError('Multiple <target> elements in controller definition not allowed');
  if (type === 'pci') {
    const m = r.child('model');
    if (m) {
      const name = propEnum(m, 'name', PCI_MODEL_NAMES);
      if (name !== undefined && name !== 'none') c.modelName = name;
      const extra = m.rest();
      if (extra) c.modelExtra = extra;
    }
    const t = r.child('target');
    if (t) {
      c.target = parseTarget(t);
      const node = parseTargetNode(r);
      t.child('node');
      if (node !== undefined) c.target.node = node;
      const extra = t.rest();
      if (extra) c.target.extra = extra;
    }
  } else {
    parseTargetNode(r); // libvirt checks the node's syntax for every type, then ignores it
  }

  if (type === 'usb' && c.model === 'none') {
    // libvirt ignores the device info of a 'none' USB controller
    for (const name of ['alias', 'master', 'boot', 'rom', 'acpi', 'address']) r.child(name);
  } else {
    c.info = parseDeviceInfo(r, ctx);
    delete c.info.boot; // controllers take no <boot> or <rom> (not parsed by libvirt)
    delete c.info.rom;
  }

  const ports = propInt(r, 'ports', { nonnegative: true });
  if (type === 'virtio-serial') {
    const vectors = propInt(r, 'vectors', { nonnegative: true });
    if (ports !== undefined) c.ports = ports;
    if (vectors !== undefined) c.vectors = vectors;
  } else if (type === 'usb') {
    const start = c.model === undefined ? undefined : USB2_COMPANION_START[c.model];
    if (start !== undefined && !c.info.master) c.info.master = { startport: start };
    if (ports !== undefined) c.ports = ports;
  } else if (type === 'pci') {
    if (c.model === 'pci-root' || c.model === 'pcie-root') {
      const hole = r.child('pcihole64');
      if (hole) {
        c.pcihole64 = scaleToKiB(hole.text(), hole.attr('unit'), 'pcihole64');
        const extra = hole.rest();
        if (extra) c.pcihole64Extra = extra;
      }
    }
  } else if (type === 'xenbus') {
    const grant = propInt(r, 'maxGrantFrames', { nonnegative: true });
    const events = propInt(r, 'maxEventChannels', { nonnegative: true });
    if (grant !== undefined) c.maxGrantFrames = grant;
    if (events !== undefined) c.maxEventChannels = events;
  }
  const extra = r.rest();
  if (extra) c.extra = extra;
  return c;
}

function formatTarget(w: XmlWriter, t: PciControllerTarget | undefined): void {
  if (!t) return;
  const attrs: [string, string | number | undefined][] = [
    ['chassisNr', t.chassisNr],
    ['chassis', t.chassis],
    ['port', t.port === undefined ? undefined : '0x' + t.port.toString(16)],
    ['busNr', t.busNr],
    ['index', t.index],
    ['hotplug', t.hotplug],
    ['memReserve', t.memReserve],
  ];
  const hasAttr = attrs.some(([, v]) => v !== undefined) || (t.extra?.attrs.length ?? 0) > 0;
  if (!hasAttr && t.node === undefined && !t.extra?.children.length) return; // virXMLFormatElement writes nothing
  w.element('target', attrs, () => {
    if (t.node !== undefined) w.textElement('node', t.node);
    w.extraChildren(t.extra);
  }, attrsOf(t.extra));
}

function formatDriver(w: XmlWriter, d: ControllerDriver | undefined): void {
  if (!d) return;
  const attrs: [string, string | number | undefined][] = [
    ['queues', d.queues || undefined],
    ['cmd_per_lun', d.cmd_per_lun || undefined],
    ['max_sectors', d.max_sectors || undefined],
    ['ioeventfd', d.ioeventfd],
    ['iothread', d.iothread || undefined],
    ...virtioOptionAttrs(d.virtio),
  ];
  if (!attrs.some(([, v]) => v !== undefined) && !d.extra) return;
  w.empty('driver', attrs, d.extra);
}

const CONTROLLER_CHILD_ORDER = ['model', 'target', 'driver', 'info', 'pcihole64'] as const;

/** virDomainControllerDefFormat */
export function formatController(w: XmlWriter, c: Controller): void {
  // an unassigned index (-1) is left out: libvirt's post-parse always fills it before anything is written
  const attrs: [string, string | number | undefined][] = [['type', c.type], ['index', c.index < 0 ? undefined : c.index], ['model', c.model]];
  if (c.type === 'virtio-serial') attrs.push(['ports', c.ports], ['vectors', c.vectors]);
  else if (c.type === 'usb') attrs.push(['ports', c.ports]);
  else if (c.type === 'xenbus') attrs.push(['maxGrantFrames', c.maxGrantFrames], ['maxEventChannels', c.maxEventChannels]);
  w.element('controller', attrs, () => orderedChildren(w, CONTROLLER_CHILD_ORDER, {
    model: () => {
      if (c.type === 'pci' && (c.modelName || c.modelExtra)) w.empty('model', [['name', c.modelName]], c.modelExtra);
    },
    target: () => c.type === 'pci' && formatTarget(w, c.target),
    driver: () => formatDriver(w, c.driver),
    info: () => formatDeviceInfo(w, c.info, { allowBoot: false }),
    pcihole64: () => {
      if (c.type === 'pci' && c.pcihole64 !== undefined) w.textElement('pcihole64', c.pcihole64, [['unit', 'KiB']], c.pcihole64Extra);
    },
  }, c.extra), attrsOf(c.extra));
}

/** virDomainControllerDefValidate */
export function validateController(c: Controller): void {
  if (c.type !== 'pci') return;
  const t = c.target ?? {};
  if ((c.model === 'pci-root' || c.model === 'pcie-root') && c.info.address) {
    throw new ConfigUnsupportedError('pci-root and pcie-root controllers should not have an address');
  }
  if (c.index > 255) throw new ConfigUnsupportedError(`PCI controller index ${c.index} too high, maximum is 255`);
  if (t.index !== undefined) {
    if (t.index < 0 || t.index > 30) {
      throw new ConfigUnsupportedError(`PCI controller target index '${t.index}' out of range - must be 0-30`);
    }
    if ((c.index === 0 && t.index !== 0) || (c.index !== 0 && t.index === 0)) {
      throw new ConfigUnsupportedError('Only the PCI controller with index 0 can have target index 0, and vice versa');
    }
  }
  if (t.chassisNr !== undefined && (t.chassisNr < 1 || t.chassisNr > 255)) {
    throw new ConfigUnsupportedError(`PCI controller chassisNr '${t.chassisNr}' out of range - must be 1-255`);
  }
  if (t.chassis !== undefined && (t.chassis < 0 || t.chassis > 255)) {
    throw new ConfigUnsupportedError(`PCI controller chassis '${t.chassis}' out of range - must be 0-255`);
  }
  if (t.port !== undefined && (t.port < 0 || t.port > 255)) {
    throw new ConfigUnsupportedError(`PCI controller port '${t.port}' out of range - must be 0-255`);
  }
  if (t.busNr !== undefined && (t.busNr < 1 || t.busNr > 254)) {
    throw new ConfigUnsupportedError(`PCI controller busNr '${t.busNr}' out of range - must be 1-254`);
  }
  if (t.node !== undefined && c.index === 0) {
    throw new ConfigUnsupportedError("The PCI controller with index=0 can't be associated with a NUMA node");
  }
}

const VIRTIO_SCSI_MODELS = new Set(['virtio-scsi', 'virtio-transitional', 'virtio-non-transitional']);

/** virDomainControllerDefPostParse's check (conf-level, runs at define). */
export function validateControllerIothread(c: Controller): void {
  if (c.driver?.iothread && !(c.type === 'scsi' && c.model !== undefined && VIRTIO_SCSI_MODELS.has(c.model))) {
    throw new XmlError("'iothread' attribute only supported for virtio scsi controllers");
  }
}

/** virDomainDefRejectDuplicateControllers: one index per type, except USB (companions share one). */
export function rejectDuplicateControllers(devices: readonly Device[]): void {
  const seen = new Set<string>();
  for (const d of devices) {
    if (!isController(d) || d.type === 'usb' || d.index < 0) continue;
    const key = `${d.type}/${d.index}`;
    if (seen.has(key)) throw new XmlError(`Multiple '${d.type}' controllers with index '${d.index}'`);
    seen.add(key);
  }
}

/**
 * The USB checks of virDomainDefControllersParse (parse time, VIR_ERR_XML_DETAIL):
 * a 'none' USB controller excludes all others, and companions need a master.
 */
export function checkUsbControllers(devices: readonly Device[]): void {
  let usbNone = false;
  let usbOther = false;
  let usbMaster = false;
  for (const d of devices) {
    if (!isController(d) || d.type !== 'usb') continue;
    if (d.model === 'none') {
      if (usbOther || usbNone) throw new XmlDetailError("Can't add another USB controller: USB is disabled for this domain");
      usbNone = true;
    } else {
      if (usbNone) throw new XmlDetailError("Can't add another USB controller: USB is disabled for this domain");
      usbOther = true;
    }
    if (!d.info.master) usbMaster = true;
  }
  if (usbOther && !usbMaster) throw new XmlDetailError('No master USB controller specified');
}

/** True when the domain has a USB controller with model='none' (USB disabled). */
export function usbDisabled(devices: readonly Device[]): boolean {
  return devices.some((d) => isController(d) && d.type === 'usb' && d.model === 'none');
}

/**
 * virDomainControllerInsertPreAlloced: where `c` goes in a controller list
 * kept in libvirt's order (by type as first seen, then index; a master
 * before its companions at the same index).
 */
export function insertController(list: Controller[], c: Controller): void {
  let insertAt = -1;
  for (let i = list.length - 1; i >= 0; i--) {
    const cur = list[i];
    if (cur.type !== c.type) continue;
    if (c.index === -1) {
      insertAt = i + 1;
      break;
    }
    if (cur.index > c.index) insertAt = i;
    else if (!c.info.master && cur.info.master && cur.index === c.index) insertAt = i;
    else if (insertAt === -1) insertAt = i + 1;
  }
  if (insertAt === -1) list.push(c);
  else list.splice(insertAt, 0, c);
}

/** Put the controllers of a device list in the order libvirt's parser keeps them (insertion, document order). */
export function orderControllers(devices: Device[]): void {
  const slots: number[] = [];
  const sorted: Controller[] = [];
  devices.forEach((d, i) => {
    if (isController(d)) {
      slots.push(i);
      insertController(sorted, d);
    }
  });
  slots.forEach((slot, k) => (devices[slot] = sorted[k]));
}

/** Add a controller to a device list at libvirt's position (virDomainControllerInsert). */
export function addController(devices: Device[], c: Controller): void {
  const list = devices.filter(isController);
  insertController(list, c);
  const others = devices.filter((d) => !isController(d));
  devices.splice(0, devices.length, ...others, ...list);
}

/** virDomainControllerFindUnusedIndex */
export function findUnusedControllerIndex(devices: readonly Device[], type: ControllerType): number {
  let idx = 0;
  while (devices.some((d) => isController(d) && d.type === type && d.index === idx)) idx++;
  return idx;
}

const USB2_MODELS = new Set(['ich9-ehci1', 'ich9-uhci1', 'ich9-uhci2', 'ich9-uhci3']);

/** virDomainAssignControllerIndexes (post-parse): give every index -1 the lowest free index, USB2 companions their master's. */
export function assignControllerIndexes(devices: Device[]): void {
  const list = devices.filter(isController);
  let reinsert = false;
  list.forEach((c, outer) => {
    if (c.index !== -1) return;
    let prev: Controller | undefined;
    if (outer > 0 && c.type === 'usb' && c.model !== undefined && USB2_MODELS.has(c.model)) {
      reinsert = true;
      for (let i = outer - 1; i >= 0; i--) {
        if (list[i].type === 'usb') {
          prev = list[i];
          break;
        }
      }
      if (prev && !(prev.model !== undefined && USB2_MODELS.has(prev.model))) prev = undefined;
      if (prev && list.some((o) => o.type === 'usb' && o.index === prev!.index && o.model === c.model)) prev = undefined;
      if (prev) c.index = prev.index;
    }
    if (!prev) c.index = findUnusedControllerIndex(list, c.type);
  });
  if (reinsert) {
    const sorted: Controller[] = [];
    for (const c of list) insertController(sorted, c);
    const others = devices.filter((d) => !isController(d));
    devices.splice(0, devices.length, ...others, ...sorted);
  }
}

/** The checks run for each <controller> at define (listed in validate.ts). */
export function validateControllerDevice(c: Controller, devices: readonly Device[]): void {
  if (devices.find(isController) === c) rejectDuplicateControllers(devices); // post-parse in libvirt
  validateController(c);
  validateControllerIothread(c);
}
