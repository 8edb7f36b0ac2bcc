// <interface>: a guest NIC (libvirt's virDomainNetDef). Type, parse, format
// and validation side by side; element groups live in interface-*.ts.
// Format order is virDomainNetDefFormat's: mac, source, vlan, virtualport,
// bandwidth, port, ip/route, portForward, script, downscript, backenddomain,
// target, guest, model, driver, backend, filterref, tune, teaming, link, mtu,
// coalesce, then the device-info block (boot, alias, rom, acpi, address).
import { propEnum, propYesNo } from './props.js';
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlElement, XmlWriter } from '../util/xml.js';
import type { YesNo } from './common.js';
import { type DeviceInfo, type ParseContext, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import {
  HOSTDEV_SUBSYS_TYPES, type HostdevSubsys, type HostdevSubsysType, formatHostdevSubsys, parseHostdevSubsys,
  validateHostdevAddressType,
} from './hostdev.js';
import {
  type NetBackend, type NetDriver, formatNetBackend, formatNetDriver, isVirtioModel, parseNetBackend, parseNetDriver, parseNetModel,
  virtioOptionsSet,
} from './interface-driver.js';
import {
  type FilterRef, type NetCoalesce, type NetPortOptions, type VirtualPort, type Vlan, formatCoalesce, formatFilterRef, formatPortOptions,
  formatVirtualPort, formatVlan, parseCoalesce, parseFilterRef, parsePortOptions, parseVirtualPort, parseVlan,
} from './interface-netdev.js';
import {
  type NetIpInfo, type NetSource, type PortForward, formatNetIpInfo, formatNetSource, formatPortForwards, parseNetIpInfo,
  parseNetSource, parsePortForwards,
} from './interface-source.js';
import { emitEmpty, isAllZeroMac, nonEmpty, parseMacAddress } from './interface-util.js';
import { type Teaming, formatTeaming, parseTeaming, validateNetTeaming } from './teaming.js';

/** virDomainNet; a missing type means 'user'. */
export const NET_TYPES = [
  'user', 'ethernet', 'vhostuser', 'server', 'client', 'mcast', 'network', 'bridge', 'internal', 'direct', 'hostdev', 'udp',
  'vdpa', 'null', 'vds',
] as const;
export type NetType = (typeof NET_TYPES)[number];

/** virDomainNetMacType without its empty "not set" value. */
export const NET_MAC_TYPES = ['generated', 'static'] as const;
export const NET_LINK_STATES = ['up', 'down'] as const;

export interface NetMac {
  /** Canonical lower-case text. Missing (or all zero): libvirt generates one; conf does not. */
  address?: string;
  type?: (typeof NET_MAC_TYPES)[number];
  check?: YesNo;
  extra?: Extra;
}

/** One-attribute elements keep their attribute name: <model type=>, <script path=>, ... */
export interface Interface {
  kind: 'interface';
  type: NetType;
  trustGuestRxFilters?: YesNo;
  mac?: NetMac;
  /** <source> for every type but 'hostdev'. */
  source?: NetSource;
  /** type='hostdev': the PCI (or other) host device; `managed` lives here. Teaming stays on the net. */
  hostdev?: HostdevSubsys;
  vlan?: Vlan;
  virtualport?: VirtualPort;
  /** Kept as read (not modelled). */
  bandwidth?: XmlElement;
  port?: NetPortOptions;
  /** Guest-side <ip>/<route>. */
  ip?: NetIpInfo;
  portForward: PortForward[];
  script?: { path: string; extra?: Extra };
  downscript?: { path: string; extra?: Extra };
  backenddomain?: { name: string; extra?: Extra };
  target?: { dev?: string; managed?: YesNo; extra?: Extra };
  guest?: { dev?: string; actual?: string; extra?: Extra };
  /** Known models in libvirt's spelling ('ViRtIo' -> 'virtio'), others as written. */
  model?: { type: string; extra?: Extra };
  driver?: NetDriver;
  backend?: NetBackend;
  filterref?: FilterRef;
  tune?: { sndbuf?: number; extra?: Extra; sndbufExtra?: Extra };
  teaming?: Teaming;
  link?: { state?: (typeof NET_LINK_STATES)[number]; extra?: Extra };
  mtu?: { size?: number; extra?: Extra };
  coalesce?: NetCoalesce;
  info: DeviceInfo;
  /** XML libvirt reads past without using it for this interface (dropped from output, shown by lint). */
  ignored?: string[];
  extra?: Extra;
}

/** Interface types with <virtualport>, and whether its type attribute is required. */
const VIRTUALPORT_REQUIRES_TYPE: Partial<Record<NetType, boolean>> = { network: false, bridge: true, direct: true, hostdev: true };
const FILTERREF_TYPES = new Set<NetType>(['network', 'bridge', 'ethernet']);
/** Prefixes of target names libvirt generates; dropped from definitions unless managed='no'. */
const GENERATED_TARGET_PREFIXES = ['vnet', 'macvtap', 'macvlan'];

function uintText(raw: string | undefined): number | undefined | null {
  if (raw === undefined || raw.trim() === '') return undefined;
  return /^\s*\+?[0-9]+$/.test(raw) && Number(raw) <= Number.MAX_SAFE_INTEGER ? Number(raw) : null;
}

/** <source><address type=...> of an <interface type='hostdev'> picks the subsystem (a <vendor> means usb). */
function hostdevSubsysType(r: ElementReader): HostdevSubsysType {
  const src = r.el.children.find((c) => c.name === 'source');
  let t = nonEmpty(src?.children.find((c) => c.name === 'address')?.attrs.get('type'));
  if (t === undefined && src?.children.some((c) => c.name === 'vendor')) t = 'usb';
  if (t === undefined || !(HOSTDEV_SUBSYS_TYPES as readonly string[]).includes(t)) {
    throw new ConfigUnsupportedError(`unknown host device source address type '${t ?? '(null)'}'`);
  }
  return t as HostdevSubsysType;
}

/** string(./name/@attr) (empty reads as absent) plus what else the element holds. */
function oneAttr(r: ElementReader, name: string, attr: string): { value: string; extra?: Extra } | undefined {
  const el = r.child(name);
  if (!el) return undefined;
  const value = nonEmpty(el.attr(attr));
  const extra = el.rest();
  if (value === undefined && !extra) return undefined;
  return extra ? { value: value ?? '', extra } : { value: value ?? '' };
}

/** virDomainNetDefParseXML */
export function parseInterface(r: ElementReader, ctx: ParseContext): Interface {
  const type = propEnum(r, 'type', NET_TYPES) ?? 'user';
  const ignored: string[] = [];
  const net: Interface = { kind: 'interface', type, portForward: [], info: {} };
  const trust = propYesNo(r, 'trustGuestRxFilters');
  if (trust) net.trustGuestRxFilters = trust;

  const modelEl = r.child('model');
  const modelType = modelEl ? parseNetModel(modelEl.attr('type')) : undefined;
  if (modelEl) {
    const extra = modelEl.rest();
    if (modelType !== undefined || extra) {
      net.model = { type: modelType ?? '' };
      if (extra) net.model.extra = extra;
    }
    if (modelType === undefined && modelEl.hasAttr('type')) ignored.push('model/@type');
  }
  const virtio = isVirtioModel(modelType);

  const backendEl = r.child('backend');
  if (backendEl) net.backend = parseNetBackend(backendEl, type !== 'hostdev' && virtio, ignored);
  const passt = net.backend?.type === 'passt';

  const driverEl = r.child('driver');
  if (type === 'hostdev') {
    if (driverEl) net.driver = parseNetDriver(driverEl, { virtioNet: false, hostdev: true, ignored });
    net.hostdev = parseHostdevSubsys(r, hostdevSubsysType(r), { forInterface: true, driver: driverEl ?? null });
  } else {
    if (r.hasAttr('managed')) {
      r.attr('managed');
      ignored.push('@managed');
    }
    const source = parseNetSource(type, r.child('source'), { inactive: ctx.inactive, passt, ignored });
    if (source) net.source = source;
  }

  const vp = r.child('virtualport');
  if (vp) {
    const requireType = VIRTUALPORT_REQUIRES_TYPE[type];
    if (requireType === undefined) throw new ConfigUnsupportedError(`<virtualport> element unsupported for <interface type='${type}'>`);
    net.virtualport = parseVirtualPort(vp, requireType, ignored);
  }

  const target = r.child('target');
  if (target) {
    net.target = {};
    const dev = target.attr('dev');
    const managed = propYesNo(target, 'managed');
    if (managed) net.target.managed = managed;
    if (dev !== undefined) {
      if (ctx.inactive && managed !== 'no' && GENERATED_TARGET_PREFIXES.some((p) => dev.startsWith(p))) ignored.push('target/@dev');
      else net.target.dev = dev;
    }
    const extra = target.rest();
    if (extra) net.target.extra = extra;
  }
  const guest = r.child('guest');
  if (guest) {
    net.guest = {};
    const dev = nonEmpty(guest.attr('dev'));
    const actual = nonEmpty(guest.attr('actual'));
    if (dev !== undefined) net.guest.dev = dev;
    if (actual !== undefined) net.guest.actual = actual;
    const extra = guest.rest();
    if (extra) net.guest.extra = extra;
  }

  const linkEl = r.child('link');
  const script = oneAttr(r, 'script', 'path');
  if (script) net.script = { path: script.value, ...(script.extra && { extra: script.extra }) };
  const downscript = oneAttr(r, 'downscript', 'path');
  if (downscript) net.downscript = { path: downscript.value, ...(downscript.extra && { extra: downscript.extra }) };
  const backenddomain = oneAttr(r, 'backenddomain', 'name');
  if (backenddomain) net.backenddomain = { name: backenddomain.value, ...(backenddomain.extra && { extra: backenddomain.extra }) };

  const filterref = r.child('filterref');
  if (filterref) {
    if (FILTERREF_TYPES.has(type)) net.filterref = parseFilterRef(filterref);
    else ignored.push('filterref');
  }
  const bandwidth = r.child('bandwidth');
  if (bandwidth) net.bandwidth = bandwidth.el;
  const vlan = r.child('vlan');
  if (vlan) net.vlan = parseVlan(vlan);

  const macEl = r.child('mac');
  if (macEl) {
    const mac: NetMac = {};
    const address = macEl.attr('address');
    if (address !== undefined) {
      const a = parseMacAddress(address);
      if (!isAllZeroMac(a)) mac.address = a;
    }
    const macType = propEnum(macEl, 'type', NET_MAC_TYPES);
    const check = propYesNo(macEl, 'check');
    if (macType) mac.type = macType;
    if (check) mac.check = check;
    const extra = macEl.rest();
    if (extra) mac.extra = extra;
    net.mac = mac;
  }

  net.info = parseDeviceInfo(r, ctx);
  const ip = parseNetIpInfo(r, 'guest interface');
  if (ip) net.ip = ip;
  net.portForward = parsePortForwards(r);

  if (type !== 'hostdev' && driverEl) {
    net.driver = parseNetDriver(driverEl, { virtioNet: virtio, hostdev: false, ignored });
  }

  if (linkEl) {
    const state = nonEmpty(linkEl.attr('state'));
    if (state !== undefined && !(NET_LINK_STATES as readonly string[]).includes(state)) {
      throw new ConfigUnsupportedError(`unknown interface link state '${state}'`);
    }
    const extra = linkEl.rest();
    if (state !== undefined || extra) {
      net.link = {};
      if (state !== undefined) net.link.state = state as 'up' | 'down';
      if (extra) net.link.extra = extra;
    }
  }

  const teaming = parseTeaming(r);
  if (teaming) net.teaming = teaming;

  const tune = r.child('tune');
  if (tune) {
    const sndbufEl = tune.child('sndbuf');
    const sndbuf = uintText(sndbufEl?.text());
    if (sndbuf === null) throw new XmlError('sndbuf must be a positive integer');
    const extra = tune.rest();
    const sndbufExtra = sndbufEl?.rest();
    if (sndbuf !== undefined || extra || sndbufExtra) {
      net.tune = {};
      if (sndbuf !== undefined) net.tune.sndbuf = sndbuf;
      if (extra) net.tune.extra = extra;
      if (sndbufExtra) net.tune.sndbufExtra = sndbufExtra;
    }
  }
  const mtuEl = r.child('mtu');
  if (mtuEl) {
    const size = uintText(mtuEl.attr('size'));
    if (size === null || (size !== undefined && size > 0xffffffff)) throw new XmlError('malformed mtu size');
    const extra = mtuEl.rest();
    if (size || extra) {
      net.mtu = {};
      if (size) net.mtu.size = size;
      if (extra) net.mtu.extra = extra;
    }
  }
  const coalesce = r.child('coalesce');
  if (coalesce) net.coalesce = parseCoalesce(coalesce);
  const port = r.child('port');
  if (port) net.port = parsePortOptions(port);

  if (ignored.length) net.ignored = ignored;
  const extra = r.rest();
  if (extra) net.extra = extra;
  return net;
}

/** virDomainNetDefFormat (inactive definition). */
export function formatInterface(w: XmlWriter, n: Interface): void {
  const virtio = isVirtioModel(n.model?.type);
  const attrs: [string, string | undefined][] = [
    ['type', n.type],
    ['managed', n.type === 'hostdev' && n.hostdev?.managed === 'yes' ? 'yes' : undefined],
    ['trustGuestRxFilters', n.trustGuestRxFilters],
  ];
  w.element('interface', attrs, () => {
    if (n.mac) emitEmpty(w, 'mac', [['address', n.mac.address], ['type', n.mac.type], ['check', n.mac.check]], n.mac.extra);
    if (n.type === 'hostdev' && n.hostdev) formatHostdevSubsys(w, n.hostdev, true);
    else formatNetSource(w, n.type, n.source, n.backend?.type === 'passt');
    formatVlan(w, n.vlan);
    formatVirtualPort(w, n.virtualport);
    if (n.bandwidth) w.raw(n.bandwidth);
    formatPortOptions(w, n.port);
    formatNetIpInfo(w, n.ip);
    formatPortForwards(w, n.portForward);
    if (n.script) emitEmpty(w, 'script', [['path', n.script.path]], n.script.extra);
    if (n.downscript) emitEmpty(w, 'downscript', [['path', n.downscript.path]], n.downscript.extra);
    if (n.backenddomain) emitEmpty(w, 'backenddomain', [['name', n.backenddomain.name]], n.backenddomain.extra);
    if (n.target) emitEmpty(w, 'target', [['dev', n.target.dev], ['managed', n.target.managed]], n.target.extra);
    if (n.guest) emitEmpty(w, 'guest', [['dev', n.guest.dev], ['actual', n.guest.actual]], n.guest.extra);
    if (n.model) emitEmpty(w, 'model', [['type', n.model.type || undefined]], n.model.extra);
    formatNetDriver(w, n.driver, virtio);
    formatNetBackend(w, n.backend);
    formatFilterRef(w, n.filterref);
    if (n.tune) {
      const t = n.tune;
      w.element('tune', undefined, () => {
        if (t.sndbuf !== undefined) w.textElement('sndbuf', t.sndbuf, undefined, t.sndbufExtra);
        else if (t.sndbufExtra) w.empty('sndbuf', undefined, t.sndbufExtra);
      }, t.extra);
    }
    formatTeaming(w, n.teaming);
    if (n.link) emitEmpty(w, 'link', [['state', n.link.state]], n.link.extra);
    if (n.mtu) emitEmpty(w, 'mtu', [['size', n.mtu.size || undefined]], n.mtu.extra);
    formatCoalesce(w, n.coalesce);
    formatDeviceInfo(w, n.info);
  }, n.extra);
}

// ---- validation ----

function macText(n: Interface): string {
  return n.mac?.address ?? '00:00:00:00:00:00';
}

/** virDomainNetDefValidate (plus the hostdev address check for type='hostdev'). */
export function validateInterface(n: Interface): void {
  if (n.source?.hostIP && n.type !== 'ethernet') {
    throw new ConfigUnsupportedError(
      `Invalid attempt to set network interface host-side IP route and/or address info on interface of type '${n.type}'. ` +
        "This is only supported on interfaces of type 'ethernet'",
    );
  }
  if (n.target?.managed === 'no' && n.type !== 'ethernet') {
    throw new ConfigUnsupportedError(`unmanaged target dev is not supported on interfaces of type '${n.type}'`);
  }
  validateNetTeaming(n.teaming);
  if (n.port?.isolated === 'yes') {
    if (n.type !== 'network' && n.type !== 'bridge') {
      throw new ConfigUnsupportedError(
        `interface ${macText(n)} - <port isolated='yes'/> is not supported for network interfaces with type='${n.type}'`,
      );
    }
    if (n.virtualport?.type) {
      throw new ConfigUnsupportedError(
        `interface ${macText(n)} - <port isolated='yes'/> is not supported for network interfaces with virtualport type='${n.virtualport.type}'`,
      );
    }
  }
  if (!isVirtioModel(n.model?.type)) {
    const opt = virtioOptionsSet(n.driver)[0];
    // libvirt's texts: 'page_per_vq option', the other three '<name> driver option'.
    if (opt) throw new ConfigUnsupportedError(`${opt}${opt === 'page_per_vq' ? '' : ' driver'} option is only supported for virtio devices`);
  }
  const userLike = n.type === 'user' || n.type === 'vhostuser';
  const passt = n.backend?.type === 'passt';
  if (!userLike && passt) {
    throw new ConfigUnsupportedError("The 'passt' backend can only be used with interface type='user' or type='vhostuser'");
  }
  if (!passt) {
    if (userLike && n.source?.dev !== undefined) {
      throw new ConfigUnsupportedError(
        "The 'dev' attribute of the <source> element can only be used with <interface> type='user' or type='vhostuser' if the <backend> type='passt'",
      );
    }
    if (n.backend?.fqdn !== undefined || n.backend?.hostname !== undefined) {
      // libvirt prints the fqdn text for hostname too.
      throw new ConfigUnsupportedError("The 'fqdn' attribute of the <backend> element can only be used with the <backend> type='passt'");
    }
  }
  if (n.portForward.length > 0) {
    if (!userLike || !passt) {
      throw new ConfigUnsupportedError(
        "The <portForward> element can only be used with the 'passt' backend of interface type='user' or type='vhostuser'",
      );
    }
    for (const pf of n.portForward) {
      for (const rg of pf.range) {
        if (!rg.start && (rg.end || rg.to || rg.exclude !== undefined)) {
          throw new ConfigUnsupportedError(
            "The 'range' of a 'portForward' requires 'start' attribute if 'end', 'to', or 'exclude' is specified",
          );
        }
      }
    }
  }
  if (n.vlan && n.vlan.tag.length > 0) {
    const allowed = n.type === 'hostdev' || n.type === 'network' || n.type === 'bridge' ||
      (n.type === 'direct' && n.source?.mode === 'passthrough');
    if (!allowed) throw new ConfigUnsupportedError(`interface ${macText(n)} - vlan tag not supported for this connection type`);
  }
  if (n.type === 'hostdev' && n.hostdev) validateHostdevAddressType(n.hostdev.type, n.info);
}

/**
 * Teaming checks libvirt makes in the QEMU driver (qemu_validate.c,
 * qemuValidateDomainDeviceDefNetwork), kept here beside the model; conf does
 * not call it, the qemu layer does.
 */
export function validateNetTeamingModel(n: Interface): void {
  if (n.teaming?.type === 'persistent' && !isVirtioModel(n.model?.type)) {
    throw new ConfigUnsupportedError(
      `virtio-net teaming persistent interface must be <model type='virtio'/>, not '${n.model?.type || '(null)'}'`,
    );
  }
  if (n.teaming?.type === 'transient' && n.type !== 'hostdev' && n.type !== 'network') {
    throw new ConfigUnsupportedError(`virtio-net teaming transient interface must be type='hostdev', not '${n.type}'`);
  }
}

/**
 * Virtio queue sizes must be powers of two; libvirt checks this in the QEMU
 * driver (qemu_validate.c) and so does our qemu layer, by calling this.
 */
export function validateNetQueueSizes(n: Interface): void {
  if (!isVirtioModel(n.model?.type)) return;
  const pow2 = (v: number) => Number.isInteger(Math.log2(v));
  if (n.driver?.rx_queue_size && !pow2(n.driver.rx_queue_size)) throw new ConfigUnsupportedError('rx_queue_size has to be a power of two');
  if (n.driver?.tx_queue_size && !pow2(n.driver.tx_queue_size)) throw new ConfigUnsupportedError('tx_queue_size has to be a power of two');
}

