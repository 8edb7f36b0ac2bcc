// QemuCaps as JSON (`virt-failover capabilities --json`, and the probe cache) and as a
// short human summary.
import { InternalError } from '../../util/errors.js';
import {
  QEMU_ACCELS,
  accelsOf,
  defaultMachine,
  formatVersion,
  machinesFor,
  supportsFailover,
  type QemuAccel,
  type QemuCaps,
  type QemuMachine,
} from './model.js';

/** QemuCaps as JSON: the scalar fields as they are, sets and maps as sorted arrays, plus two derived fields. */
export type QemuCapsJson = Pick<QemuCaps, 'binary' | 'version' | 'versionString' | 'package' | 'kvmVersion' | 'arch' | 'source' | 'machines' | 'cpuModels'> & {
  /** Derived: supportsFailover(caps). Ignored when read back. */
  failover: boolean;
  /** Derived: default machine name per accelerator. Ignored when read back. */
  defaultMachine: Partial<Record<QemuAccel, string>>;
  /** Sorted. */
  flags: string[];
  /** Property names sorted, device types sorted. */
  deviceProps: Record<string, string[]>;
};

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function capsToJson(caps: QemuCaps): QemuCapsJson {
  const defaults: Partial<Record<QemuAccel, string>> = {};
  for (const a of QEMU_ACCELS) {
    const m = defaultMachine(caps, a);
    if (m) defaults[a] = m.name;
  }
  const deviceProps: Record<string, string[]> = {};
  for (const t of [...caps.deviceProps.keys()].sort(byString)) {
    deviceProps[t] = [...caps.deviceProps.get(t)!].sort(byString);
  }
  const out: QemuCapsJson = {
    binary: caps.binary,
    version: caps.version,
    versionString: caps.versionString,
    arch: caps.arch,
    source: caps.source,
    failover: supportsFailover(caps),
    defaultMachine: defaults,
    flags: [...caps.flags].sort(byString),
    machines: caps.machines.map((m) => ({ ...m })),
    deviceProps,
  };
  if (caps.package !== undefined) out.package = caps.package;
  if (caps.kvmVersion !== undefined) out.kvmVersion = caps.kvmVersion;
  if (caps.cpuModels) out.cpuModels = caps.cpuModels.map((c) => ({ ...c }));
  return out;
}

/** Inverse of capsToJson (used for the probe cache); checks the shape, not every field. */
export function capsFromJson(json: unknown): QemuCaps {
  const j = json as Partial<QemuCapsJson> | null;
  if (
    typeof j !== 'object' || j === null ||
    typeof j.binary !== 'string' || typeof j.version !== 'number' || typeof j.arch !== 'string' ||
    !Array.isArray(j.flags) || !Array.isArray(j.machines) ||
    typeof j.deviceProps !== 'object' || j.deviceProps === null
  ) {
    throw new InternalError('malformed QEMU capabilities JSON');
  }
  const caps: QemuCaps = {
    binary: j.binary,
    version: j.version,
    versionString: formatVersion(j.version),
    arch: j.arch,
    source: j.source === 'libvirt-xml' ? 'libvirt-xml' : 'qmp',
    flags: new Set(j.flags),
    machines: j.machines.map((m) => ({ ...m })),
    deviceProps: new Map(Object.entries(j.deviceProps).map(([k, v]) => [k, new Set(v)])),
  };
  if (typeof j.package === 'string') caps.package = j.package;
  if (typeof j.kvmVersion === 'number') caps.kvmVersion = j.kvmVersion;
  if (Array.isArray(j.cpuModels)) caps.cpuModels = j.cpuModels.map((c) => ({ ...c }));
  return caps;
}

function aliasList(ms: QemuMachine[]): string {
  const pairs = ms.filter((m) => m.alias).map((m) => `${m.alias} -> ${m.name}`);
  return pairs.length > 0 ? pairs.join(', ') : '(none)';
}

/** A few lines for humans: version, binary, failover support, default machine and aliases per accelerator. */
export function formatCapsHuman(caps: QemuCaps): string {
  const lines: string[] = [];
  const pkg = caps.package ? ` (${caps.package})` : '';
  lines.push(`binary:    ${caps.binary}`);
  lines.push(`version:   ${caps.versionString}${pkg}`);
  lines.push(`arch:      ${caps.arch}`);
  lines.push(
    `failover:  ${supportsFailover(caps) ? 'supported' : 'NOT supported (virtio-net failover needs QEMU 4.2 or newer)'}`,
  );
  const accels = accelsOf(caps);
  lines.push(`accels:    ${accels.length > 0 ? accels.join(', ') : '(none)'}`);
  for (const a of accels) {
    const ms = machinesFor(caps, a);
    lines.push(`machines (${a}): ${ms.length}, default ${defaultMachine(caps, a)?.name ?? '(none)'}`);
    lines.push(`  aliases: ${aliasList(ms)}`);
  }
  return lines.join('\n') + '\n';
}
