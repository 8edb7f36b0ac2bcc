// <ip> (with <tftp> and <dhcp>: ranges, static hosts, bootp, lease times) and <route> of a network
// (virNetworkIPDefParseXML / virNetworkIPDefFormat, virNetDevIPRouteParseXML / ...Format).
// libvirt always writes <ip> with an end tag, even when it has nothing inside.
import { XmlError } from '../../util/errors.js';
import type { ElementReader, XmlWriter } from '../../util/xml.js';
import { type IpFamily, formatMac, ipFamily, normalizeIp, parseMacOctets } from '../interface-util.js';
import { propEnum, propUInt } from '../props.js';

export const LEASE_UNITS = ['seconds', 'minutes', 'hours'] as const;
export interface DhcpLease {
  expiry: number;
  unit: (typeof LEASE_UNITS)[number];
}
export interface DhcpRange {
  start: string;
  end: string;
  lease?: DhcpLease;
}
export interface DhcpHost {
  mac?: string;
  id?: string;
  name?: string;
  ip?: string;
  lease?: DhcpLease;
}
export interface NetworkIp {
  family?: string;
  address?: string;
  netmask?: string;
  prefix?: number;
  localPtr?: 'yes' | 'no';
  tftp?: string;
  ranges: DhcpRange[];
  hosts: DhcpHost[];
  bootp?: { file: string; server?: string };
}
export interface NetworkRoute {
  family?: string;
  address: string;
  netmask?: string;
  prefix?: number;
  gateway: string;
  metric?: number;
}

function parseLease(r: ElementReader): DhcpLease | undefined {
  const l = r.child('lease');
  if (!l) return undefined;
  const expiry = propUInt(l, 'expiry', { required: true })!;
  const unit = propEnum(l, 'unit', LEASE_UNITS) ?? 'minutes';
  return { expiry, unit };
}

function addr(raw: string | undefined, what: string, network: string): string | undefined {
  if (raw === undefined) return undefined;
  const ip = normalizeIp(raw);
  if (!ip) throw new XmlError(`Invalid ${what} '${raw}' in network '${network}'`);
  return ip;
}

function parseDhcp(d: ElementReader, ip: NetworkIp, family: IpFamily, network: string): void {
  for (const r of d.children('range')) {
    const start = addr(r.attr('start'), 'dhcp range start', network);
    const end = addr(r.attr('end'), 'dhcp range end', network);
    if (!start) throw new XmlError(`Missing 'start' attribute in dhcp range for network '${network}'`);
    if (!end) throw new XmlError(`Missing 'end' attribute in dhcp range for network '${network}'`);
    const range: DhcpRange = { start, end };
    const lease = parseLease(r);
    if (lease) range.lease = lease;
    ip.ranges.push(range);
  }
  for (const h of d.children('host')) {
    const host: DhcpHost = {};
    const mac = h.attr('mac');
    if (mac !== undefined) {
      if (family === 'ipv6') throw new XmlError(`Invalid to specify MAC address '${mac}' in network '${network}' IPv6 static host definition`);
      const o = parseMacOctets(mac);
      if (!o) throw new XmlError(`Cannot parse MAC address '${mac}' in network '${network}'`);
      if (o[0]! & 1) throw new XmlError(`expected unicast mac address, found multicast '${mac}' in network '${network}'`);
      host.mac = formatMac(o);
    }
    const id = h.attr('id');
    if (id !== undefined) {
      if (!/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})*$/.test(id)) throw new XmlError(`Invalid character '${id}' in id '${id}' of network '${network}'`);
      host.id = id;
    }
    const name = h.attr('name');
    if (name !== undefined) {
      if (!/^[a-zA-Z]/.test(name)) throw new XmlError(`Cannot use host name '${name}' in network '${network}'`);
      host.name = name;
    }
    const ipText = h.attr('ip');
    if (ipText !== undefined) host.ip = addr(ipText, 'IP address in static host definition', network);
    if (!host.mac && !host.id && !host.name) {
      throw new XmlError(`Static host definition in network '${network}' must have mac or name or id attribute`);
    }
    if (!host.ip && (host.mac || family === 'ipv6')) {
      throw new XmlError(`Missing IP address in static host definition for network '${network}'`);
    }
    const lease = parseLease(h);
    if (lease) host.lease = lease;
    ip.hosts.push(host);
  }
  const bootp = d.child('bootp');
  const file = bootp?.attr('file');
  if (bootp && file) {
    ip.bootp = { file };
    const server = bootp.attr('server');
    if (server) ip.bootp.server = addr(server, 'bootp server', network)!;
  }
}

