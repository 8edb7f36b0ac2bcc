// The library API: domain model (conf), QEMU capabilities, post-parse, command
// line, QMP monitor, lifecycle driver and failover-aware migration.
export * from './util/errors.js';
export { parseXml, XmlWriter, type XmlElement } from './util/xml.js';
export * from './conf/index.js';
export { probeQemuCaps, loadLibvirtCaps, type QemuCaps } from './qemu/caps/caps.js';
export { postParseDomain } from './qemu/postparse/postparse.js';
export { buildCommandLine, renderArgsFile, renderArgvLines, renderShellLine, type QemuCommand } from './qemu/command/command.js';
export { validateDomainForQemu } from './qemu/postparse/validate.js';
export { lintDomainXml, type LintFinding } from './lint/lint.js';
export { Monitor, type QmpEvent } from './qemu/monitor/monitor.js';
export { QemuDriver } from './qemu/driver/driver.js';
export { migrateFailover, processDestinationLauncher } from './qemu/migration/migration.js';
export * from './host/index.js';
