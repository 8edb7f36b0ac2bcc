// Building QemuCaps from QMP answers. Everything here talks to a QmpExecutor, so the same
// code runs against a live QEMU (caps-probe.ts) and against a recorded exchange
// (caps-replay.ts, libvirt's caps_*.replies).
import { InternalError } from '../../util/errors.js';
import {
  formatVersion,
  versionNumber,
  type QemuAccel,
  type QemuCaps,
  type QemuCpuModel,
  type QemuMachine,
} from './model.js';
import { QmpSchema, type SchemaEntity } from './schema.js';

/** The only thing the probe needs from a QMP connection. */
export interface QmpExecutor {
  execute<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T>;
}

/** Device types whose properties we record (`deviceProps`). */
export const PROBED_DEVICE_TYPES = ['virtio-net-pci', 'vfio-pci', 'e1000e', 'pcie-root-port'] as const;

export type FlagRule =
  /** Set when any of these QOM types exists (`qom-list-types`). */
  | { qomTypes: readonly string[] }
  /** Set when the device type has the property (`device-list-properties`). */
  | { deviceProp: readonly [type: string, prop: string] }
  /** Set when the schema path resolves (`query-qmp-schema`, see caps-schema.ts). */
  | { schema: string }
  /** Set when KVM is enabled in a probe process (`query-kvm`). */
  | { kvm: true }
  /** Set when a command-line option (and optionally its parameter) exists (`query-command-line-options`). */
  | { cmdlineOption: readonly [option: string, param?: string] };

/**
 * The libvirt flags a probe derives: only those our command-line, address and migration
 * code asks about. Names and rules match libvirt 11.3's (the replay test checks every row
 * against libvirt's caps_7.2.0_x86_64.xml). libvirt XML carries all of its flags instead.
 */
export const DERIVED_FLAGS: readonly { flag: string; rule: FlagRule; why: string }[] = [
  { flag: 'kvm', rule: { kvm: true }, why: '-accel kvm / <domain type="kvm">' },
  { flag: 'tcg', rule: { qomTypes: ['tcg-accel'] }, why: '-accel tcg / <domain type="qemu">' },
  { flag: 'virtio-net', rule: { qomTypes: ['virtio-net-pci', 'virtio-net-ccw', 'virtio-net-device'] }, why: 'standby NIC (virtio-net-pci)' },
  { flag: 'vfio-pci', rule: { qomTypes: ['vfio-pci'] }, why: 'primary NIC (VF passthrough)' },
  { flag: 'e1000', rule: { qomTypes: ['e1000'] }, why: '<model type="e1000"/>' },
  { flag: 'pcie-root-port', rule: { qomTypes: ['pcie-root-port'] }, why: 'hotpluggable slots on q35' },
  { flag: 'pcie-root-port.hotplug', rule: { deviceProp: ['pcie-root-port', 'hotplug'] }, why: '<target hotplug=.../> on root ports' },
  { flag: 'pci-bridge', rule: { qomTypes: ['pci-bridge'] }, why: 'extra hotpluggable slots on pc' },
  { flag: 'dmi-to-pci-bridge', rule: { qomTypes: ['i82801b11-bridge'] }, why: 'legacy PCI slots on q35' },
  { flag: 'pcie-pci-bridge', rule: { qomTypes: ['pcie-pci-bridge'] }, why: 'legacy PCI slots on q35' },
  { flag: 'virtio-net.rss', rule: { deviceProp: ['virtio-net-pci', 'rss'] }, why: '<driver rss=.../>' },
  { flag: 'netdev.json', rule: { schema: 'netdev_add/arg-type/type/^dgram' }, why: 'JSON -netdev' },
  { flag: 'device.json+hotplug', rule: { schema: 'device_add/$json-cli-hotplug' }, why: 'JSON -device, same props as device_add' },
  { flag: 'migration.blocked-reasons', rule: { schema: 'query-migrate/ret-type/blocked-reasons' }, why: 'ask QEMU for migration blockers' },
  { flag: 'virtio-pci-non-transitional', rule: { qomTypes: ['virtio-blk-pci-transitional', 'virtio-blk-pci-non-transitional'] }, why: 'virtio devices are PCIe endpoints on q35 (own root port)' },
  { flag: 'piix3-usb-uhci', rule: { qomTypes: ['piix3-usb-uhci'] }, why: 'default USB controller on pc' },
  { flag: 'qemu-xhci', rule: { qomTypes: ['qemu-xhci'] }, why: 'default USB controller on q35' },
  { flag: 'nec-usb-xhci', rule: { qomTypes: ['nec-usb-xhci'] }, why: 'USB controller fallback' },
  { flag: 'VGA', rule: { qomTypes: ['VGA'] }, why: 'default video' },
  { flag: 'cirrus-vga', rule: { qomTypes: ['cirrus-vga'] }, why: 'video model cirrus' },
  { flag: 'i8042', rule: { qomTypes: ['i8042'] }, why: 'implicit PS/2 inputs' },
  { flag: 'rtl8139', rule: { qomTypes: ['rtl8139'] }, why: 'default NIC model' },
  { flag: 'virtio-scsi-pci', rule: { qomTypes: ['virtio-scsi-pci'] }, why: 'default SCSI controller' },
  { flag: 'lsi', rule: { qomTypes: ['lsi53c895a'] }, why: 'SCSI controller model lsilogic' },
  { flag: 'set-action', rule: { schema: 'set-action' }, why: '-no-shutdown with on_reboot handling' },
  { flag: 'blockdev-set-active', rule: { schema: 'blockdev-set-active' }, why: 'raw disks without a format node' },
  { flag: 'seccomp-sandbox', rule: { cmdlineOption: ['sandbox'] }, why: '-sandbox' },
];

