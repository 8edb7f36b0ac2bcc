// Network and network-port XML (libvirt's network_conf.c / virnetworkportdef.c): one file per element
// family, each with its type, parse and format; this index is the only door.
export * from './network.js';
export * from './port.js';
export { type Forward, type ForwardIf, type ForwardMode, type ForwardNat, FORWARD_MODES, forwardDev } from './forward.js';
export { type NetworkBridge, runsOwnBridge } from './bridge.js';
export { type Bandwidth, type BandwidthRate, parseBandwidth } from './bandwidth.js';
export type { NetworkDns } from './dns.js';
export type { NetworkIp, NetworkRoute } from './ip.js';
export type { PortGroup } from './portgroup.js';
