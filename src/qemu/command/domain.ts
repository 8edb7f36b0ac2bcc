// Domain-wide facts the command line needs (machine, arch, boot order, CPU,
// clock, features, power management), read from the domain model in one place.
import type { Domain } from '../../conf/domain.js';
import { type Feature, getFeature } from '../../conf/features.js';

/** <os><type machine=...> as written (libvirt keeps aliases such as 'pc' and 'q35'). */
export function domainMachine(dom: Domain): string {
  return dom.os.machine ?? '';
}

export function domainArch(dom: Domain): string {
  return dom.os.arch ?? '';
}

/** <os><type>hvm</type> */
export function osType(dom: Domain): string {
  return dom.os.type;
}

function isX86(arch: string): boolean {
  return arch === 'x86_64' || arch === 'i686';
}

/** qemuDomainMachineIsQ35 */
export function isQ35(machine: string, arch: string): boolean {
  return isX86(arch) && (machine === 'q35' || machine.startsWith('pc-q35-'));
}

/** qemuDomainMachineIsI440FX */
export function isI440fx(machine: string, arch: string): boolean {
  return isX86(arch) && (machine === 'pc' || /^pc-(0\.|1\.|i440fx-)/.test(machine) || machine.startsWith('rhel'));
}

/** qemuDomainMachineHasBuiltinIDE */
export function hasBuiltinIde(machine: string, arch: string): boolean {
  return isI440fx(machine, arch) || machine === 'malta' || machine === 'sun4u' || machine === 'g3beige';
}

/** An <os> part the command line does not build (firmware selection, loader, ...), if any. */
export function unsupportedOsPart(dom: Domain): string | undefined {
  const os = dom.os;
  if (os.acpiTables?.length) return '<os><acpi>';
  if (os.smbios) return '<os><smbios>';
  if (os.root) return '<os><root>';
  if (os.shim) return '<os><shim>';
  if (os.extra?.children.length) return `<os><${os.extra.children[0].name}>`;
  return undefined;
}

/** A <features> element as on/off: undefined when absent. */
export function featureState(dom: Domain, name: string): 'on' | 'off' | undefined {
  const f = getFeature(dom.features, name);
  if (!f) return undefined;
  return f.state ?? 'on';
}

export function feature(dom: Domain, name: string): Feature | undefined {
  return getFeature(dom.features, name);
}

/** <pm><suspend-to-mem enabled=.../><suspend-to-disk enabled=.../></pm> */
export function domainPm(dom: Domain): { s3?: string; s4?: string } {
  const out: { s3?: string; s4?: string } = {};
  const s3 = dom.pm?.['suspend-to-mem']?.enabled;
  const s4 = dom.pm?.['suspend-to-disk']?.enabled;
  if (s3) out.s3 = s3;
  if (s4) out.s4 = s4;
  return out;
}

/** Top-level elements that change the command line in ways we do not build yet. */
export const UNSUPPORTED_SECTIONS = [
  'maxMemory', 'memoryBacking', 'numatune', 'iothreads', 'iothreadids', 'sysinfo', 'idmap', 'launchSecurity', 'keywrap',
  'qemu:override', 'genid', 'vcpus',
] as const;
