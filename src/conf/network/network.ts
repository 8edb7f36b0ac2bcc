// The <network> document (virNetworkDefParseXML / virNetworkDefFormatBuf): parse, the checks libvirt
// makes while parsing, and the canonical format. Element order is libvirt's, whatever the input's.
import { randomUUID } from 'node:crypto';
import { ConfigUnsupportedError, XmlDetailError, XmlError } from '../../util/errors.js';
import { ElementReader, type XmlElement, XmlWriter, parseXml } from '../../util/xml.js';
import type { YesNo } from '../common.js';
import { type Vlan, type VirtualPort, formatVirtualPort, formatVlan, parseVirtualPort, parseVlan } from '../interface-netdev.js';
import { normalizeUuid } from '../interface-util.js';
import { propYesNo } from '../props.js';
import { type Bandwidth, formatBandwidth, parseBandwidth } from './bandwidth.js';
import {
  type NetworkBridge, type NetworkDomainName, formatBridge, formatDomainName, parseBridge, parseBridgeMac, parseDomainName, parseMtu, runsOwnBridge,
} from './bridge.js';
import { type NetworkDns, formatDns, parseDns } from './dns.js';
import { type Forward, type ForwardMode, formatForward, parseForward } from './forward.js';
import { type NetworkIp, type NetworkRoute, formatNetworkIp, formatRoute, parseNetworkIp, parseRoute } from './ip.js';
import { DNSMASQ_NS, dnsmasqPrefix, formatDnsmasqOptions, formatMetadata, parseDnsmasqOptions } from './metadata.js';
import { type PortGroup, formatPortGroup, parsePortGroup } from './portgroup.js';

export interface Network {
  name: string;
  uuid: string;
  /** ipv6='yes': IPv6 between guests without an IPv6 address on the bridge (written only when yes). */
  ipv6?: boolean;
  trustGuestRxFilters?: YesNo;
  title?: string;
  description?: string;
  metadata?: XmlElement;
  forward?: Forward;
  bridge: NetworkBridge;
  mtu?: number;
  mac?: string;
  domain?: NetworkDomainName;
  dns?: NetworkDns;
  vlan?: Vlan;
  bandwidth?: Bandwidth;
  ips: NetworkIp[];
  routes: NetworkRoute[];
  virtualport?: VirtualPort;
  portgroups: PortGroup[];
  portIsolated?: YesNo;
  /** <dnsmasq:options> (the dnsmasq XML namespace). */
  dnsmasqOptions?: string[];
}

/** The forward mode, 'none' for a network without <forward>. */
export function forwardModeOf(net: Pick<Network, 'forward'>): ForwardMode {
  return net.forward?.mode ?? 'none';
}

const KNOWN = new Set([
  'name', 'uuid', 'title', 'description', 'metadata', 'forward', 'bridge', 'mtu', 'mac', 'domain', 'dns', 'vlan',
  'bandwidth', 'ip', 'route', 'virtualport', 'portgroup', 'port',
]);

/** Checks libvirt makes in virNetworkDefParseXML that depend on the forward mode. */
function checkForwardMode(net: Network, stpOrDelay: boolean): void {
  const mode = forwardModeOf(net);
  const f = net.forward;
  switch (mode) {
    case 'none': case 'nat': case 'route': case 'open':
      if (mode === 'open' && f && (f.ifs.length || f.pf !== undefined)) {
        throw new XmlError(`forward dev not allowed for network '${net.name}' with forward mode='${mode}'`);
      }
      if (f && (f.ifs.length > 1 || f.pf !== undefined)) {
        throw new XmlError(`multiple forwarding interfaces are only supported with a non-nat/route forward mode in network '${net.name}'`);
      }
      return;
    case 'private': case 'vepa': case 'passthrough': case 'hostdev':
      if (net.bridge.name) throw new XmlError(`bridge name not allowed in ${mode} mode (network '${net.name}')`);
      if (net.bridge.zone) throw new XmlError(`bridge zone not allowed in ${mode} mode (network '${net.name}')`);
      if (net.bridge.macTableManager) throw new XmlError(`bridge macTableManager setting not allowed in ${mode} mode (network '${net.name}')`);
    // falls through
    case 'bridge':
      if (stpOrDelay || net.bridge.zone) {
        throw new XmlError(`bridge delay/stp options only allowed in route, nat, and isolated mode, not in ${mode} (network '${net.name}')`);
      }
      if (net.bridge.name && f && (f.ifs.length || f.pf !== undefined)) {
        throw new XmlError(`A network with forward mode='${mode}' can specify a bridge name or a forward dev, but not both (network '${net.name}')`);
      }
  }
}

export interface ParseNetworkOptions {
  source?: string;
}

