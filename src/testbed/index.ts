// The test guest, the public face of this layer: a busybox guest image built from Debian's packages, its
// init, the console observer that measures outages, and the KVM probe that boots it. Used by the demo, the
// benchmarks and the tests; never by the driver.
export * from './guest-image.js';
export { FAILOVER_ONLY_MODULES, renderInitScript, type InitScriptOptions } from './guest-init.js';
export * from './guest-observer.js';
export * from './guest-replug.js';
export * from './accel.js';
export * from './two-hosts.js';
