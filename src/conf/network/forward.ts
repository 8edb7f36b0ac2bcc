// <forward> of a network (virNetworkForwardDefParseXML / the forward part of virNetworkDefFormatBuf):
// mode, dev, managed; <driver>, <nat>, <pf>, and the pool: <interface dev> or PCI <address> entries.
import { ConfigUnsupportedError, XmlError } from '../../util/errors.js';
import type { ElementReader, XmlWriter } from '../../util/xml.js';
import { type PciAddress, formatHostPciAddress, formatPciAddressString, parsePciAddressFields } from '../address.js';
import { type YesNo } from '../common.js';
import { normalizeIp } from '../interface-util.js';
import { propEnum, propUInt, propYesNo } from '../props.js';

/** libvirt's virNetworkForwardType table, in order (index 0: no <forward>). */
export const FORWARD_MODES = ['none', 'nat', 'route', 'open', 'bridge', 'private', 'vepa', 'passthrough', 'hostdev'] as const;
export type ForwardMode = (typeof FORWARD_MODES)[number];

/** virDeviceHostdevPCIDriverName */
export const FORWARD_DRIVER_NAMES = ['default', 'kvm', 'vfio', 'xen'] as const;

/** One pool entry: a host interface (netdev) or a PCI function. */
export type ForwardIf = { type: 'netdev'; dev: string } | { type: 'pci'; address: PciAddress };

export interface ForwardNat {
  ipv6?: YesNo;
  address?: { start: string; end?: string };
  port?: { start: number; end?: number };
}

export interface Forward {
  mode: Exclude<ForwardMode, 'none'>;
  managed: boolean;
  driver?: { name?: (typeof FORWARD_DRIVER_NAMES)[number]; model?: string };
  nat?: ForwardNat;
  /** <pf dev>: at most one, as libvirt allows. */
  pf?: string;
  ifs: ForwardIf[];
}

function parseNat(n: ElementReader, network: string): ForwardNat {
  const nat: ForwardNat = {};
  const ipv6 = propYesNo(n, 'ipv6');
  if (ipv6) nat.ipv6 = ipv6;
  const addrs = n.children('address');
  if (addrs.length > 1) throw new XmlError(`Only one <address> element is allowed in <nat> in <forward> in network ${network}`);
  const a = addrs[0];
  if (a) {
    const start = a.attr('start');
    const end = a.attr('end');
    if (start === undefined) throw new XmlError(`missing 'start' attribute in <address> element in <nat> in <forward> in network ${network}`);
    const s = normalizeIp(start);
    if (!s) throw new XmlError(`Bad ipv4 start address '${start}' in <nat> in <forward> in network '${network}'`);
    nat.address = { start: s };
    if (end !== undefined) {
      const e = normalizeIp(end);
      if (!e) throw new XmlError(`Bad ipv4 end address '${end}' in <nat> in <forward> in network '${network}'`);
      nat.address.end = e;
    }
  }
  const ports = n.children('port');
  if (ports.length > 1) throw new XmlError(`Only one <port> element is allowed in <nat> in <forward> in network ${network}`);
  const p = ports[0];
  if (p) {
    const start = propUInt(p, 'start');
    const end = propUInt(p, 'end');
    if (start === undefined) throw new XmlError(`Missing 'start' attribute in <port> in <nat> in <forward> in network ${network}`);
    if (start > 65535 || (end !== undefined && (end > 65535 || end < start))) {
      throw new XmlError(`Invalid port range '${start}-${end ?? 0}' in network '${network}'`);
    }
    nat.port = end === undefined ? { start } : { start, end };
  }
  return nat;
}

