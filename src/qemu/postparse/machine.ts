// Post-parse of the machine-level settings: emulator, arch, machine type
// (default and alias expansion) and the guest CPU defaults
// (qemuDomainDefPostParseBasic, qemuDomainDefMachinePostParse,
// qemuDomainDefSetDefaultCPU, qemuDomainDefCPUPostParse).
import { newCpu } from '../../conf/cpu.js';
import type { Domain } from '../../conf/domain.js';
import { newEmulator } from '../../conf/emulator.js';
import { ConfigUnsupportedError, InternalError, InvalidArgError } from '../../util/errors.js';
import { type QemuAccel, type QemuCaps, type QemuMachine, hasFlag } from '../caps/index.js';
import { isX86 } from './machine-type.js';

export interface MachineOptions {
  /**
   * Keep machine aliases ('pc', 'q35') as written instead of expanding them to the
   * versioned type. libvirt's test harness does this for its "latest" capabilities
   * (virQEMUCapsStripMachineAliases) so outputs survive QEMU updates.
   */
  keepMachineAliases: boolean;
}

/** The accelerator a domain type runs on (kvm domains: KVM; everything else here: TCG). */
export function accelOf(dom: Domain): QemuAccel {
  return dom.type === 'kvm' ? 'kvm' : 'tcg';
}

/** The machine list libvirt sees: with aliases kept, each alias is a machine of its own. */
function machinesSeen(caps: QemuCaps, accel: QemuAccel, o: MachineOptions): QemuMachine[] {
  const list = caps.machines.filter((m) => m.accel === accel);
  if (!o.keepMachineAliases) return list;
  const out = list.map((m) => ({ ...m, alias: undefined }));
  for (const m of list) if (m.alias) out.push({ ...m, name: m.alias, alias: undefined });
  return out;
}

/** qemuDomainDefPostParseBasic: a missing <emulator> is the capabilities' binary. */
export function setDefaultEmulator(dom: Domain, caps: QemuCaps): void {
  if (dom.devices.some((d) => d.kind === 'emulator' && (d as { path?: string }).path)) return;
  const arch = dom.os.arch ?? caps.arch;
  const path = caps.binary || `/usr/bin/qemu-system-${arch}`;
  if (!path) throw new ConfigUnsupportedError(`No emulator found for arch '${arch}'`);
  dom.devices = dom.devices.filter((d) => d.kind !== 'emulator');
  dom.devices.unshift(newEmulator(path));
}

/** qemuDomainDefMachinePostParse: the preferred machine when none is given, then the canonical name. */
export function setMachine(dom: Domain, caps: QemuCaps, o: MachineOptions): void {
  const accel = accelOf(dom);
  if (!dom.os.machine) {
    const list = machinesSeen(caps, accel, o);
    // With aliases kept, the alias of the default machine is preferred (it is listed as a default too).
    const preferred = o.keepMachineAliases
      ? list.filter((m) => m.isDefault).pop()
      : list.find((m) => m.isDefault);
    const machine = preferred ?? list[0];
    if (!machine) {
      throw new InvalidArgError(`could not get preferred machine for ${caps.binary} type=${dom.type}`);
    }
    dom.os.machine = machine.name;
  }
  if (!o.keepMachineAliases) {
    const m = caps.machines.find((x) => x.accel === accel && x.alias === dom.os.machine);
    if (m) dom.os.machine = m.name;
  }
}

/** The CPU model QEMU uses for this machine by default (virQEMUCapsGetMachineDefaultCPU). */
function machineDefaultCpu(dom: Domain, caps: QemuCaps, o: MachineOptions): string | undefined {
  const accel = accelOf(dom);
  const m = machinesSeen(caps, accel, o).find((x) => x.name === dom.os.machine);
  if (!m?.defaultCPU || !caps.cpuModels) return undefined;
  return caps.cpuModels.find((c) => c.accel === accel && c.typename === m.defaultCPU)?.name;
}

/** qemuDomainDefSetDefaultCPU: no CPU model given means the machine's default CPU, checks off. */
export function setDefaultCpu(dom: Domain, caps: QemuCaps, o: MachineOptions): void {
  const cpu = dom.cpu;
  if (cpu && (cpu.mode !== 'custom' || cpu.model)) return;
  const arch = dom.os.arch;
  if (!isX86(arch) && arch !== 's390x' && arch !== 'ppc64' && arch !== 'ppc64le' && dom.type !== 'qemu') return;
  const model = machineDefaultCpu(dom, caps, o);
  if (!model) return;
  if (model === 'host' && dom.type !== 'kvm') {
    throw new InternalError('QEMU reports invalid default CPU model "host" for non-kvm domain virt type');
  }
  const c = cpu ?? newCpu();
  dom.cpu = c;
  if (model === 'host') {
    c.mode = 'host-passthrough';
    return;
  }
  // The default model (qemu64) may not run as-is anywhere: QEMU drops what the host lacks.
  c.check = 'none';
  c.mode = 'custom';
  c.match = 'exact';
  c.fallback = 'forbid';
  c.model = model;
}

/** qemuDomainDefCPUPostParse: migratable host-passthrough, and the default check mode. */
export function cpuPostParse(dom: Domain, caps: QemuCaps): void {
  const cpu = dom.cpu;
  if (!cpu) return;
  if (dom.id === undefined && cpu.mode === 'host-passthrough' && cpu.migratable === undefined) {
    if (hasFlag(caps, 'cpu.migratable')) cpu.migratable = 'on';
    else if (isX86(dom.os.arch)) cpu.migratable = 'off';
  }
  if (cpu.mode === 'custom' && !cpu.model) return;
  if (cpu.check !== undefined) return;
  switch (cpu.mode) {
    case 'host-passthrough':
    case 'maximum':
      cpu.check = 'none';
      break;
    case 'host-model':
      cpu.check = 'partial';
      break;
    case 'custom':
      cpu.check = dom.type === 'qemu' ? 'none' : 'partial';
      break;
  }
}
