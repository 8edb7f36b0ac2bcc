// The driver's defaults that come from other modules: the argv builder, post-parse and the
// accelerator choice. Kept in one place so the driver itself stays independent of them.
import type { Domain } from '../../conf/domain.js';
import { hostPciIsExpress } from '../../host/index.js';
import { probeAccel } from '../../testbed/accel.js';
import { buildCommandLine } from '../command/command.js';
import { postParseDomain } from '../postparse/postparse.js';
import type { CommandBuilder, PostParser } from './state.js';

/**
 * buildCommandLine with the 'default' profile (monitor at RUNDIR/monitor.sock). It takes the
 * accelerator from <domain type> ('qemu' = TCG, 'kvm' = KVM); the driver hands it a copy whose
 * type matches the accelerator chosen.
 */
export const defaultBuildCommand: CommandBuilder = (dom, caps, opts) =>
  buildCommandLine(dom, caps, { profile: 'default', runtimeDir: opts.runtimeDir });

/**
 * postParseDomain ('default' profile): defaults, implicit devices, PCI addresses. A q35 hostdev
 * without an address goes on a PCIe or a conventional slot by what its host device is: read from
 * /sys (config space); unknown (not root, no such device) counts as PCIe, as in libvirt.
 */
export const defaultPostParse: PostParser = (dom, caps, opts) => {
  postParseDomain(dom, caps, { profile: 'default', abiUpdate: opts.define, hostPciIsExpress: (addr) => hostPciIsExpress(addr) });
};

/**
 * libvirt's meaning of <domain type>: 'qemu' is TCG. 'kvm' asks for KVM; probeAccel() decides
 * whether KVM really works here (it does not on some nested hosts) and falls back to TCG.
 */
export async function defaultChooseAccel(dom: Domain, binary: string, env: NodeJS.ProcessEnv): Promise<'kvm' | 'tcg'> {
  if (dom.type !== 'kvm') return 'tcg';
  return (await probeAccel({ qemuBinary: binary, env })).accel;
}
