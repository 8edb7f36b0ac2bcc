// Host-side network settings of <interface>: <vlan>, <virtualport>,
// <filterref>, <port isolated>, <coalesce>. Type, parse and format side by side.
import { propYesNo } from './props.js';
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import type { YesNo } from './common.js';
import { normalizeUuid } from './interface-util.js';

// ---- <vlan> (virNetDevVlanParse / virNetDevVlanFormat) ----

export const NATIVE_VLAN_MODES = ['tagged', 'untagged'] as const;

export interface VlanTag {
  id: number;
  nativeMode?: (typeof NATIVE_VLAN_MODES)[number];
  extra?: Extra;
}

export interface Vlan {
  /** Printed as trunk='yes'; set by trunk='yes' or by more than one tag. */
  trunk?: boolean;
  tag: VlanTag[];
  extra?: Extra;
}

export function parseVlan(v: ElementReader): Vlan {
  const tags = v.children('tag');
  if (tags.length === 0) {
    throw new XmlError("missing tag id - each <vlan> must have at least one <tag id='n'/> subelement");
  }
  const vlan: Vlan = { tag: [] };
  let native = false;
  for (const t of tags) {
    const raw = t.attr('id');
    const id = raw !== undefined && /^\s*\+?[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(id)) throw new XmlError('missing or invalid vlan tag id attribute');
    if (id > 4095) throw new XmlError(`vlan tag id ${id} too large (maximum 4095)`);
    const tag: VlanTag = { id };
    const mode = t.attr('nativeMode');
    if (mode !== undefined && mode !== '') {
      if (native) throw new XmlError('duplicate native vlan setting');
      if (!(NATIVE_VLAN_MODES as readonly string[]).includes(mode)) {
        throw new ConfigUnsupportedError(`Invalid "nativeMode='${mode}'" in vlan <tag> element`);
      }
      tag.nativeMode = mode as VlanTag['nativeMode'];
      native = true;
    }
    const extra = t.rest();
    if (extra) tag.extra = extra;
    vlan.tag.push(tag);
  }
  if (tags.length > 1) vlan.trunk = true;
  const trunk = v.attr('trunk');
  if (trunk !== undefined && trunk !== '') {
    if (trunk.toLowerCase() === 'yes') vlan.trunk = true;
    else {
      if (tags.length > 1) {
        throw new XmlError(`invalid "trunk='${trunk}'" in <vlan> - trunk='yes' is required for more than one vlan tag`);
      }
      if (native) throw new XmlError(`invalid configuration in <vlan> - "trunk='no'" is not allowed with a native vlan id`);
      if (trunk.toLowerCase() !== 'no') throw new XmlError(`invalid "trunk='${trunk}'" in <vlan> - must be yes or no`);
    }
  }
  const extra = v.rest();
  if (extra) vlan.extra = extra;
  return vlan;
}

export function formatVlan(w: XmlWriter, v: Vlan | undefined): void {
  if (!v || v.tag.length === 0) return;
  w.element('vlan', [['trunk', v.trunk ? 'yes' : undefined]], () => {
    for (const t of v.tag) w.empty('tag', [['id', t.id], ['nativeMode', t.nativeMode]], t.extra);
  }, v.extra);
}

// ---- <virtualport> (virNetDevVPortProfileParse / ...Format) ----

export const VIRTUALPORT_TYPES = ['802.1Qbg', '802.1Qbh', 'openvswitch', 'midonet'] as const;
export type VirtualPortType = (typeof VIRTUALPORT_TYPES)[number];

export interface VirtualPortParameters {
  managerid?: number;
  typeid?: number;
  typeidversion?: number;
  instanceid?: string;
  interfaceid?: string;
  profileid?: string;
  extra?: Extra;
}

export interface VirtualPort {
  type?: VirtualPortType;
  parameters?: VirtualPortParameters;
  extra?: Extra;
}

