// <portgroup> of a network (virPortGroupParseXML / virPortGroupDefFormat): a named set of vlan,
// virtualport and bandwidth settings an interface picks with <source portgroup=>.
import { XmlError } from '../../util/errors.js';
import type { ElementReader, XmlWriter } from '../../util/xml.js';
import type { YesNo } from '../common.js';
import { type Vlan, type VirtualPort, formatVirtualPort, formatVlan, parseVirtualPort, parseVlan } from '../interface-netdev.js';
import { propYesNo } from '../props.js';
import { type Bandwidth, formatBandwidth, parseBandwidth } from './bandwidth.js';

export interface PortGroup {
  name: string;
  isDefault: boolean;
  trustGuestRxFilters?: YesNo;
  vlan?: Vlan;
  virtualport?: VirtualPort;
  bandwidth?: Bandwidth;
}

export function parsePortGroup(p: ElementReader, network: string): PortGroup {
  const name = p.attr('name');
  if (!name) throw new XmlError(`Missing required name attribute in portgroup of network '${network}'`);
  const pg: PortGroup = { name, isDefault: p.attr('default')?.toLowerCase() === 'yes' };
  const trust = propYesNo(p, 'trustGuestRxFilters');
  if (trust) pg.trustGuestRxFilters = trust;
  const vp = p.child('virtualport');
  if (vp) pg.virtualport = parseVirtualPort(vp, false, []);
  const bw = parseBandwidth(p.child('bandwidth'));
  if (bw) pg.bandwidth = bw;
  const vlan = p.child('vlan');
  if (vlan) pg.vlan = parseVlan(vlan);
  return pg;
}

export function formatPortGroup(w: XmlWriter, pg: PortGroup): void {
  w.open('portgroup', [['name', pg.name], ['default', pg.isDefault ? 'yes' : undefined], ['trustGuestRxFilters', pg.trustGuestRxFilters]]);
  formatVlan(w, pg.vlan);
  formatVirtualPort(w, pg.virtualport);
  formatBandwidth(w, pg.bandwidth);
  w.close('portgroup');
}
