// Define-time disk checks: the duplicate-target check of domain_validate.c and the
// storage rules of qemu_validate.c (qemuValidateDomainDeviceDefDisk and friends).
import type { Disk } from '../../conf/disk.js';
import type { Domain } from '../../conf/domain.js';
import { devicesOfKind } from '../../conf/devices.js';
import { ConfigUnsupportedError, XmlError } from '../../util/errors.js';

/** What libvirt names a disk source by in messages (virDomainDiskGetSource). */
const sourceName = (d: Disk): string => d.source?.path ?? d.sourceRaw?.attrs.get('name') ?? '';

/** virDomainDefCheckDuplicateDiskInfo's target part: no two disks share a target. */
function checkDuplicateTargets(disks: Disk[]): void {
  const seen = new Map<string, Disk>();
  for (const d of disks) {
    const dev = d.target.dev;
    if (dev === undefined) continue;
    const first = seen.get(dev);
    if (first) throw new XmlError(`target '${dev}' duplicated for disk sources '${sourceName(first)}' and '${sourceName(d)}'`);
    seen.set(dev, d);
  }
}

function validateDisk(d: Disk): void {
  const protocol = d.type === 'network' ? d.sourceRaw?.attrs.get('protocol') : undefined;
  if (protocol === 'sheepdog') throw new ConfigUnsupportedError("'sheepdog' protocol is no longer supported by any hypervisor driver");
  const format = d.driver?.type;
  if (format === 'dir') {
    throw new ConfigUnsupportedError("'directory' storage format is not directly supported by QEMU, use 'dir' disk type instead");
  }
  if (format === 'iso') throw new ConfigUnsupportedError("storage format 'iso' is not directly supported by QEMU, use 'raw' instead");
  if (d.device === 'lun' && d.type !== 'block' && d.type !== 'network') {
    throw new ConfigUnsupportedError("disk device='lun' is only valid for block type disk source");
  }
  // Only raw images can be opened by two guests at once (qemuBlockStorageSourceSupportsConcurrentAccess).
  if (d.shareable && !d.readonly && format !== undefined && format !== 'raw') {
    throw new ConfigUnsupportedError(`shared access for disk '${d.target.dev ?? ''}' requires use of supported storage format`);
  }
  const empty = d.source?.path === undefined && !d.sourceRaw;
  if (d.target.bus === 'usb' && empty) throw new ConfigUnsupportedError("'usb' disk must not be empty");
}

export function validateDisksForQemu(dom: Domain): void {
  const disks = devicesOfKind<Disk>(dom.devices, 'disk');
  checkDuplicateTargets(disks);
  disks.forEach(validateDisk);
}
