// The library API: domain model (conf), QEMU capabilities, post-parse, command
// line, QMP monitor, lifecycle driver and failover-aware migration.
export * from './util/errors.js';
export { parseXml, XmlWriter, type XmlElement } from './util/xml.js';
export * from './conf/index.js';
export { probeQemuCaps, loadLibvirtCaps, type QemuCaps } from './qemu/caps/index.js';
export { postParseDomain } from './qemu/postparse/index.js';
export { buildCommandLine, renderArgsFile, renderArgvLines, renderShellLine, type QemuCommand } from './qemu/command/index.js';
export { validateDomainForQemu } from './qemu/postparse/index.js';
export { lintDomainXml, type LintFinding } from './lint/index.js';
export { Monitor, type QmpEvent } from './qemu/monitor/index.js';
export { QemuDriver } from './qemu/driver/index.js';
export { migrateFailover, processDestinationLauncher } from './qemu/migration/index.js';
export * from './host/index.js';