export function parseNetworkIp(r: ElementReader, network: string): NetworkIp {
  const ip: NetworkIp = { ranges: [], hosts: [] };
  const family = r.attr('family');
  if (family) ip.family = family;
  const address = r.attr('address');
  if (address !== undefined) {
    const a = normalizeIp(address);
    if (!a) throw new XmlError(`Invalid address '${address}' in network '${network}'`);
    ip.address = a;
  }
  const fam = ip.address ? ipFamily(ip.address)! : undefined;
  if (family !== undefined && family !== 'ipv4' && family !== 'ipv6') {
    throw new XmlError(`Unrecognized family '${family}' in network '${network}'`);
  }
  if (family && fam && family !== fam) throw new XmlError(`Family '${family}' specified for non-${family} address '${address}' in network '${network}'`);
  if (!fam) throw new XmlError(`Missing required address attribute in network '${network}'`);
  const netmask = r.attr('netmask');
  const prefix = propUInt(r, 'prefix');
  if (netmask !== undefined) {
    if (prefix !== undefined) throw new XmlError(`Network '${network}' IP address cannot have both a prefix and a netmask`);
    if (fam !== 'ipv4') throw new XmlError(`netmask not supported for address '${ip.address}' in network '${network}' (IPv4 only)`);
    const m = normalizeIp(netmask);
    if (!m || ipFamily(m) !== 'ipv4') throw new XmlError(`Invalid netmask '${netmask}' in network '${network}'`);
    ip.netmask = m;
  }
  if (prefix !== undefined) {
    if (prefix > (fam === 'ipv4' ? 32 : 128)) throw new XmlError(`Invalid ${fam === 'ipv4' ? 'IPv4' : 'IPv6'} prefix '${prefix}' in network '${network}'`);
    ip.prefix = prefix;
  }
  const localPtr = propEnum(r, 'localPtr', ['yes', 'no'] as const);
  if (localPtr) ip.localPtr = localPtr;
  const dhcps = r.children('dhcp');
  if (dhcps[0]) parseDhcp(dhcps[0], ip, fam, network);
  const tftp = r.child('tftp');
  if (tftp) {
    if (fam !== 'ipv4') throw new XmlError(`Unsupported <tftp> element in an IPv6 element in network '${network}'`);
    const root = tftp.attr('root');
    if (root) ip.tftp = root;
  }
  return ip;
}

function formatLease(w: XmlWriter, name: string, attrs: [string, string | undefined][], lease: DhcpLease | undefined): void {
  if (!lease) {
    w.empty(name, attrs);
    return;
  }
  w.open(name, attrs);
  w.empty('lease', [['expiry', lease.expiry], ['unit', lease.expiry ? lease.unit : undefined]]);
  w.close(name);
}

export function formatNetworkIp(w: XmlWriter, ip: NetworkIp): void {
  w.open('ip', [['family', ip.family], ['address', ip.address], ['netmask', ip.netmask], ['prefix', ip.prefix || undefined], ['localPtr', ip.localPtr]]);
  if (ip.tftp) w.empty('tftp', [['root', ip.tftp]]);
  if (ip.ranges.length || ip.hosts.length) {
    w.open('dhcp');
    for (const r of ip.ranges) formatLease(w, 'range', [['start', r.start], ['end', r.end]], r.lease);
    for (const h of ip.hosts) formatLease(w, 'host', [['mac', h.mac], ['id', h.id], ['name', h.name], ['ip', h.ip]], h.lease);
    if (ip.bootp) w.empty('bootp', [['file', ip.bootp.file], ['server', ip.bootp.server]]);
    w.close('dhcp');
  }
  w.close('ip');
}

export function parseRoute(r: ElementReader, network: string): NetworkRoute {
  const address = addr(r.attr('address'), 'route address', network);
  const gateway = addr(r.attr('gateway'), 'route gateway', network);
  if (!address) throw new XmlError(`Missing required address attribute in route definition of network '${network}'`);
  if (!gateway) throw new XmlError(`Missing required gateway attribute in route definition of network '${network}'`);
  const route: NetworkRoute = { address, gateway };
  const family = r.attr('family');
  if (family) route.family = family;
  const netmask = addr(r.attr('netmask'), 'route netmask', network);
  if (netmask) route.netmask = netmask;
  const prefix = propUInt(r, 'prefix');
  if (prefix !== undefined) route.prefix = prefix;
  const metric = propUInt(r, 'metric');
  if (metric !== undefined) route.metric = metric;
  return route;
}

export function formatRoute(w: XmlWriter, r: NetworkRoute): void {
  w.empty('route', [
    ['family', r.family], ['address', r.address], ['netmask', r.netmask], ['prefix', r.prefix],
    ['gateway', r.gateway], ['metric', r.metric],
  ]);
}