export function parseForward(f: ElementReader, network: string): Forward | undefined {
  const rawMode = f.attr('mode');
  let mode: ForwardMode = 'nat';
  if (rawMode !== undefined) {
    if (!(FORWARD_MODES as readonly string[]).includes(rawMode)) throw new ConfigUnsupportedError(`unknown forwarding type '${rawMode}'`);
    mode = rawMode as ForwardMode;
  }
  const managed = f.attr('managed') === 'yes';
  const forwardDev = f.attr('dev') || undefined;
  const fwd: Forward = { mode: mode === 'none' ? 'nat' : mode, managed, ifs: [] };

  const driver = f.child('driver');
  if (driver) {
    const name = propEnum(driver, 'name', FORWARD_DRIVER_NAMES);
    const model = driver.attr('model');
    fwd.driver = {};
    if (name && name !== 'default') fwd.driver.name = name;
    if (model) fwd.driver.model = model;
  }
  const nats = f.children('nat');
  if (nats.length > 1) throw new XmlError(`Only one <nat> element is allowed in <forward> of network ${network}`);
  if (nats[0]) {
    if (mode !== 'nat') throw new XmlError(`The <nat> element can only be used when <forward> 'mode' is 'nat'`);
    fwd.nat = parseNat(nats[0], network);
  }
  const pfs = f.children('pf');
  if (pfs.length > 1) throw new XmlError(`Only one <pf> element is allowed in <forward> of network ${network}`);
  const interfaces = f.children('interface');
  const addresses = f.children('address');
  // A <pf> may come with the list it expanded to (a started network's live XML); a list is one kind.
  if (interfaces.length > 0 && addresses.length > 0) {
    throw new XmlError(`<address>, <interface>, and <pf> elements in <forward> of network ${network} are mutually exclusive`);
  }
  if (pfs[0]) {
    const dev = pfs[0].attr('dev');
    if (!dev) throw new XmlError('Missing required dev attribute in <pf> element');
    fwd.pf = dev;
  }
  for (const [i, it] of interfaces.entries()) {
    const dev = it.attr('dev');
    if (!dev) throw new XmlError(`Missing required dev attribute in <forward> <interface> element of network ${network}`);
    if (i === 0 && forwardDev && forwardDev !== dev) {
      throw new XmlError(`forward dev '${forwardDev}' must match first interface element dev '${dev}' in network ${network}`);
    }
    if (fwd.ifs.some((x) => x.type === 'netdev' && x.dev === dev)) {
      throw new XmlError(`interface '${dev}' can only be listed once in network ${network}`);
    }
    fwd.ifs.push({ type: 'netdev', dev });
  }
  for (const a of addresses) {
    const type = a.attr('type');
    if (type !== 'pci') throw new XmlError(`unsupported address type '${type ?? ''}' in network ${network}`);
    const address = parsePciAddressFields(a);
    const text = formatPciAddressString(address);
    if (fwd.ifs.some((x) => x.type === 'pci' && formatPciAddressString(x.address) === text)) {
      throw new XmlError(`PCI device '${text}' can only be listed once in network ${network}`);
    }
    fwd.ifs.push({ type: 'pci', address });
  }
  if (fwd.ifs.length === 0 && pfs.length === 0 && forwardDev) fwd.ifs.push({ type: 'netdev', dev: forwardDev });
  const rest = f.rest();
  if (rest?.children.length) throw new XmlError(`unknown element <${rest.children[0]!.name}> in <forward> of network ${network}`);
  return mode === 'none' ? undefined : fwd;
}

/** The first pool entry's device name (virNetworkDefForwardIf(def, 0)). */
export function forwardDev(f: Forward): string | undefined {
  const first = f.ifs[0];
  return first?.type === 'netdev' ? first.dev : undefined;
}

function natIsSet(n: ForwardNat | undefined): boolean {
  return !!n && (n.address !== undefined || n.port !== undefined || n.ipv6 !== undefined);
}

function formatNat(w: XmlWriter, n: ForwardNat | undefined): void {
  if (!n || !natIsSet(n)) return;
  w.element('nat', [['ipv6', n.ipv6]], () => {
    if (n.address) w.empty('address', [['start', n.address.start], ['end', n.address.end]]);
    if (n.port) w.empty('port', [['start', n.port.start], ['end', n.port.end]]);
  });
}

/** `inactive`: VIR_NETWORK_XML_INACTIVE (a <pf> network's VF list, built at start, is left out). */
export function formatForward(w: XmlWriter, f: Forward | undefined, inactive: boolean): void {
  if (!f) return;
  const dev = f.pf === undefined ? forwardDev(f) : undefined;
  const attrs: [string, string | undefined][] = [['dev', dev], ['mode', f.mode]];
  if (f.mode === 'hostdev') attrs.push(['managed', f.managed ? 'yes' : 'no']);
  const showIfs = f.ifs.length > 0 && (f.pf === undefined || !inactive);
  const driver = f.driver && (f.driver.name || f.driver.model) ? f.driver : undefined;
  const short = !(f.ifs.length || f.pf !== undefined || natIsSet(f.nat) || driver);
  if (short) {
    w.empty('forward', attrs);
    return;
  }
  w.open('forward', attrs);
  if (driver) w.empty('driver', [['name', driver.name], ['model', driver.model]]);
  formatNat(w, f.nat);
  if (f.pf !== undefined) w.empty('pf', [['dev', f.pf]]);
  if (showIfs) {
    for (const i of f.ifs) {
      if (i.type === 'netdev') w.empty('interface', [['dev', i.dev]]);
      else formatHostPciAddress(w, i.address, true);
    }
  }
  w.close('forward');
}
