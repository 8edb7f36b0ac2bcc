// <disk type='file' device='disk'>: type, parse, format and validation side
// by side (virDomainDiskDef*). Local storage sources (file, block, dir,
// vhostvdpa) are typed; other sources (network, volume, nvme, vhostuser),
// <auth>, <encryption>, <iotune>, <backingStore>, <mirror> are kept as
// written, at libvirt's position.
import { ConfigUnsupportedError, InternalError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlElement, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';
import type { OnOff, YesNo } from './common.js';
import { propEnum, propOnOff, propUInt, propYesNo } from './props.js';
import { type VirtioOptions, parseVirtioOptions, validateVirtioOptionsAbsent, virtioOptionAttrs } from './virtio-options.js';

/** virStorageType; index 0 ('none') is refused. */
export const DISK_TYPES = ['none', 'file', 'block', 'dir', 'network', 'volume', 'nvme', 'vhostuser', 'vhostvdpa'] as const;
export type DiskType = Exclude<(typeof DISK_TYPES)[number], 'none'>;
export const DISK_DEVICES = ['disk', 'cdrom', 'floppy', 'lun'] as const;
export type DiskDevice = (typeof DISK_DEVICES)[number];
export const DISK_BUSES = ['none', 'ide', 'fdc', 'scsi', 'virtio', 'xen', 'usb', 'uml', 'sata', 'sd'] as const;
export type DiskBus = Exclude<(typeof DISK_BUSES)[number], 'none'>;
export const DISK_MODELS = ['default', 'virtio', 'virtio-transitional', 'virtio-non-transitional'] as const;
export const DISK_SNAPSHOT = ['default', 'no', 'internal', 'external', 'manual'] as const;
export const DISK_SGIO = ['default', 'filtered', 'unfiltered'] as const;
export const DISK_TRAY = ['closed', 'open'] as const;
export const DISK_STARTUP_POLICIES = ['default', 'mandatory', 'requisite', 'optional'] as const;
export const DISK_CACHE = ['default', 'none', 'writethrough', 'writeback', 'directsync', 'unsafe'] as const;
export const DISK_ERROR_POLICIES = ['default', 'stop', 'report', 'ignore', 'enospace'] as const;
export const DISK_IO = ['default', 'native', 'threads', 'io_uring'] as const;
export const DISK_DISCARD = ['default', 'unmap', 'ignore'] as const;
export const DISK_DETECT_ZEROES = ['default', 'off', 'on', 'unmap'] as const;
/** virStorageFileFormat; 'none' (index 0) is refused, 'aio' reads as 'raw'. */
export const STORAGE_FORMATS = [
  'none', 'raw', 'dir', 'bochs', 'cloop', 'dmg', 'iso', 'vpc', 'vdi', 'fat', 'vhd', 'ploop', 'cow', 'qcow', 'qcow2',
  'qed', 'vmdk',
] as const;
export type StorageFormat = Exclude<(typeof STORAGE_FORMATS)[number], 'none'>;

export interface DiskDriver {
  name?: string;
  /** the image format (attribute 'type') */
  type?: StorageFormat;
  cache?: string;
  error_policy?: string;
  rerror_policy?: string;
  io?: string;
  ioeventfd?: OnOff;
  event_idx?: OnOff;
  copy_on_read?: OnOff;
  discard?: string;
  iothread?: number;
  detect_zeroes?: string;
  discard_no_unref?: OnOff;
  queues?: number;
  queue_size?: number;
  virtio?: VirtioOptions;
  /** <metadata_cache>, <iothreads> and unknown attributes, as written */
  extra?: Extra;
}

/** <source> of file/block/dir/vhostvdpa disks. */
export interface DiskSource {
  /** file='..', dev='..' or dir='..' depending on the disk type */
  path?: string;
  fdgroup?: string;
  startupPolicy?: string;
  /** index='N': only read from live XML */
  index?: number;
  extra?: Extra;
}

export interface DiskTarget {
  dev?: string;
  /** absent until post-parse picks one from the target name (then not written) */
  bus?: DiskBus;
  tray?: string;
  removable?: OnOff;
  rotation_rate?: number;
  extra?: Extra;
}

export interface Disk {
  kind: 'disk';
  type: DiskType;
  device: DiskDevice;
  model?: string;
  rawio?: YesNo;
  sgio?: string;
  snapshot?: string;
  driver?: DiskDriver;
  source?: DiskSource;
  /** <source> of network/volume/nvme/vhostuser disks, kept as written */
  sourceRaw?: XmlElement;
  target: DiskTarget;
  readonly?: boolean;
  shareable?: boolean;
  transient?: { shareBacking?: YesNo; extra?: Extra };
  serial?: string;
  wwn?: string;
  vendor?: string;
  product?: string;
  geometry?: { cyls?: number; heads?: number; secs?: number; trans?: string; extra?: Extra };
  blockio?: { logical_block_size?: number; physical_block_size?: number; discard_granularity?: number; extra?: Extra };
  info: DeviceInfo;
  /** auth, encryption, iotune, backingStore, mirror, backenddomain, unknown children */
  extra?: Extra;
}

const LOCAL_SOURCE_ATTR: Partial<Record<DiskType, string>> = { file: 'file', block: 'dev', dir: 'dir', vhostvdpa: 'dev' };

export function newDisk(type: DiskType, device: DiskDevice, dev: string, bus?: DiskBus): Disk {
  const d: Disk = { kind: 'disk', type, device, target: { dev }, info: {} };
  if (bus) d.target.bus = bus;
  return d;
}

function parseDriver(r: ElementReader): DiskDriver {
  const d: DiskDriver = {};
  const virtio = parseVirtioOptions(r);
  if (virtio) d.virtio = virtio;
  const name = r.attr('name');
  if (name !== undefined) d.name = name;
  const set = <K extends keyof DiskDriver>(k: K, v: DiskDriver[K] | undefined) => v !== undefined && (d[k] = v);
  set('cache', propEnum(r, 'cache', DISK_CACHE));
  set('error_policy', propEnum(r, 'error_policy', DISK_ERROR_POLICIES, { nonzero: true }));
  set('rerror_policy', propEnum(r, 'rerror_policy', DISK_ERROR_POLICIES, { nonzero: true }));
  if (d.rerror_policy === 'enospace') throw new ConfigUnsupportedError("Invalid disk read error policy: 'enospace'");
  set('io', propEnum(r, 'io', DISK_IO, { nonzero: true }));
  set('ioeventfd', propOnOff(r, 'ioeventfd'));
  set('event_idx', propOnOff(r, 'event_idx'));
  set('copy_on_read', propOnOff(r, 'copy_on_read'));
  set('discard', propEnum(r, 'discard', DISK_DISCARD, { nonzero: true }));
  set('iothread', propUInt(r, 'iothread', { nonzero: true }));
  set('detect_zeroes', propEnum(r, 'detect_zeroes', DISK_DETECT_ZEROES, { nonzero: true }));
  set('queues', propUInt(r, 'queues'));
  set('queue_size', propUInt(r, 'queue_size'));
  set('discard_no_unref', propOnOff(r, 'discard_no_unref'));
  const type = r.attr('type');
  if (type !== undefined) {
    if (type === 'aio') d.type = 'raw'; // Xen back-compat
    else if (!(STORAGE_FORMATS as readonly string[]).includes(type) || type === 'none') {
      throw new ConfigUnsupportedError(`unknown driver format value '${type}'`);
    } else d.type = type as StorageFormat;
  }
  const extra = r.rest();
  if (extra) d.extra = extra;
  return d;
}

function parseSource(r: ElementReader, attr: string, ctx: { inactive: boolean }): DiskSource {
  const s: DiskSource = {};
  const path = r.attr(attr);
  if (path !== undefined && path !== '') s.path = path;
  if (attr === 'file') {
    const fdgroup = r.attr('fdgroup');
    if (fdgroup !== undefined) s.fdgroup = fdgroup;
  }
  const policy = propEnum(r, 'startupPolicy', DISK_STARTUP_POLICIES, { nonzero: true });
  if (policy) s.startupPolicy = policy;
  const index = r.attr('index'); // only live XML carries it; libvirt ignores it otherwise
  if (index !== undefined && !ctx.inactive) {
    if (!/^[0-9]+$/.test(index)) throw new XmlError(`invalid disk index '${index}'`);
    s.index = Number(index);
  }
  const extra = r.rest();
  if (extra) s.extra = extra;
  return s;
}

/** virDomainDiskDefParseXML */
/** virValidateWWN: 16 hex digits, optionally after "0x" (libvirt reports it as an internal error). */
export function validateWwn(wwn: string): void {
  if (!/^(0x)?[0-9A-Fa-f]{16}$/.test(wwn)) throw new InternalError(`Malformed wwn: ${wwn}`);
}

/** The WWN as the number QEMU's wwn property takes. */
export function wwnValue(wwn: string): bigint {
  return BigInt(`0x${wwn.replace(/^0x/, '')}`);
}

export function parseDisk(r: ElementReader, ctx: { inactive: boolean }): Disk {
  const type = (propEnum(r, 'type', DISK_TYPES, { nonzero: true }) ?? 'file') as DiskType;
  const device = propEnum(r, 'device', DISK_DEVICES) ?? 'disk';
  const disk: Disk = { kind: 'disk', type, device, target: {}, info: {} };
  const model = propEnum(r, 'model', DISK_MODELS);
  if (model && model !== 'default') disk.model = model;
  const snapshot = propEnum(r, 'snapshot', DISK_SNAPSHOT, { nonzero: true });
  if (snapshot) disk.snapshot = snapshot;
  const rawio = propYesNo(r, 'rawio');
  if (rawio) disk.rawio = rawio;
  const sgio = propEnum(r, 'sgio', DISK_SGIO, { nonzero: true });
  if (sgio) disk.sgio = sgio;

  const source = r.firstChild('source');
  if (source) {
    const attr = LOCAL_SOURCE_ATTR[type];
    if (attr) disk.source = parseSource(source, attr, ctx);
    else disk.sourceRaw = source.el;
  } else {
    disk.type = 'file'; // libvirt resets the type when there is no <source>
  }
  const target = r.child('target');
  if (target) {
    const dev = target.attr('dev');
    if (dev !== undefined) disk.target.dev = dev;
    const bus = propEnum(target, 'bus', DISK_BUSES, { nonzero: true });
    if (bus) disk.target.bus = bus as DiskBus;
    const tray = propEnum(target, 'tray', DISK_TRAY);
    if (tray) disk.target.tray = tray;
    const removable = propOnOff(target, 'removable');
    if (removable) disk.target.removable = removable;
    const rate = propUInt(target, 'rotation_rate');
    if (rate !== undefined) disk.target.rotation_rate = rate;
    const extra = target.rest();
    if (extra) disk.target.extra = extra;
  }
  const geometry = r.child('geometry');
  if (geometry) {
    disk.geometry = {};
    for (const name of ['cyls', 'heads', 'secs'] as const) {
      const v = propUInt(geometry, name);
      if (v !== undefined) disk.geometry[name] = v;
    }
    const trans = propEnum(geometry, 'trans', ['default', 'none', 'auto', 'lba'] as const, { nonzero: true });
    if (trans) disk.geometry.trans = trans;
    const extra = geometry.rest();
    if (extra) disk.geometry.extra = extra;
  }
  const blockio = r.child('blockio');
  if (blockio) {
    disk.blockio = {};
    for (const name of ['logical_block_size', 'physical_block_size', 'discard_granularity'] as const) {
      const v = propUInt(blockio, name);
      if (v) disk.blockio[name] = v;
    }
    const extra = blockio.rest();
    if (extra) disk.blockio.extra = extra;
  }
  const driver = r.child('driver');
  if (driver) disk.driver = parseDriver(driver);
  if (r.child('readonly')) disk.readonly = true;
  if (r.child('shareable')) disk.shareable = true;
  const transient = r.child('transient');
  if (transient) {
    disk.transient = {};
    const share = propYesNo(transient, 'shareBacking');
    if (share) disk.transient.shareBacking = share;
    const extra = transient.rest();
    if (extra) disk.transient.extra = extra;
  }
  for (const name of ['serial', 'wwn', 'vendor', 'product'] as const) {
    const el = r.child(name);
    if (el && el.text() !== '') disk[name] = el.text();
  }
  if (disk.wwn !== undefined) validateWwn(disk.wwn);
  disk.info = parseDeviceInfo(r, ctx);
  delete disk.info.rom; // disks take <boot> but no <rom>
  const extra = r.rest();
  if (extra) disk.extra = extra;
  return disk;
}

function formatDriver(w: XmlWriter, d: Disk): void {
  const drv = d.driver;
  if (!drv) return;
  const attrs: [string, string | number | undefined][] = [
    ['name', drv.name],
    ['type', drv.type],
    ['cache', drv.cache === 'default' ? undefined : drv.cache],
    ['error_policy', drv.error_policy],
    ['rerror_policy', drv.rerror_policy],
    ['io', drv.io],
    ['ioeventfd', drv.ioeventfd],
    ['event_idx', drv.event_idx],
    ['copy_on_read', drv.copy_on_read],
    ['discard', drv.discard],
    ['iothread', drv.iothread],
    ['detect_zeroes', drv.detect_zeroes],
    ['discard_no_unref', drv.discard_no_unref],
    ['queues', drv.queues || undefined],
    ['queue_size', drv.queue_size || undefined],
    ...virtioOptionAttrs(drv.virtio),
  ];
  if (!attrs.some(([, v]) => v !== undefined) && !drv.extra) return;
  w.empty('driver', attrs, drv.extra);
}

function formatSource(w: XmlWriter, d: Disk): void {
  if (d.sourceRaw) {
    w.raw(d.sourceRaw);
    return;
  }
  const s = d.source;
  const attr = LOCAL_SOURCE_ATTR[d.type];
  if (!s || !attr) return;
  const attrs: [string, string | number | undefined][] = [
    [attr, s.path],
    ['fdgroup', attr === 'file' ? s.fdgroup : undefined],
    ['startupPolicy', s.startupPolicy],
    ['index', s.index || undefined],
  ];
  if (!attrs.some(([, v]) => v !== undefined) && !s.extra) return;
  w.element('source', attrs, () => w.extraChildren(s.extra), attrsOf(s.extra));
}

function formatTarget(w: XmlWriter, d: Disk): void {
  const t = d.target;
  const tray = (d.device === 'floppy' || d.device === 'cdrom') && t.tray && t.tray !== 'closed' ? t.tray : undefined;
  w.empty('target', [
    ['dev', t.dev],
    ['bus', t.bus],
    ['tray', tray],
    ['removable', t.bus === 'usb' ? t.removable : undefined],
    ['rotation_rate', t.rotation_rate || undefined],
  ], t.extra);
}

const DISK_CHILD_ORDER = [
  'driver', 'auth', 'source', 'backingStore', 'backenddomain', 'geometry', 'blockio', 'mirror', 'target', 'iotune',
  'throttlefilters',
  'readonly', 'shareable', 'transient', 'serial', 'wwn', 'vendor', 'product', 'encryption', 'info',
] as const;

/** virDomainDiskDefFormat */
export function formatDisk(w: XmlWriter, d: Disk): void {
  const snapshot = d.snapshot && !(d.snapshot === 'no' && d.readonly) ? d.snapshot : undefined;
  const attrs: [string, string | undefined][] = [
    ['type', d.type], ['device', d.device], ['model', d.model], ['rawio', d.rawio], ['sgio', d.sgio], ['snapshot', snapshot],
  ];
  w.element('disk', attrs, () => orderedChildren(w, DISK_CHILD_ORDER, {
    driver: () => formatDriver(w, d),
    source: () => formatSource(w, d),
    geometry: () => {
      const g = d.geometry; // written only when all three are set (> 0), as libvirt does
      if (g?.cyls && g.heads && g.secs) {
        w.empty('geometry', [['cyls', g.cyls], ['heads', g.heads], ['secs', g.secs], ['trans', g.trans]], g.extra);
      }
    },
    blockio: () => {
      const b = d.blockio;
      if (b && (b.logical_block_size || b.physical_block_size || b.discard_granularity || b.extra)) {
        w.empty('blockio', [
          ['logical_block_size', b.logical_block_size],
          ['physical_block_size', b.physical_block_size],
          ['discard_granularity', b.discard_granularity],
        ], b.extra);
      }
    },
    target: () => formatTarget(w, d),
    readonly: () => d.readonly && w.empty('readonly'),
    shareable: () => d.shareable && w.empty('shareable'),
    transient: () => d.transient && w.empty('transient', [['shareBacking', d.transient.shareBacking === 'yes' ? 'yes' : undefined]], d.transient.extra),
    serial: () => w.textElement('serial', d.serial),
    wwn: () => w.textElement('wwn', d.wwn),
    vendor: () => w.textElement('vendor', d.vendor),
    product: () => w.textElement('product', d.product),
    info: () => formatDeviceInfo(w, d.info),
  }, d.extra), attrsOf(d.extra));
}

/** virDiskNameParse: sda -> 0, hdz -> 25, vdaa -> 26; undefined when not a disk name. */
export function diskNameToIndex(name: string): number | undefined {
  const prefix = ['fd', 'hd', 'vd', 'sd', 'xvd', 'ubd'].find((p) => name.startsWith(p));
  if (prefix === undefined) return undefined;
  const m = /^([a-z]+)([0-9]*)$/.exec(name.slice(prefix.length));
  if (!m) return undefined;
  let idx = 0;
  [...m[1]].forEach((ch, i) => (idx = (idx + (i < 1 ? 0 : 1)) * 26 + (ch.charCodeAt(0) - 97)));
  return idx;
}

function isDisk(d: Device): d is Disk {
  return d.kind === 'disk';
}

/** virDomainDiskInsert: a disk goes before the first disk on its bus with a higher target index. */
export function insertDisk(list: Disk[], disk: Disk): void {
  let insertAt = -1;
  const key = (x: Disk) => (x.target.dev === undefined ? undefined : diskNameToIndex(x.target.dev) ?? -1);
  for (let i = list.length - 1; i >= 0; i--) {
    const cur = list[i];
    if (cur.target.bus !== disk.target.bus) continue;
    const a = key(cur);
    const b = key(disk);
    if (a !== undefined && b !== undefined && a > b) insertAt = i;
    else if (insertAt === -1) insertAt = i + 1;
  }
  if (insertAt === -1) list.push(disk);
  else list.splice(insertAt, 0, disk);
}

/** Put the disks of a device list in the order libvirt's parser keeps them. */
export function orderDisks(devices: Device[]): void {
  const slots: number[] = [];
  const sorted: Disk[] = [];
  devices.forEach((d, i) => {
    if (isDisk(d)) {
      slots.push(i);
      insertDisk(sorted, d);
    }
  });
  slots.forEach((slot, k) => (devices[slot] = sorted[k]));
}

const HARDDISK_PREFIXES = ['hd', 'sd', 'vd', 'xvd', 'ubd'];
const VENDOR_LEN = 8;
const PRODUCT_LEN = 16;
const printable = (s: string) => /^[\x20-\x7e]*$/.test(s);

/** The cheap parts of virDomainDiskDefValidate, in libvirt's order. */
export function validateDisk(d: Disk): void {
  const bus = d.target.bus ?? 'none';
  const dst = d.target.dev;
  if (d.sgio === 'unfiltered') throw new ConfigUnsupportedError('unfiltered sgio is no longer supported');
  if (d.device !== 'lun') {
    if (d.rawio) throw new ConfigUnsupportedError("rawio can be used only with device='lun'");
    if (d.sgio) throw new ConfigUnsupportedError("sgio can be used only with device='lun'");
  }
  const addrType = d.info.address?.type;
  if (addrType && ['ide', 'fdc', 'scsi', 'sata'].includes(bus) && addrType !== 'drive') {
    throw new ConfigUnsupportedError(`Invalid address type '${addrType}' for the disk '${dst}' with the bus type '${bus}'`);
  }
  if (bus !== 'virtio') {
    if (d.model) throw new ConfigUnsupportedError(`disk model '${d.model}' not supported for bus '${bus}'`);
    if (d.driver?.queues) throw new ConfigUnsupportedError('queues attribute in disk driver element is only supported for virtio bus');
    if (d.driver?.queue_size) throw new ConfigUnsupportedError('queue_size attribute in disk driver is only supported for virtio bus');
    if (d.driver?.event_idx) throw new ConfigUnsupportedError('disk event_idx mode supported only for virtio bus');
    if (d.driver?.ioeventfd) throw new ConfigUnsupportedError('disk ioeventfd mode supported only for virtio bus');
    validateVirtioOptionsAbsent(d.driver?.virtio);
  }
  if (d.target.tray && d.device !== 'floppy' && d.device !== 'cdrom') {
    throw new ConfigUnsupportedError('tray is only valid for cdrom and floppy');
  }
  for (const [field, max] of [['vendor', VENDOR_LEN], ['product', PRODUCT_LEN]] as const) {
    const v = d[field];
    if (v === undefined) continue;
    if (!printable(v)) throw new XmlError(`disk ${field} is not printable string`);
    if (v.length > max) throw new ConfigUnsupportedError(`disk ${field} is more than ${max} characters`);
  }
  if (d.device === 'floppy' && bus !== 'fdc') throw new InternalError(`Invalid bus type '${bus}' for floppy disk`);
  if (d.device !== 'floppy' && bus === 'fdc') throw new InternalError(`Invalid bus type '${bus}' for disk`);
  if (d.target.removable && bus !== 'usb' && !(bus === 'scsi' && d.device === 'disk')) {
    throw new XmlError('removable is only valid for usb or scsi disks');
  }
  if (dst !== undefined && (d.device === 'disk' || d.device === 'lun') && !HARDDISK_PREFIXES.some((p) => dst.startsWith(p))) {
    throw new InternalError(`Invalid harddisk device name: ${dst}`);
  }
  if (dst !== undefined && d.device === 'floppy' && !dst.startsWith('fd')) {
    throw new InternalError(`Invalid floppy device name: ${dst}`);
  }
  if (d.driver?.discard_no_unref === 'on') {
    if (d.driver.type !== 'qcow2') throw new ConfigUnsupportedError("'discard_no_unref' only works with qcow2 disk format");
    if (d.readonly) throw new ConfigUnsupportedError("'discard_no_unref' is not compatible with read-only disk");
  }
}

