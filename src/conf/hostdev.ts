// <hostdev>: host device passthrough. The subsystem part (driver + source) is
// shared with <interface type='hostdev'>, which carries it on the net as
// libvirt does (virDomainHostdevDefParseXMLSubsys / ...FormatSubsys).
// PCI is fully typed; other subsystem types and mode='capabilities' keep
// their <source> as read. Type, parse, format and validation side by side.
import { propEnum, propYesNo, propOnOff } from './props.js';
import { ConfigUnsupportedError, InternalError, XmlError } from '../util/errors.js';
import { ElementReader, type Extra, type XmlElement, XmlWriter } from '../util/xml.js';
import { type PciAddress, formatHostPciAddress, formatPciAddressString, parsePciAddressFields } from './address.js';
import type { OnOff, YesNo } from './common.js';
import { type DeviceInfo, type ParseContext, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type NetIpInfo, formatNetIpInfo, parseNetIpInfo } from './interface-source.js';
import { nonEmpty } from './interface-util.js';
import { type Teaming, formatTeaming, parseTeaming, validateHostdevTeaming } from './teaming.js';

export const HOSTDEV_MODES = ['subsystem', 'capabilities'] as const;
export type HostdevMode = (typeof HOSTDEV_MODES)[number];
export const HOSTDEV_SUBSYS_TYPES = ['usb', 'pci', 'scsi', 'scsi_host', 'mdev'] as const;
export type HostdevSubsysType = (typeof HOSTDEV_SUBSYS_TYPES)[number];
export const HOSTDEV_CAPS_TYPES = ['storage', 'misc', 'net'] as const;
export type HostdevCapsType = (typeof HOSTDEV_CAPS_TYPES)[number];
/** virDeviceHostdevPCIDriverName; index 0 ("default") means not set. */
export const HOSTDEV_PCI_DRIVER_NAMES = ['default', 'kvm', 'vfio', 'xen'] as const;
export type HostdevPciDriverName = Exclude<(typeof HOSTDEV_PCI_DRIVER_NAMES)[number], 'default'>;
/** virDomainDeviceSGIO without its "default" (refused, VIR_XML_PROP_NONZERO). */
export const HOSTDEV_SGIO = ['filtered', 'unfiltered'] as const;

/** <driver name='vfio' model='vfio-pci-igb'/> of a PCI hostdev. */
export interface HostdevPciDriver {
  name?: HostdevPciDriverName;
  model?: string;
  extra?: Extra;
}

/** <source writeFiltering='...'><address domain= bus= slot= function=/></source> */
export interface HostdevPciSource {
  writeFiltering?: YesNo;
  /** Host PCI address; libvirt uses 0000:00:00.0 when <address> is missing. */
  address: PciAddress;
  extra?: Extra;
}

export interface HostdevSubsysPci {
  type: 'pci';
  /** Only 'yes' means managed; libvirt prints managed='no' for anything else on <hostdev>. */
  managed?: YesNo;
  display?: OnOff;
  ramfb?: OnOff;
  driver?: HostdevPciDriver;
  source: HostdevPciSource;
}

/** Subsystem types we do not model yet: the <source> element is kept as read. */
export interface HostdevSubsysOther {
  type: Exclude<HostdevSubsysType, 'pci'>;
  managed?: YesNo;
  sgio?: string;
  rawio?: string;
  model?: string;
  display?: string;
  ramfb?: string;
  source: XmlElement;
}

export type HostdevSubsys = HostdevSubsysPci | HostdevSubsysOther;

export interface HostdevSubsystemDef {
  kind: 'hostdev';
  mode: 'subsystem';
  subsys: HostdevSubsys;
  teaming?: Teaming;
  /** SCSI only (libvirt ignores them for other types). */
  readonly?: boolean;
  shareable?: boolean;
  info: DeviceInfo;
  /** XML libvirt reads past without using it for this configuration (for lint). */
  ignored?: string[];
  extra?: Extra;
}

export interface HostdevCapabilitiesDef {
  kind: 'hostdev';
  mode: 'capabilities';
  type: HostdevCapsType;
  /** <source><block>/<char>/<interface>...</source>, kept as read. */
  source: XmlElement;
  /** type='net': <ip>/<route> beside <source>. */
  ip?: NetIpInfo;
  teaming?: Teaming;
  info: DeviceInfo;
  ignored?: string[];
  extra?: Extra;
}

export type Hostdev = HostdevSubsystemDef | HostdevCapabilitiesDef;

export function isPciHostdev(h: Hostdev): h is HostdevSubsystemDef & { subsys: HostdevSubsysPci } {
  return h.mode === 'subsystem' && h.subsys.type === 'pci';
}

// ---- parse ----

function parsePciDriver(d: ElementReader): HostdevPciDriver {
  const drv: HostdevPciDriver = {};
  const name = propEnum(d, 'name', HOSTDEV_PCI_DRIVER_NAMES);
  if (name && name !== 'default') drv.name = name;
  const model = d.attr('model');
  if (model !== undefined) drv.model = model;
  const extra = d.rest();
  if (extra) drv.extra = extra;
  return drv;
}

