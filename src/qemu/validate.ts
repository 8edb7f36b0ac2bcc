// Checks libvirt's QEMU driver adds at define (qemu_validate.c), on top of conf's.
import type { Domain } from '../conf/domain.js';
import { type Interface, validateNetQueueSizes, validateNetTeamingModel } from '../conf/interface.js';
import { devicesOfKind } from '../conf/devices.js';

export function validateDomainForQemu(dom: Domain): void {
  for (const net of devicesOfKind<Interface>(dom.devices, 'interface')) {
    validateNetTeamingModel(net);
    validateNetQueueSizes(net);
  }
}
