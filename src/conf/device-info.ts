// The block every device ends with: <boot>, <alias>, <rom>, <acpi>, <address>
// (libvirt's virDomainDeviceInfo). Parsed and formatted in one place.
import type { ElementReader, XmlWriter } from '../util/xml.js';
import { type Address, parseAddress, formatAddress } from './address.js';
import { parseUIntAttr } from './common.js';

export interface DeviceInfo {
  boot?: { order: number; loadparm?: string };
  alias?: string;
  /** <master startport='N'/>: USB companion controllers (ich9-uhci*). */
  master?: { startport: number };
  rom?: { bar?: string; file?: string; enabled?: string };
  acpi?: { index: number };
  address?: Address;
}

export interface ParseContext {
  /** Parsing a definition (not live state): only user aliases survive, as in libvirt. */
  inactive: boolean;
}

export const USER_ALIAS_PREFIX = 'ua-';
const USER_ALIAS_RE = /^ua-[A-Za-z0-9_-]*$/;

export function isUserAlias(alias: string): boolean {
  return USER_ALIAS_RE.test(alias);
}

/** What was dropped while parsing, for lint: aliases libvirt discards. */
export interface DroppedAlias {
  alias: string;
  line: number;
}
export const droppedAliases = new WeakMap<DeviceInfo, DroppedAlias>();

export function parseDeviceInfo(r: ElementReader, ctx: ParseContext): DeviceInfo {
  const info: DeviceInfo = {};
  const boot = r.child('boot');
  if (boot) {
    const order = parseUIntAttr(boot, 'order');
    if (order !== undefined) {
      info.boot = { order };
      const lp = boot.attr('loadparm');
      if (lp !== undefined) info.boot.loadparm = lp;
    }
  }
  const alias = r.child('alias');
  const name = alias?.attr('name');
  if (alias && name) {
    if (!ctx.inactive || isUserAlias(name)) info.alias = name;
    else droppedAliases.set(info, { alias: name, line: alias.el.line });
  }
  const master = r.child('master');
  if (master) info.master = { startport: parseUIntAttr(master, 'startport') ?? 0 };
  const rom = r.child('rom');
  if (rom) {
    info.rom = {};
    const bar = rom.attr('bar');
    const file = rom.attr('file');
    const enabled = rom.attr('enabled');
    if (bar !== undefined) info.rom.bar = bar;
    if (file !== undefined) info.rom.file = file;
    if (enabled !== undefined) info.rom.enabled = enabled;
  }
  const acpi = r.child('acpi');
  if (acpi) {
    const index = parseUIntAttr(acpi, 'index');
    if (index !== undefined) info.acpi = { index };
  }
  const addr = r.child('address');
  if (addr) info.address = parseAddress(addr);
  return info;
}

export function formatDeviceInfo(w: XmlWriter, info: DeviceInfo, opts: { allowBoot?: boolean } = {}): void {
  if (info.boot && opts.allowBoot !== false) {
    w.empty('boot', [['order', info.boot.order], ['loadparm', info.boot.loadparm]]);
  }
  if (info.alias) w.empty('alias', [['name', info.alias]]);
  if (info.master) w.empty('master', [['startport', info.master.startport]]);
  if (info.rom) w.empty('rom', [['enabled', info.rom.enabled], ['bar', info.rom.bar], ['file', info.rom.file]]);
  if (info.acpi) w.empty('acpi', [['index', info.acpi.index]]);
  formatAddress(w, info.address);
}
