// The host side of a network's own bridge: <bridge>, <mtu>, <mac>, and the DNS <domain> it serves.
// libvirt writes stp/delay only for modes where it runs the bridge itself (none, nat, route, open).
import { XmlError } from '../../util/errors.js';
import type { ElementReader, XmlWriter } from '../../util/xml.js';
import type { YesNo } from '../common.js';
import { formatMac, parseMacOctets } from '../interface-util.js';
import { propEnum, propUInt, propYesNo } from '../props.js';
import type { ForwardMode } from './forward.js';

export const MAC_TABLE_MANAGERS = ['default', 'kernel', 'libvirt'] as const;

export interface NetworkBridge {
  name?: string;
  zone?: string;
  /** Default on; written only where libvirt runs the bridge. */
  stp: boolean;
  delay: number;
  /** Whether stp/delay were given (libvirt refuses them where it does not run the bridge). */
  stpOrDelaySet: boolean;
  macTableManager?: 'kernel' | 'libvirt';
}

export function defaultBridge(): NetworkBridge {
  return { stp: true, delay: 0, stpOrDelaySet: false };
}

export function parseBridge(b: ElementReader | undefined, network: string): NetworkBridge {
  const out = defaultBridge();
  if (!b) return out;
  const name = b.attr('name');
  if (name) out.name = name;
  const zone = b.attr('zone');
  if (zone) out.zone = zone;
  const stp = b.attr('stp');
  if (stp !== undefined) {
    out.stp = stp !== 'off';
    out.stpOrDelaySet = true;
  }
  const delay = b.attr('delay');
  if (delay !== undefined) {
    if (!/^\s*[0-9]+$/.test(delay)) throw new XmlError(`Invalid delay value in network '${network}'`);
    out.delay = Number(delay);
    out.stpOrDelaySet = true;
  }
  const mtm = propEnum(b, 'macTableManager', MAC_TABLE_MANAGERS);
  if (mtm && mtm !== 'default') out.macTableManager = mtm;
  return out;
}

/** The modes whose bridge libvirt creates and runs. */
export function runsOwnBridge(mode: ForwardMode): boolean {
  return mode === 'none' || mode === 'nat' || mode === 'route' || mode === 'open';
}

export function formatBridge(w: XmlWriter, b: NetworkBridge, mode: ForwardMode): void {
  const own = runsOwnBridge(mode);
  if (!own && !b.name && !b.macTableManager) return;
  w.empty('bridge', [
    ['name', b.name],
    ['zone', b.zone],
    ['stp', own ? (b.stp ? 'on' : 'off') : undefined],
    ['delay', own ? b.delay : undefined],
    ['macTableManager', b.macTableManager],
  ]);
}

export function parseMtu(m: ElementReader | undefined): number | undefined {
  return m ? propUInt(m, 'size') : undefined;
}

/** <mac address> of the bridge: lower-case, unicast. */
export function parseBridgeMac(m: ElementReader | undefined, network: string): string | undefined {
  const raw = m?.attr('address');
  if (raw === undefined) return undefined;
  const o = parseMacOctets(raw);
  if (!o) throw new XmlError(`Invalid bridge mac address '${raw}' in network '${network}'`);
  if (o[0]! & 1) throw new XmlError(`Invalid multicast bridge mac address '${raw}' in network '${network}'`);
  return formatMac(o);
}

export interface NetworkDomainName {
  name: string;
  localOnly?: YesNo;
}

export function parseDomainName(d: ElementReader | undefined): NetworkDomainName | undefined {
  const name = d?.attr('name');
  if (!d || !name) return undefined;
  const out: NetworkDomainName = { name };
  const local = propYesNo(d, 'localOnly');
  if (local) out.localOnly = local;
  return out;
}

export function formatDomainName(w: XmlWriter, d: NetworkDomainName | undefined): void {
  if (d) w.empty('domain', [['name', d.name], ['localOnly', d.localOnly]]);
}
