// A libvirt daemon as an engine (`--connect URI`), the public face of this folder: virsh as the client
// (virsh.ts), QEMU's monitor through it (monitor.ts), the domain verbs (backend.ts), failover-aware
// migration through libvirt (migrate.ts) and libvirt versions with known failover bugs (versions.ts).
export { LibvirtBackend, type LibvirtFailoverReport } from './backend.js';
export { DEFAULT_LIBVIRT_FLAGS, parseLibvirtFlags, jobInfoAsQueryMigrate, parseJobValue, type LibvirtMigrateOptions, type LibvirtMigrateResult } from './migrate.js';
export { VirshMonitor, VirshEventStream, parseEventLine } from './monitor.js';
export { parseDominfo, parseDomstate } from './parse.js';
export { Virsh, virshBinary, virshError, type VirshRunOptions } from './virsh.js';