interface QmpVersion { qemu: { major: number; minor: number; micro: number }; package?: string }
interface QmpKvm { enabled: boolean; present: boolean }
interface QmpType { name: string }
interface QmpProp { name: string }
interface QmpMachineInfo {
  name: string;
  alias?: string;
  'is-default'?: boolean;
  'cpu-max': number;
  'hotpluggable-cpus'?: boolean;
  'numa-mem-supported'?: boolean;
  'default-cpu-type'?: string;
  'default-ram-id'?: string;
  deprecated?: boolean;
  acpi?: boolean;
}
interface QmpCpuDefinition {
  name: string;
  typename?: string;
  'unavailable-features'?: string[];
  deprecated?: boolean;
}

/** What one probe process (one accelerator) told us. */
export interface MainPhase {
  version: number;
  package?: string;
  arch: string;
  kvmEnabled: boolean;
  kvmPresent: boolean;
  /** The accelerator the process ran with (KVM if query-kvm says enabled, else TCG). */
  accel: QemuAccel;
  types: Set<string>;
  deviceProps: Map<string, Set<string>>;
  schema: QmpSchema;
  /** query-command-line-options: option -> parameter names. */
  cmdlineOptions: Map<string, Set<string>>;
  machines: QemuMachine[];
  cpuModels: QemuCpuModel[];
}

export interface AccelPhase {
  accel: QemuAccel;
  machines: QemuMachine[];
  cpuModels: QemuCpuModel[];
}

function asArray<T>(v: unknown, cmd: string): T[] {
  if (!Array.isArray(v)) throw new InternalError(`unexpected reply to '${cmd}': expected an array`);
  return v as T[];
}

/** Machines as libvirt lists them: the default one first, the 'none' machine left out. */
export function convertMachines(list: readonly QmpMachineInfo[], accel: QemuAccel): QemuMachine[] {
  const out: QemuMachine[] = [];
  for (const q of list) {
    if (q.name === 'none') continue;
    const m: QemuMachine = { accel, name: q.name, isDefault: q['is-default'] === true, maxCpus: q['cpu-max'] };
    if (q.alias) m.alias = q.alias;
    if (q['hotpluggable-cpus']) m.hotplugCpus = true;
    if (q['numa-mem-supported']) m.numaMemSupported = true;
    if (q['default-cpu-type']) m.defaultCPU = q['default-cpu-type'];
    if (q['default-ram-id']) m.defaultRAMid = q['default-ram-id'];
    if (q.deprecated) m.deprecated = true;
    if (q.acpi !== undefined) m.acpi = q.acpi;
    if (m.isDefault) out.unshift(m);
    else out.push(m);
  }
  return out;
}

export function convertCpuModels(list: readonly QmpCpuDefinition[], accel: QemuAccel): QemuCpuModel[] {
  return list.map((d) => {
    const c: QemuCpuModel = { accel, name: d.name };
    if (d.typename) c.typename = d.typename;
    const unavailable = d['unavailable-features'];
    if (unavailable) {
      c.usable = unavailable.length === 0;
      if (unavailable.length > 0) c.blockers = [...unavailable];
    }
    if (d.deprecated) c.deprecated = true;
    return c;
  });
}

async function queryMachinesAndCpus(exec: QmpExecutor, accel: QemuAccel, hasCpuDefs: boolean): Promise<AccelPhase> {
  const machines = convertMachines(asArray<QmpMachineInfo>(await exec.execute('query-machines'), 'query-machines'), accel);
  let cpuModels: QemuCpuModel[] = [];
  if (hasCpuDefs) {
    const defs = asArray<QmpCpuDefinition>(await exec.execute('query-cpu-definitions'), 'query-cpu-definitions');
    cpuModels = convertCpuModels(defs, accel);
  }
  return { accel, machines, cpuModels };
}

