// <dns> of a network (virNetworkDNSDefParseXML / virNetworkDNSDefFormat): forwarders, TXT, SRV and
// host records. libvirt writes them grouped in that order, whatever the input order.
import { XmlError } from '../../util/errors.js';
import type { ElementReader, XmlWriter } from '../../util/xml.js';
import type { YesNo } from '../common.js';
import { normalizeIp } from '../interface-util.js';
import { propUInt, propYesNo } from '../props.js';

export interface DnsForwarder {
  domain?: string;
  addr?: string;
}
export interface DnsTxt {
  name: string;
  value: string;
}
export interface DnsSrv {
  service: string;
  protocol: string;
  domain?: string;
  target?: string;
  port?: number;
  priority?: number;
  weight?: number;
}
export interface DnsHost {
  ip: string;
  hostnames: string[];
}
export interface NetworkDns {
  enable?: YesNo;
  forwardPlainNames?: YesNo;
  forwarders: DnsForwarder[];
  txts: DnsTxt[];
  srvs: DnsSrv[];
  hosts: DnsHost[];
}

function parseSrv(s: ElementReader, network: string): DnsSrv {
  const service = s.attr('service');
  if (!service) throw new XmlError(`missing required service attribute in DNS SRV record of network '${network}'`);
  if (service.length > 15) throw new XmlError(`service attribute '${service}' in network '${network}' is too long, must be less than 15 bytes`);
  const protocol = s.attr('protocol');
  if (!protocol) throw new XmlError(`missing required protocol attribute in DNS SRV record '${service}' of network '${network}'`);
  if (/[^a-zA-Z0-9_-]/.test(protocol)) throw new XmlError(`invalid protocol attribute value '${protocol}' in DNS SRV record of network '${network}'`);
  const srv: DnsSrv = { service, protocol };
  const domain = s.attr('domain');
  if (domain) srv.domain = domain;
  const target = s.attr('target');
  if (target) srv.target = target;
  for (const [k, max] of [['port', 65535], ['priority', 65535], ['weight', 65535]] as const) {
    const v = propUInt(s, k);
    if (v === undefined) continue;
    if (v > max) throw new XmlError(`invalid ${k} value (must be 0-65535) in DNS SRV record of network '${network}'`);
    srv[k] = v;
  }
  return srv;
}

export function parseDns(d: ElementReader | undefined, network: string): NetworkDns | undefined {
  if (!d) return undefined;
  const dns: NetworkDns = { forwarders: [], txts: [], srvs: [], hosts: [] };
  const enable = propYesNo(d, 'enable');
  if (enable) dns.enable = enable;
  const fpn = propYesNo(d, 'forwardPlainNames');
  if (fpn) dns.forwardPlainNames = fpn;
  for (const f of d.children('forwarder')) {
    const fw: DnsForwarder = {};
    const addr = f.attr('addr');
    if (addr) {
      const ip = normalizeIp(addr);
      if (!ip) throw new XmlError(`Invalid forwarder IP address '${addr}' in network '${network}'`);
      fw.addr = ip;
    }
    const domain = f.attr('domain');
    if (domain) fw.domain = domain;
    if (!fw.addr && !fw.domain) throw new XmlError(`Invalid forwarder element, must contain at least one of addr or domain`);
    dns.forwarders.push(fw);
  }
  for (const h of d.children('host')) {
    const raw = h.attr('ip');
    const ip = raw === undefined ? undefined : normalizeIp(raw);
    if (!ip) throw new XmlError(`Missing IP address in network '${network}' DNS HOST record`);
    const hostnames = h.children('hostname').map((n) => n.text());
    if (hostnames.some((n) => n === '')) throw new XmlError(`Missing hostname in network '${network}' DNS HOST record`);
    if (hostnames.length === 0) throw new XmlError(`Missing hostname in network '${network}' DNS HOST record`);
    dns.hosts.push({ ip, hostnames });
  }
  for (const s of d.children('srv')) dns.srvs.push(parseSrv(s, network));
  for (const t of d.children('txt')) {
    const name = t.attr('name');
    if (!name) throw new XmlError(`missing required name attribute in DNS TXT record of network '${network}'`);
    if (/[ ]/.test(name)) throw new XmlError(`prohibited space character in DNS TXT record name '${name}' of network '${network}'`);
    const value = t.attr('value');
    if (!value) throw new XmlError(`missing required value attribute in DNS TXT record named '${name}' of network '${network}'`);
    dns.txts.push({ name, value });
  }
  const any = dns.forwarders.length || dns.hosts.length || dns.srvs.length || dns.txts.length;
  if (dns.enable === 'no' && any) throw new XmlError(`Extra data in disabled network '${network}'`);
  return dns;
}

export function formatDns(w: XmlWriter, dns: NetworkDns | undefined): void {
  if (!dns) return;
  const any = dns.forwarders.length || dns.hosts.length || dns.srvs.length || dns.txts.length;
  if (!dns.enable && !dns.forwardPlainNames && !any) return;
  const attrs: [string, string | undefined][] = [['enable', dns.enable], ['forwardPlainNames', dns.forwardPlainNames]];
  if (!any) {
    w.empty('dns', attrs);
    return;
  }
  w.open('dns', attrs);
  for (const f of dns.forwarders) w.empty('forwarder', [['domain', f.domain], ['addr', f.addr]]);
  for (const t of dns.txts) w.empty('txt', [['name', t.name], ['value', t.value]]);
  for (const s of dns.srvs) {
    w.empty('srv', [
      ['service', s.service], ['protocol', s.protocol], ['domain', s.domain], ['target', s.target],
      ['port', s.port || undefined], ['priority', s.priority || undefined], ['weight', s.weight || undefined],
    ]);
  }
  for (const h of dns.hosts) {
    w.open('host', [['ip', h.ip]]);
    for (const n of h.hostnames) w.textElement('hostname', n);
    w.close('host');
  }
  w.close('dns');
}
