// <redirdev bus='usb' type='spicevmc'/>: a USB device redirected from a client over a
// character device (virDomainRedirdevDef): type, parse, format. The host side is a
// chardev source (chardev.ts); the device has the usual info (boot order, address).
import { ConfigUnsupportedError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { CHR_TYPES, type ChrSource, type ChrType, formatChrSource, parseChrSource } from './chardev.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { propEnum } from './props.js';

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
