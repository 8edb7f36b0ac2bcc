// <redirdev bus='usb' type='spicevmc'/> and <redirfilter>: a USB device redirected from a client over a
// character device (virDomainRedirdevDef): type, parse, format. The host side is a
// chardev source (chardev.ts); the device has the usual info (boot order, address).
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { CHR_TYPES, type ChrSource, type ChrType, formatChrSource, parseChrSource } from './chardev.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { propEnum, propYesNo } from './props.js';

export const REDIRDEV_BUSES = ['usb'] as const;

export interface Redirdev {
  kind: 'redirdev';
  bus: (typeof REDIRDEV_BUSES)[number];
  source: ChrSource;
  info: DeviceInfo;
  extra?: Extra;
}

/** virDomainRedirdevDefParseXML */
export function parseRedirdev(r: ElementReader, ctx: { inactive: boolean }): Redirdev {
  const bus = propEnum(r, 'bus', REDIRDEV_BUSES, { required: true })!;
  const typeAttr = r.attr('type');
  if (typeAttr === undefined || !(CHR_TYPES as readonly string[]).includes(typeAttr)) {
    throw new ConfigUnsupportedError(`unknown type presented to host for character device: ${typeAttr ?? '(null)'}`);
  }
  const source = parseChrSource(r, typeAttr as ChrType, ctx);
  const info = parseDeviceInfo(r, ctx);
  delete info.rom;
  const d: Redirdev = { kind: 'redirdev', bus, source, info };
  const extra = r.rest();
  if (extra) d.extra = extra;
  return d;
}

/** virDomainRedirdevDefFormat */
export function formatRedirdev(w: XmlWriter, d: Redirdev): void {
  w.element('redirdev', [['bus', d.bus], ['type', d.source.type]], () => orderedChildren(w, ['source', 'info'], {
    source: () => formatChrSource(w, d.source),
    info: () => formatDeviceInfo(w, d.info),
  }, d.extra), attrsOf(d.extra));
}

/** One <usbdev> rule of a <redirfilter>; -1 matches anything. */
export interface UsbRedirRule {
  usbClass: number;
  vendor: number;
  product: number;
  /** BCD, e.g. 0x0109 for '1.09' */
  version: number;
  allow: boolean;
}

export interface Redirfilter {
  kind: 'redirfilter';
  rules: UsbRedirRule[];
  extra?: Extra;
}

function hexAttr(r: ElementReader, name: string, max: number, what: string): number {
  const v = r.attr(name);
  if (v === undefined || v === '-1') return -1;
  const n = /^\s*(0x)?[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : NaN;
  if (!Number.isInteger(n) || n > max) throw new XmlError(`Invalid USB ${what} value ${v}`);
  return n;
}

/** 'major.minor' as BCD: the minor part is two digits, '9.4' meaning 9.40. */
function parseVersion(v: string | undefined): number {
  if (v === undefined || v === '-1') return -1;
  const m = /^([0-9a-f]{1,2})(?:\.([0-9a-f]{1,2}))?$/i.exec(v.trim());
  if (!m) throw new XmlError(`Cannot parse USB device version ${v}`);
  return (parseInt(m[1]!, 16) << 8) | parseInt((m[2] ?? '0').padEnd(2, '0'), 16);
}

const hex = (n: number, width: number) => `0x${n.toString(16).toUpperCase().padStart(width, '0')}`;

/** virDomainRedirFilterDefParseXML */
export function parseRedirfilter(r: ElementReader): Redirfilter {
  const rules = r.children('usbdev').map((u) => {
    const allow = propYesNo(u, 'allow');
    if (allow === undefined) throw new XmlError("Invalid USB device 'allow' value");
    return {
      usbClass: hexAttr(u, 'class', 0xff, 'Class code'),
      vendor: hexAttr(u, 'vendor', 0xffff, 'vendor ID'),
      product: hexAttr(u, 'product', 0xffff, 'product ID'),
      version: parseVersion(u.attr('version')),
      allow: allow === 'yes',
    };
  });
  const f: Redirfilter = { kind: 'redirfilter', rules };
  const extra = r.rest();
  if (extra) f.extra = extra;
  return f;
}

/** virDomainRedirFilterDefFormat */
export function formatRedirfilter(w: XmlWriter, f: Redirfilter): void {
  w.element('redirfilter', [], () => {
    for (const u of f.rules) {
      w.empty('usbdev', [
        ['class', u.usbClass < 0 ? undefined : hex(u.usbClass, 2)],
        ['vendor', u.vendor < 0 ? undefined : hex(u.vendor, 4)],
        ['product', u.product < 0 ? undefined : hex(u.product, 4)],
        ['version', u.version < 0 ? undefined : `${(u.version >> 8).toString(16)}.${(u.version & 0xff).toString(16).padStart(2, '0')}`],
        ['allow', u.allow ? 'yes' : 'no'],
      ]);
    }
    w.extraChildren(f.extra);
  }, attrsOf(f.extra));
}

/** The usb-redir 'filter' property: class:vendor:product:version:allow rules joined by '|'. */
export function redirFilterString(f: Redirfilter): string {
  const n = (v: number, width: number) => (v < 0 ? '-1' : hex(v, width));
  return f.rules.map((u) => `${n(u.usbClass, 2)}:${n(u.vendor, 4)}:${n(u.product, 4)}:${n(u.version, 4)}:${u.allow ? 1 : 0}`).join('|');
}