/** Everything a probe asks, from one QEMU process. */
export async function queryMainPhase(exec: QmpExecutor): Promise<MainPhase> {
  const ver = await exec.execute<QmpVersion>('query-version');
  const target = await exec.execute<{ arch: string }>('query-target');
  const schema = new QmpSchema(asArray<SchemaEntity>(await exec.execute('query-qmp-schema'), 'query-qmp-schema'));
  const kvm = await exec.execute<QmpKvm>('query-kvm');
  const types = new Set(asArray<QmpType>(await exec.execute('qom-list-types'), 'qom-list-types').map((t) => t.name));
  const deviceProps = new Map<string, Set<string>>();
  for (const type of PROBED_DEVICE_TYPES) {
    if (!types.has(type)) continue;
    try {
      const props = asArray<QmpProp>(await exec.execute('device-list-properties', { typename: type }), 'device-list-properties');
      deviceProps.set(type, new Set(props.map((p) => p.name)));
    } catch {
      // Not instantiable here (or not recorded, in a replay): leave it out, as libvirt does.
    }
  }
  const cmdlineOptions = new Map<string, Set<string>>();
  for (const o of asArray<{ option: string; parameters?: { name: string }[] }>(await exec.execute('query-command-line-options'), 'query-command-line-options')) {
    cmdlineOptions.set(o.option, new Set((o.parameters ?? []).map((p) => p.name)));
  }
  const accel: QemuAccel = kvm.enabled ? 'kvm' : 'tcg';
  const { machines, cpuModels } = await queryMachinesAndCpus(exec, accel, schema.hasCommand('query-cpu-definitions'));
  const v = ver.qemu;
  const main: MainPhase = {
    version: versionNumber(v.major, v.minor, v.micro),
    arch: target.arch,
    kvmEnabled: kvm.enabled,
    kvmPresent: kvm.present,
    accel,
    types,
    deviceProps,
    schema,
    cmdlineOptions,
    machines,
    cpuModels,
  };
  const pkg = ver.package?.trim();
  if (pkg) main.package = pkg;
  return main;
}

/**
 * Machine types and CPU models under another accelerator (a second process started with
 * `-accel <accel>`). For KVM it first checks that KVM really is enabled; undefined if not.
 */
export async function queryAccelPhase(
  exec: QmpExecutor,
  accel: QemuAccel,
  opts: { hasCpuDefs?: boolean } = {},
): Promise<AccelPhase | undefined> {
  if (accel === 'kvm') {
    const kvm = await exec.execute<QmpKvm>('query-kvm');
    if (!kvm.enabled) return undefined;
  }
  return queryMachinesAndCpus(exec, accel, opts.hasCpuDefs ?? true);
}

function ruleHolds(rule: FlagRule, main: MainPhase, kvmUsable: boolean): boolean {
  if ('qomTypes' in rule) return rule.qomTypes.some((t) => main.types.has(t));
  if ('deviceProp' in rule) return main.deviceProps.get(rule.deviceProp[0])?.has(rule.deviceProp[1]) ?? false;
  if ('schema' in rule) return main.schema.query(rule.schema);
  if ('cmdlineOption' in rule) {
    const params = main.cmdlineOptions.get(rule.cmdlineOption[0]);
    return params !== undefined && (rule.cmdlineOption[1] === undefined || params.has(rule.cmdlineOption[1]));
  }
  return kvmUsable;
}

export function deriveFlags(main: MainPhase, kvmUsable: boolean): Set<string> {
  const flags = new Set<string>();
  for (const { flag, rule } of DERIVED_FLAGS) if (ruleHolds(rule, main, kvmUsable)) flags.add(flag);
  return flags;
}

/** Assemble QemuCaps from a main phase and any extra accelerator phases. */
export function assembleCaps(binary: string, main: MainPhase, extra: readonly AccelPhase[] = []): QemuCaps {
  const phases: AccelPhase[] = [{ accel: main.accel, machines: main.machines, cpuModels: main.cpuModels }];
  for (const p of extra) if (!phases.some((x) => x.accel === p.accel)) phases.push(p);
  const kvmUsable = phases.some((p) => p.accel === 'kvm');
  const caps: QemuCaps = {
    binary,
    version: main.version,
    versionString: formatVersion(main.version),
    arch: main.arch,
    source: 'qmp',
    flags: deriveFlags(main, kvmUsable),
    machines: phases.flatMap((p) => p.machines),
    deviceProps: main.deviceProps,
  };
  if (main.package) caps.package = main.package;
  const cpus = phases.flatMap((p) => p.cpuModels);
  if (cpus.length > 0) caps.cpuModels = cpus;
  return caps;
}

/**
 * The whole probe logic over executors: `main` answers everything; each `extra` entry is
 * another process of the same binary started with that accelerator.
 */
export async function probeWithExecutor(
  binary: string,
  main: QmpExecutor,
  extra: readonly { accel: QemuAccel; exec: QmpExecutor }[] = [],
): Promise<QemuCaps> {
  const m = await queryMainPhase(main);
  const phases: AccelPhase[] = [];
  for (const x of extra) {
    if (x.accel === m.accel) continue;
    const p = await queryAccelPhase(x.exec, x.accel, { hasCpuDefs: m.schema.hasCommand('query-cpu-definitions') });
    if (p) phases.push(p);
  }
  return assembleCaps(binary, m, phases);
}
