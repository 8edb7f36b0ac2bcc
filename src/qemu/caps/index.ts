// QEMU capabilities, the public face of this folder: the model and its queries (model.ts), libvirt's
// capabilities XML (libvirt-xml.ts), probing a binary over QMP with a cache (probe.ts, qmp.ts, schema.ts),
// recorded QMP replay (replay.ts), JSON and human output (json.ts).
export {
  QEMU_ACCELS,
  FAILOVER_PRIMARY_TYPES,
  accelsOf,
  checkFailoverSupport,
  defaultMachine,
  expandMachineAlias,
  findMachine,
  formatVersion,
  hasFlag,
  isQemuAccel,
  machinesFor,
  supportsFailover,
  versionNumber,
  type QemuAccel,
  type QemuCaps,
  type QemuCapsSource,
  type QemuCpuModel,
  type QemuMachine,
} from './model.js';
export { loadLibvirtCaps, parseLibvirtCaps } from './libvirt-xml.js';
export { capsFromJson, capsToJson, formatCapsHuman, type QemuCapsJson } from './json.js';
export {
  DERIVED_FLAGS,
  PROBED_DEVICE_TYPES,
  assembleCaps,
  deriveFlags,
  probeWithExecutor,
  queryAccelPhase,
  queryMainPhase,
  type FlagRule,
  type QmpExecutor,
} from './qmp.js';
export { QmpSchema } from './schema.js';
export { ReplayQmpExecutor, parseQmpReplies, splitJsonStream, type RecordedExchange } from './replay.js';
export {
  CAPS_CACHE_FORMAT,
  DEFAULT_PROBE_TIMEOUT_MS,
  cachedQemuCaps,
  capsCacheFile,
  defaultCapsCacheDir,
  launchProbeProcess,
  probeQemuCaps,
  type CapsCacheKey,
  type ProbeOptions,
  type QemuLauncher,
  type QmpSession,
} from './probe.js';
