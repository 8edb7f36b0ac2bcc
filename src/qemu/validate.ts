// Checks libvirt's QEMU driver adds at define (qemu_validate.c), on top of conf's.
import type { Domain } from '../conf/domain.js';
import { type Interface, validateNetQueueSizes, validateNetTeamingModel } from '../conf/interface.js';
import { devicesOfKind } from '../conf/devices.js';
import type { QemuCaps } from './caps.js';
import { validateDeviceAddressesForQemu } from './validate-address.js';

/** Device checks; the address checks need the QEMU's capabilities (after post-parse). */
export function validateDomainForQemu(dom: Domain, caps?: QemuCaps): void {
  for (const net of devicesOfKind<Interface>(dom.devices, 'interface')) {
    validateNetTeamingModel(net);
    validateNetQueueSizes(net);
  }
  if (caps) validateDeviceAddressesForQemu(dom, caps);
}
