// Checks libvirt's QEMU driver adds at define (qemu_validate.c), on top of conf's.
import type { Domain } from '../conf/domain.js';

export function validateDomainForQemu(_dom: Domain): void {
  // Filled in as device models land (teaming model/type checks).
}
