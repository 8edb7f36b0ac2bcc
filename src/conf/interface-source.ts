// <interface><source .../>: the connection, by interface type; plus the IP
// parts (<ip>/<route>, host side inside <source>, guest side on <interface>)
// and passt's <portForward>. Type, parse and format side by side.
import { propEnum, propInt, propUInt, propYesNo } from './props.js';
import { ConfigUnsupportedError, InvalidArgError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import type { YesNo } from './common.js';
import { type IpFamily, ipFamily, ipToBigInt, nonEmpty, parseLongLong10, normalizeIp, normalizeUuid, requiredAttr } from './interface-util.js';

// ---- <ip> / <route> (virDomainNetIPInfoParseXML / virDomainNetIPInfoFormat) ----

export interface NetIp {
  address: string;
  /** Always printed; derived from the address as libvirt does. */
  family: IpFamily;
  prefix?: number;
  peer?: string;
  extra?: Extra;
}

export interface NetRoute {
  family?: string;
  address: string;
  netmask?: string;
  prefix?: number;
  gateway: string;
  metric?: number;
  extra?: Extra;
}

export interface NetIpInfo {
  ip: NetIp[];
  route: NetRoute[];
}

function parseIp(r: ElementReader): NetIp {
  const address = r.attr('address');
  if (address === undefined) throw new XmlError('Missing required address in <ip>');
  const familyStr = r.attr('family');
  const wanted: IpFamily | undefined = familyStr === 'ipv4' || familyStr === 'ipv6' ? familyStr : ipFamily(address);
  const norm = normalizeIp(address);
  if (!wanted || !norm || ipFamily(address) !== wanted) throw new XmlError(`Invalid address '${address}' in <ip>`);
  const ip: NetIp = { address: norm, family: wanted };
  const prefixStr = r.attr('prefix');
  if (prefixStr !== undefined) {
    const p = /^\s*\+?[0-9]+$/.test(prefixStr) ? Number(prefixStr) : NaN;
    if (!Number.isSafeInteger(p) || p > 0xffffffff || p > (wanted === 'ipv6' ? 128 : 32)) {
      throw new XmlError(`Invalid prefix value '${prefixStr}' in <ip>`);
    }
    if (p) ip.prefix = p;
  }
  const peer = r.attr('peer');
  if (peer !== undefined) {
    const p = normalizeIp(peer);
    if (!p || ipFamily(peer) !== wanted) throw new InvalidArgError(`Invalid peer '${peer}' in <ip>`);
    ip.peer = p;
  }
  const extra = r.rest();
  if (extra) ip.extra = extra;
  return ip;
}

function isNetworkAddress(address: string, bits: number, maskBits: bigint): boolean {
  const a = ipToBigInt(address);
  const all = (1n << BigInt(bits)) - 1n;
  return (a & maskBits & all) === a;
}

function prefixMask(prefix: number, bits: number): bigint {
  if (prefix <= 0) return 0n;
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

/** virNetDevIPRouteParseXML + virNetDevIPRouteCreate. */
function parseRoute(r: ElementReader, detail: string): NetRoute {
  const family = nonEmpty(r.attr('family'));
  const address = nonEmpty(r.attr('address'));
  const netmask = nonEmpty(r.attr('netmask'));
  const gateway = nonEmpty(r.attr('gateway'));
  const num = (name: string, what: string): number | undefined => {
    const raw = nonEmpty(r.attr(name));
    if (raw === undefined) return undefined;
    const v = /^\s*\+?[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(v)) throw new XmlError(`${detail}: Invalid ${what} specified in route definition`);
    return v;
  };
  const prefix = num('prefix', 'prefix');
  const metric = num('metric', 'metric');
  const fail = (msg: string): never => {
    throw new XmlError(`${detail}: ${msg}`);
  };
  if (metric === 0) fail('Invalid metric value, must be > 0 in route definition');
  if (address === undefined) fail('Missing required address attribute in route definition');
  if (gateway === undefined) fail('Missing required gateway attribute in route definition');
  const addrFam = ipFamily(address!);
  const gwFam = ipFamily(gateway!);
  if (!addrFam) fail(`Bad network address '${address}' in route definition`);
  if (!gwFam) fail(`Bad gateway address '${gateway}' in route definition`);
  let bits = 32;
  let mask: bigint;
  if (family === undefined || family === 'ipv4') {
    if (addrFam !== 'ipv4') {
      fail(family === undefined
        ? `No family specified for non-IPv4 address '${address}' in route definition`
        : `IPv4 family specified for non-IPv4 address '${address}' in route definition`);
    }
    if (gwFam !== 'ipv4') {
      fail(family === undefined
        ? `No family specified for non-IPv4 gateway '${address}' in route definition`
        : `IPv4 family specified for non-IPv4 gateway '${address}' in route definition`);
    }
    if (netmask !== undefined) {
      const nmFam = ipFamily(netmask);
      if (!nmFam) fail(`Bad netmask address '${netmask}' in route definition`);
      if (nmFam !== 'ipv4') fail(`Invalid netmask '${netmask}' for address '${address}' (both must be IPv4)`);
      if (prefix !== undefined) fail('Route definition cannot have both a prefix and a netmask');
    }
    if ((prefix ?? 0) > 32) fail(`Invalid prefix ${prefix} specified in route definition, must be 0 - 32`);
    mask = netmask !== undefined ? ipToBigInt(netmask) : prefixMask(prefix ?? 0, 32);
  } else if (family === 'ipv6') {
    bits = 128;
    if (addrFam !== 'ipv6') fail(`ipv6 family specified for non-IPv6 address '${address}' in route definition`);
    if (netmask !== undefined) fail(`Specifying netmask invalid for IPv6 address '${address}' in route definition`);
    if (gwFam !== 'ipv6') fail(`ipv6 specified for non-IPv6 gateway address '${gateway}' in route definition`);
    if ((prefix ?? 0) > 128) fail(`Invalid prefix ${prefix} specified in route definition, must be 0 - 128`);
    mask = prefixMask(prefix ?? 0, 128);
  } else {
    return fail(`Unrecognized family '${family}' in route definition`);
  }
  if (!isNetworkAddress(address!, bits, mask)) fail(`Address '${address}' in route definition is not a network address`);
  const route: NetRoute = { address: normalizeIp(address!)!, gateway: normalizeIp(gateway!)! };
  if (family !== undefined) route.family = family;
  if (netmask !== undefined) route.netmask = normalizeIp(netmask)!;
  if (prefix !== undefined) route.prefix = prefix;
  if (metric !== undefined) route.metric = metric;
  const extra = r.rest();
  if (extra) route.extra = extra;
  return route;
}

/** The <ip>/<route> children of `r`; undefined when there are none. */
export function parseNetIpInfo(r: ElementReader, detail: string): NetIpInfo | undefined {
  const ips = r.children('ip');
  const routes = r.children('route');
  if (ips.length === 0 && routes.length === 0) return undefined;
  return { ip: ips.map(parseIp), route: routes.map((x) => parseRoute(x, detail)) };
}

export function formatNetIpInfo(w: XmlWriter, info: NetIpInfo | undefined): void {
  if (!info) return;
  for (const ip of info.ip) {
    w.empty('ip', [['address', ip.address], ['family', ip.family], ['prefix', ip.prefix || undefined], ['peer', ip.peer]], ip.extra);
  }
  for (const rt of info.route) {
    w.empty('route', [
      ['family', rt.family], ['address', rt.address], ['netmask', rt.netmask], ['prefix', rt.prefix],
      ['gateway', rt.gateway], ['metric', rt.metric],
    ], rt.extra);
  }
}

// ---- <portForward> (passt) ----

export const NET_PROTOS = ['tcp', 'udp'] as const;
export type NetProto = (typeof NET_PROTOS)[number];

export interface PortForwardRange {
  start?: number;
  end?: number;
  to?: number;
  exclude?: YesNo;
  extra?: Extra;
}

export interface PortForward {
  proto: NetProto;
  address?: string;
  dev?: string;
  range: PortForwardRange[];
  extra?: Extra;
}

export function parsePortForwards(r: ElementReader): PortForward[] {
  return r.children('portForward').map((p) => {
    const proto = propEnum(p, 'proto', NET_PROTOS, { required: true })!;
    const pf: PortForward = { proto, range: [] };
    const address = p.attr('address');
    if (address !== undefined) {
      const a = normalizeIp(address);
      if (!a) throw new XmlError(`Invalid address '${address}' in <portForward>`);
      pf.address = a;
    }
    const dev = p.attr('dev');
    if (dev !== undefined) pf.dev = dev;
    for (const rg of p.children('range')) {
      const range: PortForwardRange = {};
      const start = propUInt(rg, 'start', { nonzero: true });
      const end = propUInt(rg, 'end', { nonzero: true });
      const to = propUInt(rg, 'to', { nonzero: true });
      const exclude = propYesNo(rg, 'exclude');
      if (start !== undefined) range.start = start;
      if (end !== undefined) range.end = end;
      if (to !== undefined) range.to = to;
      if (exclude !== undefined) range.exclude = exclude;
      const extra = rg.rest();
      if (extra) range.extra = extra;
      pf.range.push(range);
    }
    const extra = p.rest();
    if (extra) pf.extra = extra;
    return pf;
  });
}

export function formatPortForwards(w: XmlWriter, list: PortForward[]): void {
  for (const pf of list) {
    w.element('portForward', [['proto', pf.proto], ['address', pf.address], ['dev', pf.dev]], () => {
      for (const rg of pf.range) {
        const attrs: [string, string | number | undefined][] = rg.start
          ? [['start', rg.start], ['end', rg.end], ['to', rg.to]]
          : [];
        attrs.push(['exclude', rg.exclude]);
        if (attrs.every(([, v]) => v === undefined) && !rg.extra) continue;
        w.empty('range', attrs, rg.extra);
      }
    }, pf.extra);
  }
}

// ---- <source> by interface type ----

/** virNetDevMacVLanMode */
export const MACVLAN_MODES = ['vepa', 'private', 'bridge', 'passthrough'] as const;

/** Attributes of <source> (libvirt's names); which ones apply depends on the interface type. */
export interface NetSource {
  /** type='network' */
  network?: string;
  portgroup?: string;
  /** type='network' (UUID, live XML only) or type='vds' (integer). */
  portid?: string;
  /** type='bridge' */
  bridge?: string;
  /** type='direct' (host device), 'vdpa' (device path), 'user'/'vhostuser' with the passt backend. */
  dev?: string;
  /** type='direct': macvlan mode (default vepa); type='vhostuser': client|server. */
  mode?: string;
  /** type='internal' */
  name?: string;
  /** type='server'/'client'/'mcast'/'udp' */
  address?: string;
  port?: number;
  local?: { address: string; port: number; extra?: Extra };
  /** type='vhostuser' */
  type?: 'unix';
  path?: string;
  reconnect?: { enabled: YesNo; timeout?: number; extra?: Extra };
  /** type='vds' */
  switchid?: string;
  portgroupid?: string;
  connectionid?: string;
  /** Host-side addresses and routes (type='ethernet'). */
  hostIP?: NetIpInfo;
  extra?: Extra;
}

/** Interface types whose <source> is required. */
const SOURCE_REQUIRED = new Set(['network', 'vds', 'internal', 'bridge', 'direct', 'vdpa', 'client', 'server', 'mcast', 'udp']);

export interface SourceParseContext {
  inactive: boolean;
  passt: boolean;
  ignored: string[];
}

/** The per-type part of virDomainNetDefParseXML for <source> (not type='hostdev'). */
export function parseNetSource(type: string, src: ElementReader | undefined, ctx: SourceParseContext): NetSource | undefined {
  if (!src) {
    if (SOURCE_REQUIRED.has(type)) throw new XmlError(`interface type='${type}' requires a 'source' element`);
    return type === 'vhostuser' ? { type: 'unix' } : undefined;
  }
  const s: NetSource = {};
  const hostIP = parseNetIpInfo(src, 'interface host IP');
  if (hostIP) s.hostIP = hostIP;
  const set = <K extends keyof NetSource>(k: K, v: NetSource[K] | undefined) => {
    if (v !== undefined) s[k] = v;
  };
  switch (type) {
    case 'network': {
      s.network = requiredAttr(src, 'network');
      set('portgroup', src.attr('portgroup'));
      const portid = src.attr('portid');
      if (portid !== undefined) {
        if (ctx.inactive) ctx.ignored.push('source/@portid');
        else {
          const u = normalizeUuid(portid);
          if (!u) throw new XmlError(`Invalid value for attribute 'portid' in element 'source': '${portid}'. Expected UUID`);
          s.portid = u;
        }
      }
      break;
    }
    case 'vds': {
      const sw = requiredAttr(src, 'switchid');
      const u = normalizeUuid(sw);
      if (!u) throw new XmlError(`Invalid value for attribute 'switchid' in element 'source': '${sw}'. Expected UUID`);
      s.switchid = u;
      s.portid = parseLongLong10(src, 'portid') ?? '0';
      set('portgroupid', src.attr('portgroupid'));
      s.connectionid = parseLongLong10(src, 'connectionid') ?? '0';
      break;
    }
    case 'internal':
      s.name = requiredAttr(src, 'name');
      break;
    case 'bridge':
      s.bridge = requiredAttr(src, 'bridge');
      break;
    case 'direct':
      s.dev = requiredAttr(src, 'dev');
      s.mode = propEnum(src, 'mode', MACVLAN_MODES) ?? 'vepa';
      break;
    case 'vhostuser': {
      const t = src.attr('type');
      if (t !== undefined && t !== 'unix') throw new ConfigUnsupportedError(`Type='${t}' unsupported for <interface type='vhostuser'>`);
      s.type = 'unix';
      set('path', src.attr('path'));
      set('mode', propEnum(src, 'mode', ['client', 'server'] as const));
      const rc = src.child('reconnect');
      if (rc) {
        const enabled = propYesNo(rc, 'enabled');
        const timeout = propUInt(rc, 'timeout');
        if (enabled) {
          s.reconnect = { enabled };
          if (timeout !== undefined) s.reconnect.timeout = timeout;
          const extra = rc.rest();
          if (extra) s.reconnect.extra = extra;
        }
      }
      break;
    }
    case 'vdpa':
      s.dev = requiredAttr(src, 'dev');
      break;
    case 'client':
    case 'server':
    case 'mcast':
    case 'udp': {
      if (type === 'server') set('address', src.attr('address'));
      else s.address = requiredAttr(src, 'address');
      s.port = propInt(src, 'port', { required: true })!;
      if (type === 'udp') {
        const local = src.child('local');
        if (!local) throw new XmlError("'<local>' element missing for 'udp' socket interface");
        s.local = { address: requiredAttr(local, 'address'), port: propInt(local, 'port', { required: true })! };
        const extra = local.rest();
        if (extra) s.local.extra = extra;
      }
      break;
    }
    default:
      break;
  }
  if (ctx.passt) set('dev', src.attr('dev'));
  const extra = src.rest();
  if (extra) s.extra = extra;
  return s;
}

/** The per-type <source> of virDomainNetDefFormat; nothing when it would be empty. */
export function formatNetSource(w: XmlWriter, type: string, s: NetSource | undefined, passt: boolean): void {
  if (!s) return;
  const attrs: [string, string | number | undefined][] = [];
  switch (type) {
    case 'network':
      attrs.push(['network', s.network], ['portgroup', s.portgroup], ['portid', s.portid]);
      break;
    case 'vhostuser':
      if (!passt) attrs.push(['type', 'unix'], ['path', s.path], ['mode', s.mode === 'server' ? 'server' : 'client']);
      break;
    case 'bridge':
      attrs.push(['bridge', s.bridge]);
      break;
    case 'server':
    case 'client':
    case 'mcast':
    case 'udp':
      attrs.push(['address', s.address], ['port', s.port ?? 0]);
      break;
    case 'internal':
      attrs.push(['name', s.name]);
      break;
    case 'direct':
      attrs.push(['dev', s.dev], ['mode', s.mode ?? 'vepa']);
      break;
    case 'vdpa':
      attrs.push(['dev', s.dev]);
      break;
    case 'vds':
      attrs.push(['switchid', s.switchid], ['portid', s.portid ?? '0'], ['portgroupid', s.portgroupid], ['connectionid', s.connectionid ?? '0']);
      break;
    default:
      break;
  }
  if (passt) attrs.push(['dev', s.dev]);
  const body = () => {
    if (type === 'vhostuser' && !passt && s.reconnect) {
      w.empty('reconnect', [['enabled', s.reconnect.enabled], ['timeout', s.reconnect.enabled === 'yes' ? s.reconnect.timeout : undefined]], s.reconnect.extra);
    }
    if (type === 'udp' && s.local) w.empty('local', [['address', s.local.address], ['port', s.local.port]], s.local.extra);
    formatNetIpInfo(w, s.hostIP);
  };
  // virXMLFormatElement: no attributes and no children means no element.
  const wanted = attrs.some(([, v]) => v !== undefined) || !!s.extra || !!s.hostIP || (type === 'udp' && !!s.local) ||
    (type === 'vhostuser' && !passt && !!s.reconnect);
  if (!wanted) return;
  w.element('source', attrs, body, s.extra);
}