/** Which parameters each type prints (none: all of them). */
const PARAMS_FOR: Record<keyof Omit<VirtualPortParameters, 'extra'>, (VirtualPortType | undefined)[]> = {
  managerid: ['802.1Qbg', undefined],
  typeid: ['802.1Qbg', undefined],
  typeidversion: ['802.1Qbg', undefined],
  instanceid: ['802.1Qbg', undefined],
  interfaceid: ['midonet', 'openvswitch', undefined],
  profileid: ['openvswitch', '802.1Qbh', undefined],
};
const PARAM_ORDER = ['managerid', 'typeid', 'typeidversion', 'instanceid', 'interfaceid', 'profileid'] as const;

function parseVportNumber(raw: string, name: string, max: number, rangeMsg: string): number {
  const s = raw.trim();
  let v = NaN;
  if (/^0x[0-9a-f]+$/i.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^[0-9]+$/.test(s)) v = parseInt(s, 10);
  if (!Number.isSafeInteger(v) || v > 0xffffffff) throw new XmlError(`cannot parse value of ${name} parameter`);
  if (v > max) throw new XmlError(rangeMsg);
  return v;
}

/**
 * `requireType`: bridge, direct and hostdev interfaces. libvirt also fills in
 * missing instanceid/interfaceid with random UUIDs; we do not (not deterministic).
 */
export function parseVirtualPort(v: ElementReader, requireType: boolean, ignored: string[]): VirtualPort {
  const vp: VirtualPort = {};
  const type = v.attr('type');
  if (type !== undefined) {
    if (!(VIRTUALPORT_TYPES as readonly string[]).includes(type)) throw new ConfigUnsupportedError(`unknown virtualport type ${type}`);
    vp.type = type as VirtualPortType;
  }
  if (!vp.type && requireType) throw new XmlError('missing required virtualport type');
  const p = v.child('parameters');
  if (p) {
    const params: VirtualPortParameters = {};
    const managerid = p.attr('managerid');
    const typeid = p.attr('typeid');
    const typeidversion = p.attr('typeidversion');
    const instanceid = p.attr('instanceid');
    const profileid = p.attr('profileid');
    const interfaceid = p.attr('interfaceid');
    if (managerid !== undefined) params.managerid = parseVportNumber(managerid, 'managerid', 0xff, 'value of managerid out of range');
    if (typeid !== undefined) params.typeid = parseVportNumber(typeid, 'typeid', 0xffffff, 'value for typeid out of range');
    if (typeidversion !== undefined) {
      params.typeidversion = parseVportNumber(typeidversion, 'typeidversion', 0xff, 'value of typeidversion out of range');
    }
    if (instanceid !== undefined) {
      const u = normalizeUuid(instanceid);
      if (!u) throw new XmlError('cannot parse instanceid parameter as a uuid');
      params.instanceid = u;
    }
    if (profileid !== undefined) {
      if (profileid.length >= 40) throw new XmlError('profileid parameter too long');
      if (profileid !== '') params.profileid = profileid;
    }
    if (interfaceid !== undefined) {
      const u = normalizeUuid(interfaceid);
      if (!u) throw new XmlError('cannot parse interfaceid parameter as a uuid');
      params.interfaceid = u;
    }
    for (const k of PARAM_ORDER) {
      if (params[k] !== undefined && !PARAMS_FOR[k].includes(vp.type)) ignored.push(`virtualport/parameters/@${k}`);
    }
    const extra = p.rest();
    if (extra) params.extra = extra;
    vp.parameters = params;
  }
  const extra = v.rest();
  if (extra) vp.extra = extra;
  return vp;
}

export function formatVirtualPort(w: XmlWriter, vp: VirtualPort | undefined): void {
  if (!vp) return;
  const p = vp.parameters;
  const attrs: [string, string | number | undefined][] = PARAM_ORDER.map((k) => [k, p && PARAMS_FOR[k].includes(vp.type) ? p[k] : undefined]);
  const noParameters = attrs.every(([, v]) => v === undefined) && !p?.extra;
  if (!vp.type && noParameters && !vp.extra) return;
  w.element('virtualport', [['type', vp.type]], () => {
    if (!noParameters) w.empty('parameters', attrs, p?.extra);
  }, vp.extra);
}

