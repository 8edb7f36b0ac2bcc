// Checks libvirt's QEMU driver adds at define (qemu_validate.c), on top of conf's.
import type { Domain } from '../../conf/domain.js';
import { type Interface, validateNetQueueSizes, validateNetTeamingModel } from '../../conf/interface.js';
import type { Hostdev } from '../../conf/hostdev.js';
import { devicesOfKind } from '../../conf/devices.js';
import { checkFailoverSupport, type QemuCaps } from '../caps/index.js';
import type { Graphics } from '../../conf/graphics.js';
import { isIP } from 'node:net';
import { ConfigUnsupportedError } from '../../util/errors.js';
import { findMachine } from '../caps/index.js';
import { validateDeviceAddressesForQemu } from './validate-address.js';
import { validateDisksForQemu } from './validate-disk.js';

/** A DNS host name (RFC 1123 labels). */
const HOST_NAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A graphics listen address reaches -vnc HOST:DISPLAY: it must be an IP address or a host name. */
function validateListenAddresses(dom: Domain): void {
  for (const g of devicesOfKind<Graphics>(dom.devices, 'graphics')) {
    for (const l of g.listens ?? []) {
      if (l.address === undefined || isIP(l.address) !== 0 || HOST_NAME_RE.test(l.address)) continue;
      throw new ConfigUnsupportedError(`graphics listen address '${l.address}' is neither an IP address nor a host name`);
    }
  }
}

/** qemuValidateDomainDefCpu's count checks: at least one vCPU, at most the machine type's limit. */
function validateVcpuCount(dom: Domain, caps: QemuCaps): void {
  const count = dom.vcpu?.count ?? 1;
  if (count === 0) throw new ConfigUnsupportedError('Domain requires at least 1 vCPU');
  const accel = dom.type === 'kvm' ? 'kvm' : 'tcg';
  const maxCpus = dom.os.machine ? findMachine(caps, accel, dom.os.machine)?.maxCpus ?? 0 : 0;
  if (maxCpus > 0 && count > maxCpus) throw new ConfigUnsupportedError(`Maximum CPUs greater than specified machine type limit ${maxCpus}`);
}

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
  validateListenAddresses(dom);
  if (!caps) return;
  validateVcpuCount(dom, caps);
  if (usesTeaming(dom)) checkFailoverSupport(caps);
  validateDeviceAddressesForQemu(dom, caps);
}
