// The driver's defaults that come from other modules: the argv builder, post-parse and the
// accelerator choice. Kept in one place so the driver itself stays independent of them.
import { constants as fsc } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Domain } from '../../conf/domain.js';
import { hostPciIsExpress } from '../../host/index.js';
import { buildCommandLine } from '../command/index.js';
import { postParseDomain } from '../postparse/index.js';
import type { CommandBuilder, PostParser } from './state.js';

/**
 * buildCommandLine with the 'default' profile (monitor at RUNDIR/monitor.sock). It takes the
 * accelerator from <domain type> ('qemu' = TCG, 'kvm' = KVM); the driver hands it a copy whose
 * type matches the accelerator chosen.
 */
export const defaultBuildCommand: CommandBuilder = (dom, caps, opts) =>
  buildCommandLine(dom, caps, { profile: 'default', runtimeDir: opts.runtimeDir, ...(opts.networks ? { networks: opts.networks } : {}) });

/**
 * postParseDomain ('default' profile): defaults, implicit devices, PCI addresses. A q35 hostdev
 * without an address goes on a PCIe or a conventional slot by what its host device is: read from
 * /sys (config space); unknown (not root, no such device) counts as PCIe, as in libvirt.
 */
export const defaultPostParse: PostParser = (dom, caps, opts) => {
  postParseDomain(dom, caps, { profile: 'default', abiUpdate: opts.define, hostPciIsExpress: (addr) => hostPciIsExpress(addr) });
};

/**
 * libvirt's meaning of <domain type>: 'qemu' is TCG; 'kvm' is KVM when /dev/kvm opens read/write, else TCG.
 * An openable /dev/kvm can still be unusable on nested hosts: callers that must know (the CLI) pass a
 * chooseAccel that boots a probe guest instead.
 */
export async function defaultChooseAccel(dom: Domain): Promise<'kvm' | 'tcg'> {
  if (dom.type !== 'kvm') return 'tcg';
  try {
    await access('/dev/kvm', fsc.R_OK | fsc.W_OK);
    return 'kvm';
  } catch {
    return 'tcg';
  }
}
