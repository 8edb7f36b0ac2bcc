// <disk>: one -blockdev per layer (storage, then format) and the -device that
// uses it (qemuBuildDiskCommandLine, qemuBlockStorageSourceGetBackendProps).
import type { DriveAddress } from '../../conf/address.js';
import type { Controller } from '../../conf/controller.js';
import { type Disk, wwnValue } from '../../conf/disk.js';
import { ConfigUnsupportedError, InternalError } from '../../util/errors.js';
import type { BuildContext } from './context.js';
import { aliasOf, deviceAddressProps, bootIndexOf, devicesOf, unsupported, virtioDriverName, virtioOptionProps } from './context.js';
import { hasBuiltinIde, isQ35 } from './domain.js';
import { type PropObject, positive, tristate } from './props.js';

interface DiskNodes {
  storage: string;
  format?: string;
}

/**
 * The raw format layer is left out when QEMU can (in)activate block nodes itself
 * ('blockdev-set-active', QEMU 10.0): libvirt 11 then puts the device directly on
 * the storage node. Every other format keeps its format node.
 */
function needsFormatLayer(ctx: BuildContext, disk: Disk): boolean {
  if ((disk.driver?.type ?? 'raw') !== 'raw') return true;
  return !ctx.caps.flags.has('blockdev-set-active');
}

/** qemuDomainDiskCachemodeFlags: [write-cache, direct, no-flush] or undefined for the default. */
function cacheFlags(mode: string | undefined): [boolean, boolean, boolean] | undefined {
  switch (mode) {
    case 'none': return [true, true, false];
    case 'writethrough': return [false, false, false];
    case 'writeback': return [true, false, false];
    case 'directsync': return [false, true, false];
    case 'unsafe': return [true, false, true];
    default: return undefined;
  }
}

function cacheProps(disk: Disk): PropObject | undefined {
  const f = cacheFlags(disk.driver?.cache);
  return f ? { direct: f[1], 'no-flush': f[2] } : undefined;
}

/** The storage node (file / host_device) of a local disk. */
function storageProps(disk: Disk, nodes: DiskNodes): PropObject {
  const path = disk.source?.path;
  let props: PropObject;
  switch (disk.type) {
    case 'file': props = { driver: 'file', filename: path }; break;
    case 'block': props = { driver: disk.device === 'cdrom' && path === '/dev/cdrom' ? 'host_cdrom' : 'host_device', filename: path }; break;
    default: return unsupported(`<disk type='${disk.type}'>`);
  }
  if (disk.driver?.io && disk.driver.io !== 'default') props.aio = disk.driver.io;
  props['node-name'] = nodes.storage;
  if (nodes.format) {
    props['auto-read-only'] = true;
    props.discard = 'unmap';
  } else {
    Object.assign(props, effectiveProps(disk));
  }
  const cache = cacheProps(disk);
  if (cache) props.cache = cache;
  return props;
}

/** read-only, discard and detect-zeroes of the node the device uses. */
function effectiveProps(disk: Disk): PropObject {
  const discard = disk.driver?.discard;
  let dz = disk.driver?.detect_zeroes;
  if (dz === 'unmap' && discard !== 'unmap') dz = 'on';
  return {
    'read-only': disk.readonly === true,
    discard: discard && discard !== 'default' ? discard : undefined,
    'detect-zeroes': dz && dz !== 'default' ? dz : undefined,
  };
}

function formatProps(disk: Disk, nodes: DiskNodes): PropObject {
  const props: PropObject = { 'node-name': nodes.format, ...effectiveProps(disk) };
  const cache = cacheProps(disk);
  if (cache) props.cache = cache;
  props.driver = disk.driver?.type ?? 'raw';
  props.file = nodes.storage;
  return props;
}

/** qemuBuildDeviceAddresDriveProps */
function driveAddressProps(ctx: BuildContext, disk: Disk): PropObject {
  const a = disk.info.address;
  if (a?.type !== 'drive') return deviceAddressProps(ctx, disk);
  const addr = a as DriveAddress;
  const controller = (type: string): Controller | undefined =>
    devicesOf<Controller>(ctx, 'controller').find((c) => c.type === type && c.index === addr.controller);
  const need = (type: string): string => {
    const c = controller(type);
    if (!c) throw new InternalError(`Could not find ${type} controller with index ${addr.controller}`);
    return aliasOf(ctx, c);
  };
  switch (disk.target.bus) {
    case 'ide': {
      const alias = hasBuiltinIde(ctx.machine, ctx.arch) ? 'ide' : need('ide');
      return { bus: `${alias}.${addr.bus}`, unit: addr.unit };
    }
    case 'sata': {
      const alias = isQ35(ctx.machine, ctx.arch) && addr.controller === 0 ? 'ide' : need('sata');
      return { bus: `${alias}.${addr.unit}` };
    }
    case 'fdc':
      return { unit: addr.unit };
    case 'scsi': {
      const c = controller('scsi');
      if (!c) throw new InternalError(`unable to find a SCSI controller for idx=${addr.controller}`);
      if (['lsilogic', 'ncr53c90', 'dc390', 'am53c974'].includes(c.model ?? '')) {
        return { bus: `${aliasOf(ctx, c)}.${addr.bus}`, 'scsi-id': addr.unit };
      }
      return { bus: `${aliasOf(ctx, c)}.0`, channel: addr.bus, 'scsi-id': addr.target, lun: addr.unit };
    }
    default:
      throw new InternalError(`address type drive is not supported for bus '${disk.target.bus ?? 'none'}'`);
  }
}

