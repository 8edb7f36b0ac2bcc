// <address type='...'/>: device addresses (PCI, drive, ...) and the host PCI
// address inside <hostdev><source> (same attributes, no type).
import { XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { parseUIntAttr } from './common.js';
import { propUInt } from './props.js';

export interface Zpci {
  uid?: number;
  fid?: number;
}

export interface PciAddress {
  type: 'pci';
  domain: number;
  bus: number;
  slot: number;
  function: number;
  multifunction?: 'on' | 'off';
  zpci?: Zpci;
  extra?: Extra;
}

export interface DriveAddress {
  type: 'drive';
  controller: number;
  bus: number;
  target: number;
  unit: number;
  extra?: Extra;
}

/** Address types we do not interpret: attributes kept in document order. */
export interface OtherAddress {
  type: string;
  attrs: [string, string][];
  extra?: Extra;
}

export type Address = PciAddress | DriveAddress | OtherAddress;

export function isPciAddress(a: Address | undefined): a is PciAddress {
  return a?.type === 'pci';
}

const hex = (n: number, width: number) => '0x' + n.toString(16).padStart(width, '0');

export function formatPciAddressString(a: Pick<PciAddress, 'domain' | 'bus' | 'slot' | 'function'>): string {
  return `${a.domain.toString(16).padStart(4, '0')}:${a.bus.toString(16).padStart(2, '0')}:` +
    `${a.slot.toString(16).padStart(2, '0')}.${a.function.toString(16)}`;
}

/** Parse the PCI attributes of an <address> (with or without type='pci'). */
export function parsePciAddressFields(r: ElementReader): PciAddress {
  const field = (name: string, max: number): number => {
    const v = parseUIntAttr(r, name) ?? 0;
    if (v > max) {
      throw new XmlError(`Invalid PCI address ${name}='${r.el.attrs.get(name)}', must be <= ${hex(max, 0)}`);
    }
    return v;
  };
  const addr: PciAddress = {
    type: 'pci',
    domain: field('domain', 0xffff),
    bus: field('bus', 0xff),
    slot: field('slot', 0x1f),
    function: field('function', 7),
  };
  const mf = r.attr('multifunction');
  if (mf !== undefined) {
    if (mf !== 'on' && mf !== 'off') throw new XmlError(`Unknown value '${mf}' for <address> attribute 'multifunction'`);
    addr.multifunction = mf;
  }
  const z = r.child('zpci');
  if (z) {
    addr.zpci = {};
    const uid = parseUIntAttr(z, 'uid');
    const fid = parseUIntAttr(z, 'fid');
    if (uid !== undefined) addr.zpci.uid = uid;
    if (fid !== undefined) addr.zpci.fid = fid;
  }
  return addr;
}

export function parseAddress(r: ElementReader): Address {
  const type = r.attr('type');
  let addr: Address;
  if (type === 'pci') {
    addr = parsePciAddressFields(r);
  } else if (type === 'drive') {
    addr = {
      type: 'drive',
      controller: parseUIntAttr(r, 'controller') ?? 0,
      bus: parseUIntAttr(r, 'bus') ?? 0,
      target: parseUIntAttr(r, 'target') ?? 0,
      unit: parseUIntAttr(r, 'unit') ?? 0,
    };
  } else if (type === undefined || type === '') {
    throw new XmlError('No type specified for device address');
  } else {
    // virDomainDeviceISAAddressParseXML: iobase and irq are hexadecimal unsigned ints.
    if (type === 'isa') for (const k of ['iobase', 'irq']) propUInt(r, k, { base: 16 });
    const attrs: [string, string][] = [];
    for (const [k, v] of r.el.attrs) if (k !== 'type') { r.attr(k); attrs.push([k, v]); }
    addr = { type, attrs };
  }
  const extra = r.rest();
  if (extra) addr.extra = extra;
  return addr;
}

function pciAttrs(a: PciAddress): [string, string | undefined][] {
  return [
    ['domain', hex(a.domain, 4)],
    ['bus', hex(a.bus, 2)],
    ['slot', hex(a.slot, 2)],
    ['function', hex(a.function, 1)],
    ['multifunction', a.multifunction],
  ];
}

function formatZpci(w: XmlWriter, a: PciAddress): void {
  if (!a.zpci) return;
  w.empty('zpci', [
    ['uid', a.zpci.uid === undefined ? undefined : hex(a.zpci.uid, 4)],
    ['fid', a.zpci.fid === undefined ? undefined : hex(a.zpci.fid, 8)],
  ]);
}

export function formatAddress(w: XmlWriter, a: Address | undefined): void {
  if (!a) return;
  if (a.type === 'pci') {
    const p = a as PciAddress;
    w.element('address', [['type', 'pci'], ...pciAttrs(p)], () => formatZpci(w, p), p.extra);
  } else if (a.type === 'drive') {
    const d = a as DriveAddress;
    w.empty('address', [['type', 'drive'], ['controller', d.controller], ['bus', d.bus], ['target', d.target], ['unit', d.unit]], d.extra);
  } else {
    const o = a as OtherAddress;
    w.empty('address', [['type', o.type], ...o.attrs], o.extra);
  }
}

/** Host-side PCI address (<source><address .../>): no type attribute. */
export function formatHostPciAddress(w: XmlWriter, a: PciAddress, withType = false): void {
  const attrs: [string, string | undefined][] = withType ? [['type', 'pci'], ...pciAttrs(a)] : pciAttrs(a);
  w.element('address', attrs, () => formatZpci(w, a), a.extra);
}
