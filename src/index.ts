// The library API: domain model (conf), QEMU capabilities, post-parse, command
// line, QMP monitor, lifecycle driver and failover-aware migration.
export * from './util/errors.js';
export { parseXml, XmlWriter, type XmlElement } from './util/xml.js';
export * from './conf/index.js';
export { probeQemuCaps, loadLibvirtCaps, type QemuCaps } from './qemu/caps.js';
export { postParseDomain } from './qemu/postparse.js';
export { buildCommandLine, renderArgsFile, renderArgvLines, renderShellLine, type QemuCommand } from './qemu/command.js';
export { validateDomainForQemu } from './qemu/validate.js';
export { lintDomainXml, type LintFinding } from './qemu/lint.js';
export { Monitor, type QmpEvent } from './qemu/monitor.js';
export { QemuDriver } from './qemu/driver.js';
export { migrateFailover, processDestinationLauncher } from './qemu/migration.js';
export * from './host/index.js';
