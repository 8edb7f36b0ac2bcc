// <interface>'s <model>, virtio <driver> (with <host>/<guest> offloads and
// the generic virtio options) and <backend>. Type, parse and format side by side.
import { propEnum, propUInt, propOnOff } from './props.js';
import { InvalidArgError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import type { OnOff } from './common.js';
import { emitEmpty } from './interface-util.js';

/** virDomainNetModel; index 0 ("unknown") means no model. Matched case-insensitively. */
export const NET_MODELS = [
  'unknown', 'netfront', 'rtl8139', 'virtio', 'e1000', 'e1000e', 'igb', 'virtio-transitional', 'virtio-non-transitional',
  'usb-net', 'spapr-vlan', 'lan9118', 'scm91c111', 'vlance', 'vmxnet', 'vmxnet2', 'vmxnet3', 'Am79C970A', 'Am79C973',
  '82540EM', '82545EM', '82543GC',
] as const;

const NET_MODEL_CHARS = /^[A-Za-z0-9_-]*$/;

/**
 * virDomainNetSetModelString: a known model comes out in libvirt's spelling
 * ('ViRtIo' -> 'virtio'); other names are kept if made of [A-Za-z0-9_-].
 */
export function parseNetModel(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const known = NET_MODELS.find((m) => m.toLowerCase() === raw.toLowerCase());
  if (known) return known === 'unknown' ? undefined : known;
  if (!NET_MODEL_CHARS.test(raw)) throw new InvalidArgError('Model name contains invalid characters');
  return raw;
}

/** virDomainNetIsVirtioModel */
export function isVirtioModel(model: string | undefined): boolean {
  return model === 'virtio' || model === 'virtio-transitional' || model === 'virtio-non-transitional';
}

/** Index 0 of each table is libvirt's "not set" value, refused when written (VIR_XML_PROP_NONZERO). */
export const NET_DRIVER_NAMES = ['qemu', 'vhost'] as const;
export const NET_TX_MODES = ['iothread', 'timer'] as const;

export interface NetDriverHost {
  csum?: OnOff;
  gso?: OnOff;
  tso4?: OnOff;
  tso6?: OnOff;
  ecn?: OnOff;
  ufo?: OnOff;
  mrg_rxbuf?: OnOff;
  extra?: Extra;
}

export interface NetDriverGuest {
  csum?: OnOff;
  tso4?: OnOff;
  tso6?: OnOff;
  ecn?: OnOff;
  ufo?: OnOff;
  extra?: Extra;
}

/** <driver> of a virtio NIC; the virtio options (iommu, ats, packed, page_per_vq) are read for every model. */
export interface NetDriver {
  name?: (typeof NET_DRIVER_NAMES)[number];
  txmode?: (typeof NET_TX_MODES)[number];
  ioeventfd?: OnOff;
  event_idx?: OnOff;
  /** 1 is stored as unset, as libvirt does (there is always one queue). */
  queues?: number;
  rx_queue_size?: number;
  tx_queue_size?: number;
  rss?: OnOff;
  rss_hash_report?: OnOff;
  iommu?: OnOff;
  ats?: OnOff;
  packed?: OnOff;
  page_per_vq?: OnOff;
  host?: NetDriverHost;
  guest?: NetDriverGuest;
  extra?: Extra;
}

const VIRTIO_OPTIONS = ['iommu', 'ats', 'packed', 'page_per_vq'] as const;
const HOST_OPTS = ['csum', 'gso', 'tso4', 'tso6', 'ecn', 'ufo', 'mrg_rxbuf'] as const;
const GUEST_OPTS = ['csum', 'tso4', 'tso6', 'ecn', 'ufo'] as const;
/** Attributes libvirt reads only for a virtio model on a non-hostdev interface. */
const VIRTIO_NET_ATTRS = ['name', 'txmode', 'ioeventfd', 'event_idx', 'queues', 'rx_queue_size', 'tx_queue_size', 'rss', 'rss_hash_report'] as const;

export interface DriverParseOptions {
  /** Model is virtio and the interface is not type='hostdev' (virDomainNetDefParseXMLDriver). */
  virtioNet: boolean;
  /** type='hostdev': name/model belong to the PCI driver, the caller reads them afterwards. */
  hostdev: boolean;
  ignored: string[];
}

function setOnOff<T extends object>(target: T, r: ElementReader, names: readonly string[]): void {
  for (const n of names) {
    const v = propOnOff(r, n);
    if (v !== undefined) (target as Record<string, unknown>)[n] = v;
  }
}

/**
 * virDomainVirtioOptionsParseXML + virDomainNetDefParseXMLDriver. What libvirt
 * reads but does not use for this interface goes to `ignored`; for type='hostdev'
 * the caller still reads name/model and collects the rest.
 */
export function parseNetDriver(d: ElementReader, opts: DriverParseOptions): NetDriver {
  const drv: NetDriver = {};
  setOnOff(drv, d, VIRTIO_OPTIONS);
  if (opts.virtioNet) {
    const name = propEnum(d, 'name', NET_DRIVER_NAMES);
    const txmode = propEnum(d, 'txmode', NET_TX_MODES);
    if (name) drv.name = name;
    if (txmode) drv.txmode = txmode;
    setOnOff(drv, d, ['ioeventfd', 'event_idx']);
    const queues = propUInt(d, 'queues');
    if (queues !== undefined && queues !== 1) drv.queues = queues;
    const rx = propUInt(d, 'rx_queue_size');
    const tx = propUInt(d, 'tx_queue_size');
    if (rx !== undefined) drv.rx_queue_size = rx;
    if (tx !== undefined) drv.tx_queue_size = tx;
    setOnOff(drv, d, ['rss', 'rss_hash_report']);
    const host = d.child('host');
    if (host) {
      drv.host = {};
      setOnOff(drv.host, host, HOST_OPTS);
      const extra = host.rest();
      if (extra) drv.host.extra = extra;
    }
    const guest = d.child('guest');
    if (guest) {
      drv.guest = {};
      setOnOff(drv.guest, guest, GUEST_OPTS);
      const extra = guest.rest();
      if (extra) drv.guest.extra = extra;
    }
  } else {
    for (const a of VIRTIO_NET_ATTRS) {
      if (opts.hostdev && a === 'name') continue;
      if (d.hasAttr(a)) {
        d.attr(a);
        opts.ignored.push(`driver/@${a}`);
      }
    }
    for (const c of ['host', 'guest']) if (d.child(c)) opts.ignored.push(`driver/${c}`);
  }
  if (!opts.hostdev) {
    const extra = d.rest();
    if (extra) drv.extra = extra;
  }
  return drv;
}

function hasAny(o: object | undefined): boolean {
  return !!o && Object.values(o).some((v) => v !== undefined);
}

/** virDomainVirtioNetDriverFormat + host/guest children; nothing when empty. */
export function formatNetDriver(w: XmlWriter, d: NetDriver | undefined, virtioNet: boolean): void {
  if (!d) return;
  if (!virtioNet) {
    // libvirt prints <driver> only for virtio models; keep XML we did not understand.
    if (d.extra) w.empty('driver', [], d.extra);
    return;
  }
  const attrs: [string, string | number | undefined][] = [
    ['name', d.name], ['txmode', d.txmode], ['ioeventfd', d.ioeventfd], ['event_idx', d.event_idx],
    ['queues', d.queues || undefined], ['rx_queue_size', d.rx_queue_size || undefined], ['tx_queue_size', d.tx_queue_size || undefined],
    ['rss', d.rss], ['rss_hash_report', d.rss_hash_report],
    ['iommu', d.iommu], ['ats', d.ats], ['packed', d.packed], ['page_per_vq', d.page_per_vq],
  ];
  const hasChildren = hasAny(d.host) || hasAny(d.guest) || !!d.extra?.children.length;
  if (!hasChildren && attrs.every(([, v]) => v === undefined) && !d.extra) return;
  w.element('driver', attrs, () => {
    if (d.host) emitEmpty(w, 'host', HOST_OPTS.map((k) => [k, d.host![k]]), d.host.extra);
    if (d.guest) emitEmpty(w, 'guest', GUEST_OPTS.map((k) => [k, d.guest![k]]), d.guest.extra);
  }, d.extra);
}

/** Virtio options set on `d` (for the "only supported for virtio devices" check). */
export function virtioOptionsSet(d: NetDriver | undefined): (typeof VIRTIO_OPTIONS)[number][] {
  return d ? VIRTIO_OPTIONS.filter((k) => d[k] !== undefined) : [];
}

// ---- <backend> ----

/** virDomainNetBackend; "default" is accepted and means unset. */
export const NET_BACKEND_TYPES = ['default', 'passt'] as const;

export interface NetBackend {
  type?: 'passt';
  tap?: string;
  vhost?: string;
  logFile?: string;
  hostname?: string;
  fqdn?: string;
  extra?: Extra;
}

/** virFileSanitizePath: squash repeated slashes (a leading '//' stays), drop a trailing one. */
export function sanitizePath(p: string): string {
  let lead = '';
  let rest = p;
  if (p.startsWith('//') && p[2] !== '/') {
    lead = '//';
    rest = p.slice(2);
  }
  let out = lead + rest.replace(/\/{2,}/g, '/');
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

export function parseNetBackend(b: ElementReader, vhostAllowed: boolean, ignored: string[]): NetBackend {
  const be: NetBackend = {};
  const type = propEnum(b, 'type', NET_BACKEND_TYPES);
  if (type === 'passt') be.type = type;
  const logFile = b.attr('logFile');
  const hostname = b.attr('hostname');
  const fqdn = b.attr('fqdn');
  const tap = b.attr('tap');
  const vhost = b.attr('vhost');
  if (logFile !== undefined) be.logFile = logFile;
  if (hostname !== undefined) be.hostname = hostname;
  if (fqdn !== undefined) be.fqdn = fqdn;
  if (tap !== undefined) be.tap = sanitizePath(tap);
  if (vhost !== undefined) {
    if (vhostAllowed) be.vhost = sanitizePath(vhost);
    else ignored.push('backend/@vhost');
  }
  const extra = b.rest();
  if (extra) be.extra = extra;
  return be;
}

export function formatNetBackend(w: XmlWriter, b: NetBackend | undefined): void {
  if (!b) return;
  emitEmpty(w, 'backend', [
    ['type', b.type], ['tap', b.tap], ['vhost', b.vhost], ['logFile', b.logFile], ['hostname', b.hostname], ['fqdn', b.fqdn],
  ], b.extra);
}