/** Host PCI address of <source><address .../>; a type attribute is read and dropped, as libvirt does. */
function parseHostPciAddress(a: ElementReader | undefined): PciAddress {
  if (!a) return { type: 'pci', domain: 0, bus: 0, slot: 0, function: 0 };
  a.attr('type');
  const addr = parsePciAddressFields(a);
  const extra = a.rest();
  if (extra) addr.extra = extra;
  return addr;
}

export interface SubsysParseOptions {
  /** <interface type='hostdev'>: only 'managed' is read from the element itself. */
  forInterface?: boolean;
  /** The <driver> element, when the caller shares it (interface). Default: ./driver. */
  driver?: ElementReader | null;
}

/**
 * virDomainHostdevDefParseXMLSubsys: `r` is the <hostdev> or <interface>
 * element, `type` the subsystem type (from @type, or from
 * <source><address type=>) for an interface.
 */
export function parseHostdevSubsys(r: ElementReader, type: HostdevSubsysType, opts: SubsysParseOptions = {}): HostdevSubsys {
  const managedRaw = r.attr('managed');
  // libvirt ignores a bad value here (ignore_value(virXMLPropTristateBool(...))).
  const managed = managedRaw === 'yes' || managedRaw === 'no' ? managedRaw : undefined;
  const src = r.child('source');
  if (!src) throw new XmlError('Missing <source> element in hostdev device');
  if (type !== 'usb' && nonEmpty(src.el.attrs.get('startupPolicy')) !== undefined) {
    throw new ConfigUnsupportedError('Setting startupPolicy is only allowed for USB devices');
  }
  if (opts.forInterface) {
    if (type === 'pci') {
      const sub: HostdevSubsysPci = { type, source: parsePciSource(src) };
      if (managed) sub.managed = managed;
      if (opts.driver) sub.driver = parsePciDriver(opts.driver);
      return sub;
    }
    const other: HostdevSubsysOther = { type, source: src.el };
    if (managed) other.managed = managed;
    return other;
  }
  const model = r.attr('model');
  const sgio = propEnum(r, 'sgio', HOSTDEV_SGIO);
  if (sgio !== undefined && type !== 'scsi') throw new XmlError('sgio is only supported for scsi host device');
  const rawio = propYesNo(r, 'rawio');
  if (rawio !== undefined && type !== 'scsi') throw new XmlError('rawio is only supported for scsi host device');
  if (type !== 'mdev' && type !== 'scsi_host' && model !== undefined) {
    throw new XmlError(`'model' attribute in <hostdev> is only supported when type='${type}'`);
  }
  if (type === 'mdev' && model === undefined) throw new XmlError("Missing required attribute 'model' in element 'hostdev'");
  if (type === 'pci') {
    const sub: HostdevSubsysPci = { type, source: parsePciSource(src) };
    if (managed) sub.managed = managed;
    const display = propOnOff(r, 'display');
    const ramfb = propOnOff(r, 'ramfb');
    if (display) sub.display = display;
    if (ramfb) sub.ramfb = ramfb;
    const drv = opts.driver === undefined ? r.child('driver') : opts.driver;
    if (drv) sub.driver = parsePciDriver(drv);
    return sub;
  }
  const other: HostdevSubsysOther = { type, source: src.el };
  if (managed) other.managed = managed;
  if (sgio) other.sgio = sgio;
  if (rawio) other.rawio = rawio;
  if (model !== undefined) other.model = model;
  if (type === 'mdev') {
    const display = propOnOff(r, 'display');
    const ramfb = propOnOff(r, 'ramfb');
    if (display) other.display = display;
    if (ramfb) other.ramfb = ramfb;
  }
  return other;
}

function parsePciSource(src: ElementReader): HostdevPciSource {
  const s: HostdevPciSource = { address: { type: 'pci', domain: 0, bus: 0, slot: 0, function: 0 } };
  const wf = propYesNo(src, 'writeFiltering');
  if (wf) s.writeFiltering = wf;
  s.address = parseHostPciAddress(src.child('address'));
  // <origstates> is live state only (PARSE_PCI_ORIG_STATES); dropped like libvirt does for definitions.
  src.child('origstates');
  const extra = src.rest();
  if (extra) s.extra = extra;
  return s;
}

export function parseHostdev(r: ElementReader, ctx: ParseContext): Hostdev {
  const mode = propEnum(r, 'mode', HOSTDEV_MODES) ?? 'subsystem';
  const ignored: string[] = [];
  let h: Hostdev;
  if (mode === 'subsystem') {
    const type = propEnum(r, 'type', HOSTDEV_SUBSYS_TYPES, { required: true })!;
    const subsys = parseHostdevSubsys(r, type);
    const s: HostdevSubsystemDef = { kind: 'hostdev', mode, subsys, info: parseDeviceInfo(r, ctx) };
    for (const flag of ['readonly', 'shareable'] as const) {
      if (!r.child(flag)) continue;
      if (type === 'scsi') s[flag] = true;
      else ignored.push(flag);
    }
    h = s;
  } else {
    const type = propEnum(r, 'type', HOSTDEV_CAPS_TYPES, { required: true })!;
    const src = r.child('source');
    if (!src) throw new XmlError('Missing <source> element in hostdev device');
    const c: HostdevCapabilitiesDef = { kind: 'hostdev', mode, type, source: src.el, info: parseDeviceInfo(r, ctx) };
    if (type === 'net') {
      const ip = parseNetIpInfo(r, 'Domain hostdev device');
      if (ip) c.ip = ip;
    }
    h = c;
  }
  const teaming = parseTeaming(r);
  if (teaming) h.teaming = teaming;
  if (ignored.length) h.ignored = ignored;
  const extra = r.rest();
  if (extra) h.extra = extra;
  return h;
}

