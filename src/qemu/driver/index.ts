// The embedded driver, the public face of this folder: the domain store, locks, QEMU processes, lifecycle,
// hostdev preparation, state and the driver's side of migration.
export * from './driver.js';
export { localMigrationBlocker, migrationBlocker, failoverPrimaries, comparableArgs } from './migrate.js';
export { prepareHostdevs, recordedHostdevs, releaseHostdevs, wantedHostdevs, type HostdevClaim, type HostdevHostOptions, type PreparedHostdev, type PrepareOptions } from './hostdev.js';
export { acquireLock, readLockOwner, tryAcquireLock } from './lock.js';
export { resolveExecutable, waitForExit } from './process.js';
export { DOMAIN_NAME_MAX_BYTES, checkSocketPath, resolveStateDirs, validateDomainName } from './store-paths.js';
export { type NetworkStore, type StoredPort } from './network-store.js';
export { createPort, createPortFromXml, deletePort, getPortXml, listPorts, releasePorts, type AllocateContext } from './network-ports.js';
export { recordedPorts, type DomainPort } from './ports.js';
