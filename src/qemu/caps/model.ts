// The QEMU capabilities model (what one QEMU binary can do) and the small queries the
// rest of the code asks of it. Filled either from libvirt's capabilities cache XML
// (caps-libvirt.ts) or by probing the binary over QMP (caps-probe.ts).
import { ConfigUnsupportedError } from '../../util/errors.js';

/** Accelerators we keep separate machine / CPU lists for (libvirt's `type` attribute). */
export const QEMU_ACCELS = ['tcg', 'kvm'] as const;
export type QemuAccel = (typeof QEMU_ACCELS)[number];

export function isQemuAccel(s: string | undefined): s is QemuAccel {
  return (QEMU_ACCELS as readonly string[]).includes(s ?? '');
}

/** One machine type, as `query-machines` reports it (libvirt's `<machine>` element). */
export interface QemuMachine {
  /** Which accelerator this list entry belongs to (libvirt keeps one list per accelerator). */
  accel: QemuAccel;
  name: string;
  /** e.g. `q35` for `pc-q35-7.2`. */
  alias?: string;
  isDefault: boolean;
  maxCpus: number;
  hotplugCpus?: boolean;
  numaMemSupported?: boolean;
  defaultCPU?: string;
  defaultRAMid?: string;
  deprecated?: boolean;
  /** Whether the machine has ACPI (QEMU 8.0+ reports it; undefined when unknown). */
  acpi?: boolean;
}

/** One CPU model (`query-cpu-definitions`, libvirt's `<cpu>` element). */
export interface QemuCpuModel {
  accel: QemuAccel;
  name: string;
  typename?: string;
  /** undefined when QEMU did not say (no `unavailable-features`). */
  usable?: boolean;
  /** Features that make the model unusable on this host/accelerator. */
  blockers?: string[];
  deprecated?: boolean;
}

/** Where the capabilities came from; decides how failover support is judged (see supportsFailover). */
export type QemuCapsSource = 'qmp' | 'libvirt-xml';

export interface QemuCaps {
  /** Path of the binary as given (libvirt's `<emulator>`). */
  binary: string;
  /** major*1e6 + minor*1e3 + micro, like libvirt (7.2.0 -> 7002000). */
  version: number;
  /** "7.2.0", derived from `version`. */
  versionString: string;
  /** Distribution package string, e.g. "Debian 1:7.2+dfsg-7"; libvirt's `<package>`. */
  package?: string;
  /**
   * libvirt's `<kvmVersion>` when the XML has one. QMP has no way to ask for it
   * (`query-kvm` only says present/enabled), so a probe leaves it undefined.
   */
  kvmVersion?: number;
  /** Target architecture (`query-target`), e.g. "x86_64". */
  arch: string;
  source: QemuCapsSource;
  /**
   * libvirt capability flag names as they appear in caps XML (`<flag name='...'/>`), e.g.
   * 'virtio-net' (the device virtio-net-pci), 'vfio-pci', 'pcie-root-port',
   * 'migration.blocked-reasons'. From XML: every flag; from a probe: DERIVED_FLAGS only.
   */
  flags: Set<string>;
  /** Machine types, one entry per (accelerator, machine) like the caps XML; see machinesFor(). */
  machines: QemuMachine[];
  /** device type -> property names (`device-list-properties`); empty when read from libvirt XML. */
  deviceProps: Map<string, Set<string>>;
  cpuModels?: QemuCpuModel[];
}

export function hasFlag(caps: QemuCaps, name: string): boolean {
  return caps.flags.has(name);
}

export function versionNumber(major: number, minor: number, micro: number): number {
  return major * 1_000_000 + minor * 1_000 + micro;
}

/** 7002000 -> "7.2.0" */
export function formatVersion(version: number): string {
  const major = Math.floor(version / 1_000_000);
  const minor = Math.floor((version % 1_000_000) / 1_000);
  const micro = version % 1_000;
  return `${major}.${minor}.${micro}`;
}

export function machinesFor(caps: QemuCaps, accel: QemuAccel): QemuMachine[] {
  return caps.machines.filter((m) => m.accel === accel);
}

/** Accelerators with at least one machine type, in QEMU_ACCELS order. */
export function accelsOf(caps: QemuCaps): QemuAccel[] {
  return QEMU_ACCELS.filter((a) => caps.machines.some((m) => m.accel === a));
}

/**
 * Canonical machine name for `name` under `accel`: an alias (`q35`, `pc`) becomes the
 * versioned type it stands for (`pc-q35-7.2`). Anything else, including names this QEMU
 * does not know, is returned unchanged (as libvirt's virQEMUCapsGetCanonicalMachine does).
 */
export function expandMachineAlias(caps: QemuCaps, accel: QemuAccel, name: string): string {
  const m = caps.machines.find((x) => x.accel === accel && x.alias === name);
  return m ? m.name : name;
}

/** The machine QEMU uses without `-machine` for this accelerator, if it has one. */
export function defaultMachine(caps: QemuCaps, accel: QemuAccel): QemuMachine | undefined {
  return caps.machines.find((m) => m.accel === accel && m.isDefault);
}

export function findMachine(caps: QemuCaps, accel: QemuAccel, name: string): QemuMachine | undefined {
  const canonical = expandMachineAlias(caps, accel, name);
  return caps.machines.find((m) => m.accel === accel && m.name === canonical);
}

/** Device types that can be the primary (hidden, unplugged-on-migration) half of a pair. */
export const FAILOVER_PRIMARY_TYPES = ['vfio-pci', 'e1000e', 'virtio-net-pci'] as const;

/**
 * Whether this QEMU can run a virtio-net failover pair.
 *
 * - Probed caps (source 'qmp'): virtio-net-pci has the `failover` property and at least one
 *   primary type (FAILOVER_PRIMARY_TYPES) has `failover_pair_id`. Both came with QEMU 4.2.
 * - libvirt caps XML (source 'libvirt-xml'): the XML has no device properties, and libvirt
 *   11.3 retired its failover flag (X_QEMU_CAPS_VIRTIO_NET_FAILOVER): it assumes every
 *   QEMU it supports has failover, so the flag never appears in caps XML. We follow libvirt:
 *   supported when the flags have 'virtio-net' (libvirt's flag for virtio-net-pci) and
 *   'vfio-pci'.
 */
export function supportsFailover(caps: QemuCaps): boolean {
  const standby = caps.deviceProps.get('virtio-net-pci');
  if (standby) {
    if (!standby.has('failover')) return false;
    return FAILOVER_PRIMARY_TYPES.some((t) => caps.deviceProps.get(t)?.has('failover_pair_id'));
  }
  if (caps.source === 'libvirt-xml') return caps.flags.has('virtio-net') && caps.flags.has('vfio-pci');
  return false;
}

/** Refuse teaming on a QEMU without virtio-net failover. */
export function checkFailoverSupport(caps: QemuCaps): void {
  if (supportsFailover(caps)) return;
  throw new ConfigUnsupportedError(
    `this QEMU binary (${caps.binary}, version ${formatVersion(caps.version)}) ` +
      'does not support virtio-net failover (needs QEMU 4.2 or newer)',
  );
}