// ---- format ----

export function formatPciDriver(w: XmlWriter, d: HostdevPciDriver | undefined): void {
  if (!d) return;
  if (d.name === undefined && d.model === undefined && !d.extra) return;
  w.empty('driver', [['name', d.name], ['model', d.model]], d.extra);
}

/** virDomainHostdevDefFormatSubsys: <driver> + <source> (address with type='pci' inside <interface>). */
export function formatHostdevSubsys(w: XmlWriter, s: HostdevSubsys, includeTypeInAddr: boolean): void {
  if (s.type !== 'pci') {
    w.raw(s.source);
    return;
  }
  formatPciDriver(w, s.driver);
  w.element('source', [['writeFiltering', s.source.writeFiltering]], () => {
    formatHostPciAddress(w, s.source.address, includeTypeInAddr);
  }, s.source.extra);
}

export function formatHostdev(w: XmlWriter, h: Hostdev): void {
  let attrs: [string, string | undefined][];
  if (h.mode === 'subsystem') {
    const s = h.subsys;
    attrs = [['mode', 'subsystem'], ['type', s.type], ['managed', s.managed === 'yes' ? 'yes' : 'no']];
    if (s.type === 'pci') attrs.push(['display', s.display], ['ramfb', s.ramfb]);
    else attrs.push(['sgio', s.sgio], ['rawio', s.rawio], ['model', s.model], ['display', s.display], ['ramfb', s.ramfb]);
  } else {
    attrs = [['mode', 'capabilities'], ['type', h.type]];
  }
  w.open('hostdev', attrs, h.extra ? { attrs: h.extra.attrs, children: [] } : undefined);
  if (h.mode === 'subsystem') formatHostdevSubsys(w, h.subsys, false);
  else {
    w.raw(h.source);
    formatNetIpInfo(w, h.ip);
  }
  formatTeaming(w, h.teaming);
  if (h.mode === 'subsystem') {
    if (h.readonly) w.empty('readonly');
    if (h.shareable) w.empty('shareable');
  }
  formatDeviceInfo(w, h.info);
  w.extraChildren(h.extra);
  w.close('hostdev');
}

// ---- validate ----

const ADDRESS_TYPES_FOR: Partial<Record<HostdevSubsysType, { allowed: string[]; error: () => Error }>> = {
  pci: { allowed: ['pci', 'unassigned'], error: () => new InternalError("PCI host devices must use 'pci' or 'unassigned' address type") },
  scsi: { allowed: ['drive'], error: () => new ConfigUnsupportedError("SCSI host device must use 'drive' address type") },
  scsi_host: { allowed: ['pci', 'ccw'], error: () => new ConfigUnsupportedError("SCSI_host host device must use 'pci' or 'ccw' address type") },
  usb: { allowed: ['usb'], error: () => new ConfigUnsupportedError("USB host device must use 'usb' address type") },
};

/** The address-type part of virDomainHostdevDefValidate; also applies to <interface type='hostdev'>. */
export function validateHostdevAddressType(subsysType: HostdevSubsysType, info: DeviceInfo): void {
  const rule = ADDRESS_TYPES_FOR[subsysType];
  if (!rule || !info.address) return;
  if (!rule.allowed.includes(info.address.type)) throw rule.error();
}

/** virDomainHostdevDefValidate */
export function validateHostdev(h: Hostdev): void {
  if (h.mode === 'subsystem') {
    validateHostdevAddressType(h.subsys.type, h.info);
    if (h.subsys.type === 'scsi' && h.subsys.sgio === 'unfiltered') {
      throw new ConfigUnsupportedError('unfiltered sgio is no longer supported');
    }
  }
  validateHostdevTeaming(h.teaming, isPciHostdev(h));
}

function rawText(el: XmlElement): string {
  const w = new XmlWriter();
  w.raw(el);
  return w.toString();
}

/** Identity of the host device, for the duplicate check (virDomainHostdevMatch). */
export function hostdevSubsysKey(s: HostdevSubsys): string {
  return s.type === 'pci' ? `subsystem/pci/${formatPciAddressString(s.source.address)}` : `subsystem/${s.type}/${rawText(s.source)}`;
}

/** Identity of a plain <hostdev>'s host device: PCI by host address, others by their <source> as written. */
export function hostdevKey(h: Hostdev): string {
  return h.mode === 'subsystem' ? hostdevSubsysKey(h.subsys) : `capabilities/${h.type}/${rawText(h.source)}`;
}
