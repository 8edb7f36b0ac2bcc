// Checks libvirt's QEMU driver adds at define (qemu_validate.c), on top of conf's.
import type { Domain } from '../../conf/domain.js';
import { type Interface, validateNetQueueSizes, validateNetTeamingModel } from '../../conf/interface.js';
import type { Hostdev } from '../../conf/hostdev.js';
import { devicesOfKind } from '../../conf/devices.js';
import { checkFailoverSupport, type QemuCaps } from '../caps/index.js';
import { validateDeviceAddressesForQemu } from './validate-address.js';
import { validateDisksForQemu } from './validate-disk.js';

function usesTeaming(dom: Domain): boolean {
  return (
    devicesOfKind<Interface>(dom.devices, 'interface').some((n) => n.teaming) ||
    devicesOfKind<Hostdev>(dom.devices, 'hostdev').some((h) => h.teaming)
  );
}

/**
 * Device checks; the address checks need the QEMU's capabilities (after post-parse).
 * libvirt 11.3 assumes every QEMU has virtio-net failover; QEMU < 4.2 does not, so
 * with capabilities we refuse teaming on such a binary.
 */
export function validateDomainForQemu(dom: Domain, caps?: QemuCaps): void {
  validateDisksForQemu(dom);
  for (const net of devicesOfKind<Interface>(dom.devices, 'interface')) {
    validateNetTeamingModel(net);
    validateNetQueueSizes(net);
  }
  if (!caps) return;
  if (usesTeaming(dom)) checkFailoverSupport(caps);
  validateDeviceAddressesForQemu(dom, caps);
}
