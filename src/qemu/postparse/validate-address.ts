// The QEMU driver's checks of guest device addresses against the binary's
// capabilities (qemuValidateDomainDeviceDefAddress): for now the zPCI
// extension, which only s390x QEMUs have.
import type { PciAddress } from '../../conf/address.js';
import type { DeviceInfo } from '../../conf/device-info.js';
import { isRawDevice } from '../../conf/devices.js';
import type { Domain } from '../../conf/domain.js';
import { ConfigUnsupportedError } from '../../util/errors.js';
import { type QemuCaps, hasFlag } from '../caps/index.js';

function zpciSet(a: PciAddress): boolean {
  return a.zpci !== undefined && (a.zpci.uid !== undefined || a.zpci.fid !== undefined);
}

/** qemuValidateDomainDeviceDefZPCIAddress for every device with a PCI address. */
export function validateDeviceAddressesForQemu(dom: Domain, caps: QemuCaps): void {
  for (const d of dom.devices) {
    if (isRawDevice(d)) continue;
    const info = (d as { info?: DeviceInfo }).info;
    const addr = info?.address;
    if (addr?.type !== 'pci') continue;
    if (zpciSet(addr as PciAddress) && !hasFlag(caps, 'zpci')) {
      throw new ConfigUnsupportedError("This QEMU binary doesn't support zPCI");
    }
  }
}
