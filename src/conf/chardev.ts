// Character devices: <serial>, <console>, <parallel>, <channel> (libvirt's
// virDomainChrDef). The host side (type + <source>/<protocol>/<log>) is
// virDomainChrSourceDef, shared with <rng> backends.
import { ConfigUnsupportedError, InternalError, InvalidArgError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlElement, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';
import type { OnOff, YesNo } from './common.js';
import { propEnum, propOnOff, propUInt, propYesNo } from './props.js';

export const CHR_TYPES = [
  'null', 'vc', 'pty', 'dev', 'file', 'pipe', 'stdio', 'udp', 'tcp', 'unix', 'spicevmc', 'spiceport', 'nmdm',
  'qemu-vdagent', 'dbus',
] as const;
export type ChrType = (typeof CHR_TYPES)[number];
export const CHR_DEVICE_KINDS = ['parallel', 'serial', 'console', 'channel'] as const;
export type ChrDeviceKind = (typeof CHR_DEVICE_KINDS)[number];

/** Target types per device kind; index 0 ('none') is libvirt's "not set". */
export const SERIAL_TARGET_TYPES = [
  'none', 'isa-serial', 'usb-serial', 'pci-serial', 'spapr-vio-serial', 'system-serial', 'sclp-serial', 'isa-debug',
] as const;
export const CONSOLE_TARGET_TYPES = ['none', 'serial', 'xen', 'uml', 'virtio', 'lxc', 'openvz', 'sclp', 'sclplm'] as const;
export const CHANNEL_TARGET_TYPES = ['none', 'guestfwd', 'virtio', 'xen'] as const;
export const SERIAL_TARGET_MODELS = [
  'none', 'isa-serial', 'usb-serial', 'pci-serial', 'spapr-vty', 'pl011', 'sclpconsole', 'sclplmconsole', '16550a',
  'isa-debugcon',
] as const;
export const CHR_TCP_PROTOCOLS = ['raw', 'telnet', 'telnets', 'tls'] as const;
export const CHR_SOURCE_MODES = ['connect', 'bind'] as const;
export type ChrSourceMode = (typeof CHR_SOURCE_MODES)[number];

export interface ChrReconnect {
  enabled: YesNo;
  timeout?: number;
}

/** The host side of a character device. Which fields apply depends on `type`. */
export interface ChrSource {
  type: ChrType;
  /** pty (live only), dev, file, pipe, unix */
  path?: string;
  /** file */
  append?: OnOff;
  /** unix, tcp: 'bind' listens */
  mode?: ChrSourceMode;
  /** tcp */
  host?: string;
  service?: string;
  tls?: YesNo;
  protocol?: string;
  /** udp: the two <source mode='bind|connect'> elements */
  bindHost?: string;
  bindService?: string;
  connectHost?: string;
  connectService?: string;
  /** spiceport, dbus */
  channel?: string;
  /** nmdm */
  master?: string;
  slave?: string;
  /** unix, tcp */
  reconnect?: ChrReconnect;
  log?: { file?: string; append?: OnOff; extra?: Extra };
  /** unknown attributes and children (<seclabel>) of <source> */
  sourceExtra?: Extra;
  /** qemu-vdagent <source> (clipboard/mouse), kept as written */
  sourceRaw?: XmlElement;
}

export interface ChrTarget {
  /** from the kind's target type table; absent = libvirt's 'none' */
  type?: string;
  /** serial, console, parallel: -1 until assigned */
  port: number;
  /** serial: <model name=.../> */
  model?: string;
  /** channel virtio/xen */
  name?: string;
  /** channel virtio, live only */
  state?: string;
  /** channel guestfwd */
  address?: string;
  guestfwdPort?: number;
  extra?: Extra;
}

export interface Chardev {
  kind: ChrDeviceKind;
  source: ChrSource;
  target: ChrTarget;
  info: DeviceInfo;
  extra?: Extra;
}

export function newChardev(kind: ChrDeviceKind, type: ChrType, port = -1): Chardev {
  return { kind, source: { type }, target: { port }, info: {} };
}

function parseReconnect(src: ElementReader, s: ChrSource): void {
  const rc = src.child('reconnect');
  if (!rc) return;
  const enabled = propYesNo(rc, 'enabled');
  if (enabled === 'yes') s.reconnect = { enabled, timeout: propUInt(rc, 'timeout', { required: true }) };
  else if (enabled === 'no') s.reconnect = { enabled };
}

/**
 * virDomainChrSourceDefParseXML: `parent` holds <source>, <log> and <protocol>
 * (the chardev element itself, or an rng <backend>).
 */
export function parseChrSource(parent: ElementReader, type: ChrType, ctx: { inactive: boolean }): ChrSource {
  const s: ChrSource = { type };
  const sources = parent.children('source');
  if (sources.length > 1 && type !== 'udp') throw new XmlError('only one source element is allowed for character device');
  if (sources.length > 2) throw new XmlError('only two source elements are allowed for character device');
  const src = sources[0];
  if (src && type === 'qemu-vdagent') {
    s.sourceRaw = src.el;
  } else if (src) {
    switch (type) {
      case 'file':
        s.path = src.attr('path');
        s.append = propOnOff(src, 'append');
        break;
      case 'pty': {
        const path = src.attr('path'); // a pty path is only read from live XML
        if (!ctx.inactive) s.path = path;
        break;
      }
      case 'dev':
      case 'pipe':
        s.path = src.attr('path');
        break;
      case 'unix':
        s.mode = propEnum(src, 'mode', CHR_SOURCE_MODES) ?? 'connect';
        s.path = src.attr('path');
        parseReconnect(src, s);
        break;
      case 'tcp':
        s.mode = propEnum(src, 'mode', CHR_SOURCE_MODES) ?? 'connect';
        s.host = src.attr('host');
        s.service = src.attr('service');
        s.tls = propYesNo(src, 'tls');
        parseReconnect(src, s);
        break;
      case 'udp':
        for (const one of sources) {
          const mode = propEnum(one, 'mode', CHR_SOURCE_MODES) ?? 'connect';
          const host = one.attr('host');
          const service = one.attr('service');
          if (mode === 'connect' && s.connectHost === undefined && s.connectService === undefined) {
            s.connectHost = host;
            s.connectService = service;
          } else if (mode === 'bind' && s.bindHost === undefined && s.bindService === undefined) {
            s.bindHost = host;
            s.bindService = service;
          }
        }
        break;
      case 'spiceport':
      case 'dbus':
        s.channel = src.attr('channel');
        break;
      case 'nmdm':
        s.master = src.attr('master');
        s.slave = src.attr('slave');
        break;
      default:
        break;
    }
    if (type !== 'udp') {
      const extra = src.rest();
      if (extra) s.sourceExtra = extra;
    }
  }
  const logs = parent.children('log');
  if (logs.length > 1) throw new XmlError('only one log element is allowed for character device');
  if (logs[0]) {
    s.log = {};
    const file = logs[0].attr('file');
    const append = propOnOff(logs[0], 'append');
    if (file !== undefined) s.log.file = file;
    if (append) s.log.append = append;
    const extra = logs[0].rest();
    if (extra) s.log.extra = extra;
  }
  const protocols = parent.children('protocol');
  if (protocols.length > 1) throw new XmlError('only one protocol element is allowed for character device');
  if (protocols[0] && type === 'tcp') {
    const prot = protocols[0].attr('type');
    if (prot !== undefined && !(CHR_TCP_PROTOCOLS as readonly string[]).includes(prot)) {
      throw new ConfigUnsupportedError(`Unknown protocol '${prot}'`);
    }
    if (prot !== undefined) s.protocol = prot;
  }
  for (const k of Object.keys(s) as (keyof ChrSource)[]) if (s[k] === undefined) delete s[k];
  return s;
}

function formatReconnect(w: XmlWriter, rc: ChrReconnect | undefined): void {
  if (rc) w.empty('reconnect', [['enabled', rc.enabled], ['timeout', rc.enabled === 'yes' ? rc.timeout ?? 0 : undefined]]);
}

function sourceElement(w: XmlWriter, attrs: [string, string | undefined][], s: ChrSource, children: () => void = () => undefined): void {
  w.element('source', attrs, () => {
    children();
    w.extraChildren(s.sourceExtra);
  }, attrsOf(s.sourceExtra));
}

/** virDomainChrSourceDefFormat: the elements after the device's own attributes. */
export function formatChrSource(w: XmlWriter, s: ChrSource): void {
  if (s.sourceRaw) w.raw(s.sourceRaw);
  switch (s.type) {
    case 'pty':
    case 'dev':
    case 'file':
    case 'pipe':
      if (s.type !== 'pty' || s.path !== undefined) {
        sourceElement(w, [['path', s.path], ['append', s.type === 'file' ? s.append : undefined]], s);
      }
      break;
    case 'nmdm':
      sourceElement(w, [['master', s.master], ['slave', s.slave]], s);
      break;
    case 'udp':
      if (s.bindHost !== undefined || s.bindService !== undefined) {
        w.empty('source', [['mode', 'bind'], ['host', s.bindHost], ['service', s.bindService]]);
      }
      if (s.connectHost !== undefined || s.connectService !== undefined) {
        w.empty('source', [['mode', 'connect'], ['host', s.connectHost], ['service', s.connectService]]);
      }
      break;
    case 'tcp':
      sourceElement(w, [['mode', s.mode ?? 'connect'], ['host', s.host], ['service', s.service], ['tls', s.tls]], s,
        () => formatReconnect(w, s.reconnect));
      w.empty('protocol', [['type', s.protocol ?? 'raw']]);
      break;
    case 'unix':
      if (s.path !== undefined) {
        sourceElement(w, [['mode', s.mode ?? 'connect'], ['path', s.path]], s, () => formatReconnect(w, s.reconnect));
      }
      break;
    case 'spiceport':
    case 'dbus':
      sourceElement(w, [['channel', s.channel]], s);
      break;
    default:
      break;
  }
  if (s.log?.file !== undefined) w.empty('log', [['file', s.log.file], ['append', s.log.append]], s.log.extra);
}

const TARGET_TYPES: Record<ChrDeviceKind, readonly string[]> = {
  serial: SERIAL_TARGET_TYPES,
  console: CONSOLE_TARGET_TYPES,
  channel: CHANNEL_TARGET_TYPES,
  parallel: [],
};

function parseTarget(kind: ChrDeviceKind, t: ElementReader | undefined, ctx: { inactive: boolean }): ChrTarget {
  const target: ChrTarget = { port: -1 };
  if (!t) {
    if (kind === 'channel') throw new XmlError('target type must be specified for channel device');
    return target;
  }
  const type = t.attr('type');
  if (kind !== 'parallel' && type !== undefined) {
    if (!TARGET_TYPES[kind].includes(type)) {
      throw new ConfigUnsupportedError(`unknown target type '${type}' specified for character device`);
    }
    if (type !== 'none') target.type = type;
  } else if (kind === 'channel') {
    throw new XmlError('target type must be specified for channel device');
  }
  const modelEl = t.child('model');
  const model = modelEl?.attr('name');
  if (kind === 'serial' && model !== undefined) {
    if (!(SERIAL_TARGET_MODELS as readonly string[]).includes(model)) {
      throw new ConfigUnsupportedError(`unknown target model '${model}' specified for character device`);
    }
    if (model !== 'none') target.model = model;
  }
  if (kind === 'channel') {
    if (target.type === 'guestfwd') {
      const address = t.attr('address');
      if (address === undefined) throw new XmlError('guestfwd channel does not define a target address');
      target.address = address;
      target.guestfwdPort = propUInt(t, 'port', { required: true });
    } else if (target.type === 'virtio' || target.type === 'xen') {
      const name = t.attr('name');
      if (name !== undefined) target.name = name;
      if (target.type === 'virtio') {
        const state = t.attr('state'); // live only
        if (!ctx.inactive && state !== undefined) {
          target.state = propEnum(t, 'state', ['default', 'connected', 'disconnected'] as const, { nonzero: true });
        }
      }
    }
  } else {
    const port = t.attr('port');
    if (port !== undefined) {
      const v = /^[ \t\n\r\f\v]*\+?[0-9]+$/.test(port) ? Number(port.trim()) : NaN;
      if (!Number.isSafeInteger(v) || v > 0xffffffff) throw new XmlError(`Invalid port number: ${port}`);
      target.port = v;
    }
  }
  const extra = t.rest();
  if (extra) target.extra = extra;
  return target;
}

/** virDomainChrDefParseXML */
export function parseChardev(r: ElementReader, ctx: { inactive: boolean }): Chardev {
  const kind = r.name as ChrDeviceKind;
  const typeAttr = r.attr('type');
  let type: ChrType = 'pty';
  if (typeAttr !== undefined) {
    if (!(CHR_TYPES as readonly string[]).includes(typeAttr)) {
      throw new ConfigUnsupportedError(`unknown type presented to host for character device: ${typeAttr}`);
    }
    type = typeAttr as ChrType;
  }
  const target = parseTarget(kind, r.child('target'), ctx);
  const source = parseChrSource(r, type, ctx);
  if (type === 'spicevmc' && target.type !== 'virtio') {
    throw new ConfigUnsupportedError('spicevmc device type only supports virtio');
  }
  const info = parseDeviceInfo(r, ctx);
  delete info.boot;
  delete info.rom;
  if (kind === 'serial' && target.type === 'usb-serial' && info.address && info.address.type !== 'usb') {
    throw new ConfigUnsupportedError('usb-serial requires address of usb type');
  }
  const c: Chardev = { kind, source, target, info };
  const extra = r.rest();
  if (extra) c.extra = extra;
  return c;
}

function formatTarget(w: XmlWriter, c: Chardev): void {
  const t = c.target;
  const port = t.port < 0 ? undefined : t.port; // unassigned: post-parse numbers it before libvirt writes anything
  switch (c.kind) {
    case 'channel': {
      const attrs: [string, string | number | undefined][] = [['type', t.type ?? 'none']];
      if (t.type === 'guestfwd') attrs.push(['address', t.address], ['port', t.guestfwdPort]);
      else if (t.type === 'virtio' || t.type === 'xen') attrs.push(['name', t.name], ['state', t.type === 'virtio' ? t.state : undefined]);
      w.empty('target', attrs, t.extra);
      break;
    }
    case 'console':
      w.empty('target', [['type', t.type ?? 'none'], ['port', port]], t.extra);
      break;
    case 'serial':
      w.element('target', [['type', t.type], ['port', port]], () => {
        if (t.model) w.empty('model', [['name', t.model]]);
        w.extraChildren(t.extra);
      }, attrsOf(t.extra));
      break;
    case 'parallel':
      w.empty('target', [['port', port]], t.extra);
      break;
  }
}

/** virDomainChrDefFormat */
export function formatChardev(w: XmlWriter, c: Chardev): void {
  w.open(c.kind, [['type', c.source.type]], attrsOf(c.extra));
  orderedChildren(w, ['source', 'target', 'info'], {
    source: () => formatChrSource(w, c.source),
    target: () => formatTarget(w, c),
    info: () => formatDeviceInfo(w, c.info, { allowBoot: false }),
  }, c.extra);
  w.close(c.kind);
}

const CHANNEL_NAME_RE = /^[A-Za-z0-9_.-]*$/;

/** virDomainChrSourceDefValidate (without security-label checks). */
export function validateChrSource(s: ChrSource, chr?: Chardev): void {
  switch (s.type) {
    case 'file':
    case 'dev':
    case 'pipe':
      if (s.path === undefined) throw new InternalError('Missing source path attribute for char device');
      break;
    case 'nmdm':
      if ((s.master !== undefined) !== (s.slave !== undefined)) {
        throw new InternalError('Should define both master and slave path attributes for nmdm device');
      }
      break;
    case 'tcp':
      if (s.host === undefined) throw new InternalError('Missing source host attribute for char device');
      if (s.service === undefined) throw new InternalError('Missing source service attribute for char device');
      if (s.mode === 'bind' && s.reconnect?.enabled === 'yes') {
        throw new InternalError('chardev reconnect is possible only for connect mode');
      }
      break;
    case 'udp':
      if (s.connectService === undefined) throw new InternalError('Missing source service attribute for char device');
      break;
    case 'unix':
      if (s.path === undefined && !(chr?.kind === 'channel' && (chr.target.type === 'xen' || chr.target.type === 'virtio'))) {
        throw new InternalError('Missing source path attribute for char device');
      }
      if (s.mode === 'bind' && s.reconnect?.enabled === 'yes') {
        throw new InternalError('chardev reconnect is possible only for connect mode');
      }
      break;
    case 'spiceport':
    case 'dbus':
      if (s.channel === undefined) throw new ConfigUnsupportedError('Missing source channel attribute for char device');
      if (!CHANNEL_NAME_RE.test(s.channel)) throw new InvalidArgError('Invalid character in source channel for char device');
      break;
    default:
      break;
  }
}

export function validateChardev(c: Chardev): void {
  validateChrSource(c.source, c);
}

function isChardev(d: Device, kind?: ChrDeviceKind): d is Chardev {
  return (CHR_DEVICE_KINDS as readonly string[]).includes(d.kind) && (kind === undefined || d.kind === kind) && 'source' in d;
}

/**
 * The port numbering libvirt's parser does: a parallel port without a port
 * gets the highest earlier port + 1, and every console gets its position
 * among the consoles (the XML value is not kept).
 */
export function assignParsePorts(devices: readonly Device[]): void {
  let maxParallel = -1;
  let consoles = 0;
  for (const d of devices) {
    if (isChardev(d, 'parallel')) {
      if (d.target.port === -1) d.target.port = maxParallel + 1;
      maxParallel = Math.max(maxParallel, d.target.port);
    } else if (isChardev(d, 'console')) {
      d.target.port = consoles++;
    }
  }
}


/**
 * The view virDomainDefFormatInternal writes for an HVM guest: console N of
 * target type serial (or none) is written as a copy of serial N (its source
 * and device info), with target type 'serial' and the serial's port.
 */
export function consoleCompatView(devices: readonly Device[], osType: string | undefined): Device[] {
  if (osType !== 'hvm') return [...devices];
  const serials = devices.filter((d) => isChardev(d, 'serial')) as Chardev[];
  let n = 0;
  return devices.map((d) => {
    if (!isChardev(d, 'console')) return d;
    const serial = serials[n++];
    if (!serial || (d.target.type !== undefined && d.target.type !== 'serial')) return d;
    const copy: Chardev = {
      kind: 'console',
      source: serial.source,
      target: { type: 'serial', port: serial.target.port },
      info: serial.info,
    };
    if (d.extra) copy.extra = d.extra; // what we do not model stays with the console
    return copy;
  });
}