// ---- <filterref> (virNWFilterParseParamAttributes / virNWFilterFormatParamAttributes) ----

export interface FilterRefParameter {
  name: string;
  value: string;
}

export interface FilterRef {
  filter?: string;
  parameter: FilterRefParameter[];
  extra?: Extra;
}

export function parseFilterRef(f: ElementReader): FilterRef {
  const fr: FilterRef = { parameter: [] };
  const filter = f.attr('filter');
  if (filter !== undefined) fr.filter = filter;
  for (const p of f.children('parameter')) {
    const name = p.attr('name');
    const value = p.attr('value');
    if (name !== undefined && value !== undefined) fr.parameter.push({ name, value });
  }
  const extra = f.rest();
  if (extra) fr.extra = extra;
  return fr;
}

/** Parameters come out grouped by name, names sorted (libvirt keeps them in a hash table). */
export function formatFilterRef(w: XmlWriter, f: FilterRef | undefined): void {
  if (!f || (f.filter === undefined && !f.extra)) return;
  const byName = new Map<string, string[]>();
  for (const p of f.parameter) byName.set(p.name, [...(byName.get(p.name) ?? []), p.value]);
  const names = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  w.element('filterref', [['filter', f.filter]], () => {
    for (const n of names) for (const v of byName.get(n)!) w.empty('parameter', [['name', n], ['value', v]]);
  }, f.extra);
}

// ---- <port isolated='yes'/> (virNetworkPortOptionsParseXML) ----

export interface NetPortOptions {
  isolated?: YesNo;
  extra?: Extra;
}

export function parsePortOptions(p: ElementReader): NetPortOptions {
  const po: NetPortOptions = {};
  const isolated = propYesNo(p, 'isolated');
  if (isolated) po.isolated = isolated;
  const extra = p.rest();
  if (extra) po.extra = extra;
  return po;
}

export function formatPortOptions(w: XmlWriter, p: NetPortOptions | undefined): void {
  if (!p || (p.isolated === undefined && !p.extra)) return;
  w.empty('port', [['isolated', p.isolated]], p.extra);
}

// ---- <coalesce><rx><frames max='N'/></rx></coalesce> ----

export interface NetCoalesce {
  rx?: { frames?: { max?: number; extra?: Extra }; extra?: Extra };
  extra?: Extra;
}

export function parseCoalesce(c: ElementReader): NetCoalesce {
  const co: NetCoalesce = {};
  const rx = c.child('rx');
  if (rx) {
    co.rx = {};
    const frames = rx.child('frames');
    if (frames) {
      co.rx.frames = {};
      const raw = frames.attr('max');
      if (raw !== undefined && raw !== '') {
        const v = /^\s*\+?[0-9]+$/.test(raw) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(v)) throw new XmlError(`cannot parse value '${raw}' for coalesce parameter`);
        if (v > 0xffffffff) throw new XmlError(`value '${v}' is too big for coalesce parameter, maximum is '4294967295'`);
        co.rx.frames.max = v;
      }
      const fe = frames.rest();
      if (fe) co.rx.frames.extra = fe;
    }
    const re = rx.rest();
    if (re) co.rx.extra = re;
  }
  const extra = c.rest();
  if (extra) co.extra = extra;
  return co;
}

/** Only a non-zero rx frames max is printed, as libvirt does. */
export function formatCoalesce(w: XmlWriter, c: NetCoalesce | undefined): void {
  if (!c) return;
  const max = c.rx?.frames?.max || undefined;
  if (max === undefined && !c.extra && !c.rx?.extra && !c.rx?.frames?.extra) return;
  w.element('coalesce', undefined, () => {
    w.element('rx', undefined, () => {
      if (max !== undefined || c.rx?.frames?.extra) w.empty('frames', [['max', max]], c.rx?.frames?.extra);
    }, c.rx?.extra);
  }, c.extra);
}