function errorPolicies(disk: Disk): { werror?: string; rerror?: string } {
  const map = (p: string | undefined) => (p === 'enospace' ? 'enospc' : p);
  const w = disk.driver?.error_policy;
  let r = disk.driver?.rerror_policy;
  if (!r && w !== 'enospace') r = w;
  return { werror: map(w), rerror: map(r) };
}

function deviceProps(ctx: BuildContext, disk: Disk, drive: string | undefined): PropObject {
  const bus = disk.target.bus;
  let props: PropObject;
  let removable: boolean | undefined;
  switch (bus) {
    case 'ide': case 'sata':
      props = { driver: disk.device === 'cdrom' ? 'ide-cd' : 'ide-hd' };
      break;
    case 'virtio': {
      props = {
        driver: virtioDriverName(ctx, 'virtio-blk', disk.model, disk.info),
        ...virtioOptionProps(disk.driver?.virtio),
        iothread: disk.driver?.iothread ? `iothread${disk.driver.iothread}` : undefined,
        ioeventfd: tristate(disk.driver?.ioeventfd),
        event_idx: tristate(disk.driver?.event_idx),
        'num-queues': positive(disk.driver?.queues),
        'queue-size': positive(disk.driver?.queue_size),
      };
      break;
    }
    case 'scsi':
      if (disk.device === 'lun') return unsupported("<disk device='lun'>");
      props = { driver: disk.device === 'cdrom' ? 'scsi-cd' : 'scsi-hd' };
      break;
    case 'usb':
      props = { driver: 'usb-storage' };
      removable = tristate(disk.target.removable) ?? false;
      break;
    default:
      return unsupported(`<disk> on bus '${bus ?? 'none'}'`);
  }
  Object.assign(props, driveAddressProps(ctx, disk));
  // SCSI disks report a device id: the serial, else one made from the alias.
  if (bus === 'scsi') props.device_id = disk.serial ?? `drive-${aliasOf(ctx, disk)}`;
  const wc = cacheFlags(disk.driver?.cache);
  const trans = disk.geometry?.trans;
  Object.assign(props, {
    'share-rw': disk.shareable ? true : undefined,
    drive,
    id: aliasOf(ctx, disk),
    bootindex: disk.device === 'floppy' ? undefined : bootIndexOf(ctx, disk, disk.info),
    logical_block_size: positive(disk.blockio?.logical_block_size),
    physical_block_size: positive(disk.blockio?.physical_block_size),
    discard_granularity: positive(disk.blockio?.discard_granularity),
    wwn: disk.wwn === undefined ? undefined : wwnValue(disk.wwn),
    rotation_rate: positive(disk.target.rotation_rate),
    vendor: disk.vendor,
    product: disk.product,
    removable,
    'write-cache': wc ? (wc[0] ? 'on' : 'off') : undefined,
    cyls: positive(disk.geometry?.cyls),
    heads: positive(disk.geometry?.heads),
    secs: positive(disk.geometry?.secs),
    'bios-chs-trans': trans && trans !== 'default' ? trans : undefined,
    serial: disk.serial?.replace(/ /g, '\\ '),
    ...errorPolicies(disk),
  });
  return props;
}

/** All disks; block node indexes count from the last disk, as libvirt prepares them in reverse. */
export function buildDisks(ctx: BuildContext): void {
  const disks = devicesOf<Disk>(ctx, 'disk');
  const index = new Map<Disk, number>();
  let n = 0;
  for (let i = disks.length - 1; i >= 0; i--) {
    if (disks[i].source?.path !== undefined) index.set(disks[i], ++n);
  }
  for (const disk of disks) {
    if (disk.transient?.shareBacking === 'yes') continue;
    if (disk.sourceRaw) return unsupported(`<disk type='${disk.type}'>`);
    if (disk.target.bus === 'sd') return unsupported("<disk> on bus 'sd'");
    if (disk.extra?.children.length) return unsupported(`<disk> with <${disk.extra.children[0].name}>`);
    const i = index.get(disk);
    let drive: string | undefined;
    if (i !== undefined) {
      const nodes: DiskNodes = { storage: `libvirt-${i}-storage` };
      if (needsFormatLayer(ctx, disk)) nodes.format = `libvirt-${i}-format`;
      ctx.argv.blockdev(storageProps(disk, nodes));
      if (nodes.format) ctx.argv.blockdev(formatProps(disk, nodes));
      drive = nodes.format ?? nodes.storage;
    } else if (disk.device !== 'cdrom' && disk.device !== 'floppy') {
      throw new ConfigUnsupportedError(`disk '${disk.target.dev ?? ''}' has no source`);
    }
    ctx.argv.device(deviceProps(ctx, disk, drive));
  }
}
