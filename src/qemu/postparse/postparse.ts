// What libvirt's QEMU driver does to a definition right after reading it
// (virDomainDefParseFile(..., PARSE_INACTIVE) = domain_postparse.c with the
// driver's callbacks): defaults, implicit devices and guest addresses, in
// libvirt's order. The result is what `virsh dumpxml --inactive` would show.
import type { PciAddress } from '../../conf/address.js';
import { assignControllerIndexes, isController } from '../../conf/controller.js';
import type { Domain } from '../../conf/domain.js';
import type { Interface } from '../../conf/interface.js';
import type { QemuCaps } from '../caps/index.js';
import { isPciLessX86, isX86 } from './machine-type.js';
import { assignPciAddresses } from './pci-assign.js';
import {
  addImplicitDevices,
  bootOrderPostParse,
  commonChecks,
  generateMissingMacs,
  memoryPostParse,
  primaryVideoPostParse,
  setParseDefaults,
} from './common.js';
import { devicePostParse } from './device-defaults.js';
import { addDefaultDevices } from './devices.js';
import { cpuPostParse, setDefaultCpu, setDefaultEmulator, setMachine } from './machine.js';
import { assignVirtioSerialAddresses } from './virtio-serial-address.js';

export interface PostParseOptions {
  /**
   * 'default': what the library does for real guests (machine aliases such as q35
   * become the versioned type of this QEMU). 'libvirt-test': what libvirt's
   * qemuxmlconftest does, to compare with its expected outputs.
   */
  profile: 'default' | 'libvirt-test';
  /**
   * libvirt-test only: keep machine aliases as written. The harness strips them
   * from the caps for its "latest" tests (default true) but not for tests pinned
   * to a QEMU version (DO_TEST_CAPS_VER), which see 'pc' become 'pc-i440fx-7.2'.
   */
  stripMachineAliases?: boolean;
  /** PARSE_ABI_UPDATE (a new definition, not one read back): no effect on x86 PCI guests yet. */
  abiUpdate?: boolean;
  /** UUID for a definition without one (default: random). */
  newUuid?: () => string;
  /** MAC for an interface without one (default: random in QEMU's 52:54:00 prefix, as libvirt). */
  newMac?: () => string;
  /** The actual type behind an <interface type='network'> ('hostdev' for a VF pool). */
  resolveNetworkType?: (net: Interface) => string | undefined;
  /** Whether a host PCI device is PCI Express (q35 hostdevs without an address); unknown = yes. */
  hostPciIsExpress?: (addr: PciAddress) => boolean | undefined;
}

/**
 * Apply libvirt's post-parse for the QEMU driver with these capabilities. The
 * domain is changed in place and returned. Throws libvirt's error (same class
 * and text) where libvirt's parse would fail, e.g. when no PCI slot is left
 * for a pcie-root-port.
 */
export function postParseDomain(dom: Domain, caps: QemuCaps, opts: PostParseOptions): Domain {
  const keepMachineAliases = opts.profile === 'libvirt-test' && opts.stripMachineAliases !== false;

  // Values the parser fills in, then qemuDomainDefPostParseBasic.
  setParseDefaults(dom, caps, opts.newUuid);
  generateMissingMacs(dom, opts.newMac);
  setDefaultEmulator(dom, caps);
  // Done before the driver callback, which looks controllers up by index.
  assignControllerIndexes(dom.devices);

  // qemuDomainDefPostParse
  setMachine(dom, caps, { keepMachineAliases });
  addDefaultDevices(dom, caps);
  setDefaultCpu(dom, caps, { keepMachineAliases });
  cpuPostParse(dom, caps);

  // Every device: the driver's defaults, then the generic ones.
  const deviceOpts = { resolveNetworkType: opts.resolveNetworkType };
  for (const d of [...dom.devices]) devicePostParse(d, dom, caps, deviceOpts);

  // virDomainDefPostParseCommon
  memoryPostParse(dom);
  commonChecks(dom);
  bootOrderPostParse(dom);
  const createdSerial = addImplicitDevices(dom);
  primaryVideoPostParse(dom, caps);
  // Devices added just now that still need their own post-parse.
  if (createdSerial) devicePostParse(createdSerial, dom, caps, deviceOpts);
  for (const c of dom.devices.filter(isController)) {
    if (c.type === 'scsi' && c.model === undefined) devicePostParse(c, dom, caps, deviceOpts);
  }

  // qemuDomainAssignAddresses (x86: virtio-serial ports and PCI; no virtio-mmio/CCW/spapr-vio).
  assignVirtioSerialAddresses(dom);
  if (isX86(dom.os.arch) && !isPciLessX86(dom.os.machine)) {
    assignPciAddresses(dom, { machine: dom.os.machine, caps, hostPciIsExpress: opts.hostPciIsExpress });
  }
  return dom;
}
