// The QEMU command line, the public face of this folder: libvirt's argv for a domain (command.ts, one file
// per device family), device aliases, the qemu:commandline namespace, network resolution and rendering.
export { buildCommandLine, type BuildOptions } from './command.js';
export { renderArgsFile, renderArgvLines, renderShellLine, shellQuote, type QemuCommand } from './render.js';
export { applyAliases, assignAliases, diskNameToIndex, type AliasMap, type AliasOptions } from './aliases.js';
export { QEMU_NAMESPACE_URI, emulatedPrimaries, parseDeviceOption, qemuCommandline, type EmulatedPrimary, type QemuCommandline } from './namespace.js';
export {
  DirNetworkResolver,
  actualFromPort,
  actualTypeForForward,
  networkDefinitionOf,
  portDefinitionOf,
  loadNetworkResolver,
  parseNetworkPortXml,
  parseNetworkXml,
  type ActualNet,
  type ActualNetType,
  type NetworkDefinition,
  type NetworkPortDefinition,
  type NetworkResolver,
} from './network-resolve.js';
export { escapeComma, propsToJson, propsToKeyval } from './props.js';
export { failoverPrimaries, type FailoverPairIds } from './failover-pairs.js';
