// The <networkport> document (virNetworkPortDefParseXML / virNetworkPortDefFormatBuf): one guest
// interface's connection to a network, as libvirt's network driver hands it out (net-port-create,
// or at domain start). The plug says what the interface becomes: a bridge port, a macvtap device or
// a PCI function of a hostdev pool.
import { randomUUID } from 'node:crypto';
import { XmlError } from '../../util/errors.js';
import { ElementReader, XmlWriter, parseXml } from '../../util/xml.js';
import { type PciAddress, formatHostPciAddress, parsePciAddressFields } from '../address.js';
import type { YesNo } from '../common.js';
import { type Vlan, type VirtualPort, formatVirtualPort, formatVlan, parseVirtualPort, parseVlan } from '../interface-netdev.js';
import { normalizeUuid, parseMacAddress } from '../interface-util.js';
import { propEnum, propYesNo } from '../props.js';
import { type Bandwidth, formatBandwidth, parseBandwidth } from './bandwidth.js';
import { MAC_TABLE_MANAGERS } from './bridge.js';
import { FORWARD_DRIVER_NAMES } from './forward.js';

export const PLUG_TYPES = ['none', 'network', 'bridge', 'direct', 'hostdev-pci'] as const;
export type PlugType = (typeof PLUG_TYPES)[number];

export type PortPlug =
  | { type: 'none' }
  | { type: 'network' | 'bridge'; bridge: string; macTableManager?: 'kernel' | 'libvirt' }
  | { type: 'direct'; dev: string; mode?: string }
  | { type: 'hostdev-pci'; address: PciAddress; managed?: YesNo; driver?: string };

export interface NetworkPort {
  uuid: string;
  owner: { name: string; uuid: string };
  group?: string;
  mac: string;
  virtualport?: VirtualPort;
  bandwidth?: Bandwidth;
  classId?: number;
  vlan?: Vlan;
  isolated?: YesNo;
  trustGuestRxFilters?: YesNo;
  plug: PortPlug;
}

const MACVLAN_MODES = ['vepa', 'private', 'bridge', 'passthrough'] as const;

function parsePlug(p: ElementReader | undefined): PortPlug {
  if (!p) return { type: 'none' };
  const type = propEnum(p, 'type', PLUG_TYPES, { required: true })!;
  switch (type) {
    case 'none':
      return { type };
    case 'network': case 'bridge': {
      const bridge = p.attr('bridge');
      if (!bridge) throw new XmlError("Missing network port link bridge name");
      const plug: PortPlug = { type, bridge };
      const mtm = propEnum(p, 'macTableManager', MAC_TABLE_MANAGERS);
      if (mtm && mtm !== 'default') plug.macTableManager = mtm;
      return plug;
    }
    case 'direct': {
      const dev = p.attr('dev');
      if (!dev) throw new XmlError("Missing network port link direct device name");
      const mode = propEnum(p, 'mode', MACVLAN_MODES);
      return mode ? { type, dev, mode } : { type, dev };
    }
    case 'hostdev-pci': {
      const a = p.child('address');
      if (!a) throw new XmlError("Missing network port PCI address");
      const plug: PortPlug = { type, address: parsePciAddressFields(a) };
      const managed = propYesNo(p, 'managed');
      if (managed) plug.managed = managed;
      const driver = p.child('driver');
      const name = driver ? propEnum(driver, 'name', FORWARD_DRIVER_NAMES) : undefined;
      if (name && name !== 'default') plug.driver = name;
      return plug;
    }
  }
}

export function parseNetworkPortXml(xml: string | Uint8Array, opts: { source?: string } = {}): NetworkPort {
  const root = parseXml(xml, { source: opts.source });
  if (root.name !== 'networkport') throw new XmlError(`expecting root element of 'networkport', not '${root.name}'`);
  const r = new ElementReader(root);
  const rawUuid = r.child('uuid')?.text();
  let uuid: string;
  if (!rawUuid) uuid = randomUUID();
  else {
    const u = normalizeUuid(rawUuid);
    if (!u) throw new XmlError(`Unable to parse UUID '${rawUuid}'`);
    uuid = u;
  }
  const owner = r.child('owner');
  const ownerName = owner?.child('name')?.text();
  if (!ownerName) throw new XmlError('Missing owner name in network port');
  const ownerUuidRaw = owner?.child('uuid')?.text();
  if (!ownerUuidRaw) throw new XmlError('Missing owner UUID in network port');
  const ownerUuid = normalizeUuid(ownerUuidRaw);
  if (!ownerUuid) throw new XmlError(`Unable to parse UUID '${ownerUuidRaw}'`);
  const macRaw = r.child('mac')?.attr('address');
  if (!macRaw) throw new XmlError('Missing mac address in network port');
  const port: NetworkPort = { uuid, owner: { name: ownerName, uuid: ownerUuid }, mac: parseMacAddress(macRaw), plug: parsePlug(r.child('plug')) };
  const group = r.child('group')?.text();
  if (group) port.group = group;
  const vp = r.child('virtualport');
  if (vp) port.virtualport = parseVirtualPort(vp, false, []);
  const bwEl = r.child('bandwidth');
  const bw = parseBandwidth(bwEl);
  if (bw) port.bandwidth = bw;
  const classId = bwEl?.attr('classID');
  if (classId !== undefined && /^[0-9]+$/.test(classId)) port.classId = Number(classId);
  const vlan = r.child('vlan');
  if (vlan) port.vlan = parseVlan(vlan);
  const iso = r.child('port');
  if (iso) {
    const v = propYesNo(iso, 'isolated');
    if (v) port.isolated = v;
  }
  const rx = r.child('rxfilters');
  if (rx) {
    const v = propYesNo(rx, 'trustGuest');
    if (v) port.trustGuestRxFilters = v;
  }
  return port;
}

function formatPlug(w: XmlWriter, plug: PortPlug): void {
  switch (plug.type) {
    case 'none':
      return;
    case 'network': case 'bridge':
      w.empty('plug', [['type', plug.type], ['bridge', plug.bridge], ['macTableManager', plug.macTableManager]]);
      return;
    case 'direct':
      w.empty('plug', [['type', plug.type], ['dev', plug.dev], ['mode', plug.mode]]);
      return;
    case 'hostdev-pci':
      w.open('plug', [['type', plug.type], ['managed', plug.managed]]);
      if (plug.driver) w.empty('driver', [['name', plug.driver]]);
      formatHostPciAddress(w, plug.address);
      w.close('plug');
  }
}

export function formatNetworkPort(port: NetworkPort): string {
  const w = new XmlWriter();
  w.open('networkport');
  w.textElement('uuid', port.uuid);
  w.open('owner');
  w.textElement('name', port.owner.name);
  w.textElement('uuid', port.owner.uuid);
  w.close('owner');
  w.textElement('group', port.group);
  w.empty('mac', [['address', port.mac]]);
  formatVirtualPort(w, port.virtualport);
  formatBandwidth(w, port.bandwidth, port.classId);
  formatVlan(w, port.vlan);
  if (port.isolated) w.empty('port', [['isolated', port.isolated]]);
  if (port.trustGuestRxFilters) w.empty('rxfilters', [['trustGuest', port.trustGuestRxFilters]]);
  formatPlug(w, port.plug);
  w.close('networkport');
  return w.toString();
}