/** Parse a <network> document as libvirt's network driver does at net-define (no RNG validation). */
export function parseNetworkXml(xml: string | Uint8Array, opts: ParseNetworkOptions = {}): Network {
  const root = parseXml(xml, { source: opts.source });
  if (root.name !== 'network') throw new XmlError(`expecting root element of 'network', not '${root.name}'`);
  const r = new ElementReader(root);
  const name = r.child('name')?.text();
  if (!name) throw new XmlError('missing name information in network');
  if (name.includes('/')) throw new XmlDetailError(`name ${name} cannot contain '/'`);
  const rawUuid = r.child('uuid')?.text();
  let uuid: string;
  if (rawUuid === undefined || rawUuid === '') uuid = randomUUID();
  else {
    const u = normalizeUuid(rawUuid);
    if (!u) throw new XmlError('malformed uuid element');
    uuid = u;
  }
  const bridgeEl = r.child('bridge');
  const net: Network = { name, uuid, bridge: parseBridge(bridgeEl, name), ips: [], routes: [], portgroups: [] };
  const ipv6 = propYesNo(r, 'ipv6');
  if (ipv6 === 'yes') net.ipv6 = true;
  const trust = propYesNo(r, 'trustGuestRxFilters');
  if (trust) net.trustGuestRxFilters = trust;
  const title = r.child('title')?.text();
  if (title) {
    if (title.includes('\n')) throw new XmlError('Title must not contain newlines');
    net.title = title;
  }
  const description = r.child('description')?.text();
  if (description) net.description = description;
  const metadata = r.child('metadata');
  if (metadata && metadata.el.children.length) net.metadata = metadata.el;
  const mtu = parseMtu(r.child('mtu'));
  if (mtu) net.mtu = mtu;
  const mac = parseBridgeMac(r.child('mac'), name);
  if (mac) net.mac = mac;
  const domain = parseDomainName(r.child('domain'));
  if (domain) net.domain = domain;
  const dns = parseDns(r.child('dns'), name);
  if (dns) net.dns = dns;
  const vp = r.child('virtualport');
  if (vp) net.virtualport = parseVirtualPort(vp, false, []);
  const vlan = r.child('vlan');
  if (vlan) net.vlan = parseVlan(vlan);
  const bw = parseBandwidth(r.child('bandwidth'));
  if (bw) net.bandwidth = bw;
  for (const pg of r.children('portgroup')) {
    const p = parsePortGroup(pg, name);
    if (net.portgroups.some((x) => x.name === p.name)) throw new XmlError(`Multiple <portgroup> elements with the same name (${p.name}) in network '${name}'`);
    if (p.isDefault && net.portgroups.some((x) => x.isDefault)) {
      throw new XmlError(`Multiple default portgroups (${net.portgroups.find((x) => x.isDefault)!.name} and ${p.name}) in network '${name}'`);
    }
    net.portgroups.push(p);
  }
  for (const ip of r.children('ip')) net.ips.push(parseNetworkIp(ip, name));
  for (const rt of r.children('route')) net.routes.push(parseRoute(rt, name));
  const fwd = r.child('forward');
  if (fwd) {
    const f = parseForward(fwd, name);
    if (f) net.forward = f;
  }
  const port = r.child('port');
  if (port) {
    const iso = propYesNo(port, 'isolated');
    if (iso) net.portIsolated = iso;
  }
  const prefix = dnsmasqPrefix(root);
  const options = parseDnsmasqOptions(r, prefix);
  if (options) net.dnsmasqOptions = options;
  for (const c of root.children) {
    if (!KNOWN.has(c.name) && !(prefix && c.name.startsWith(`${prefix}:`))) {
      throw new ConfigUnsupportedError(`unknown element <${c.name}> in network '${name}'`);
    }
  }
  checkForwardMode(net, net.bridge.stpOrDelaySet && !runsOwnBridge(forwardModeOf(net)));
  return net;
}

export interface FormatNetworkOptions {
  /** VIR_NETWORK_XML_INACTIVE: the definition, without what start added (a <pf> pool's VF list). */
  inactive?: boolean;
  /** Live XML: the ports in use (connections='N' on <network>, as libvirt writes it when active). */
  connections?: number;
}

/** libvirt's canonical network XML (virNetworkDefFormat). */
export function formatNetwork(net: Network, opts: FormatNetworkOptions = {}): string {
  const w = new XmlWriter();
  const rootAttrs: [string, string | number | undefined][] = [
    ['connections', !opts.inactive && opts.connections ? opts.connections : undefined],
    ['ipv6', net.ipv6 ? 'yes' : undefined],
    ['trustGuestRxFilters', net.trustGuestRxFilters],
  ];
  if (net.dnsmasqOptions?.length) rootAttrs.push(['xmlns:dnsmasq', DNSMASQ_NS]);
  w.open('network', rootAttrs);
  w.textElement('name', net.name);
  w.textElement('uuid', net.uuid);
  w.textElement('title', net.title);
  w.textElement('description', net.description);
  formatMetadata(w, net.metadata);
  formatForward(w, net.forward, opts.inactive ?? false);
  formatBridge(w, net.bridge, forwardModeOf(net));
  if (net.mtu) w.empty('mtu', [['size', net.mtu]]);
  if (net.mac) w.empty('mac', [['address', net.mac]]);
  formatDomainName(w, net.domain);
  formatDns(w, net.dns);
  formatVlan(w, net.vlan);
  formatBandwidth(w, net.bandwidth);
  for (const ip of net.ips) formatNetworkIp(w, ip);
  for (const rt of net.routes) formatRoute(w, rt);
  formatVirtualPort(w, net.virtualport);
  for (const pg of net.portgroups) formatPortGroup(w, pg);
  if (net.portIsolated) w.empty('port', [['isolated', net.portIsolated]]);
  formatDnsmasqOptions(w, net.dnsmasqOptions);
  w.close('network');
  return w.toString();
}
