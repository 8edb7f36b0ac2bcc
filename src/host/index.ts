// The host layer: sysfs PCI and SR-IOV discovery, vfio-pci binding, VF MAC/VLAN through the
// PF. Imports only util (and conf types). Every sysfs path is under an injectable root.
export {
  type HostPciAddr,
  type PciDevice,
  type PciVirtfn,
  type SysfsOptions,
  configHasExpressCap,
  pciAddrString,
  pciPaths,
  readPciDevice,
  readPciDriver,
  readPciIsExpress,
  sysfsRootOf,
} from './sysfs-pci.js';
export { type SriovPf, type SriovVf, type VfLocation, VFIO_DRIVER, findPciByNetdev, findVf, listSriov, readSriovPf, vfioUsable } from './sriov.js';
export { type SysfsWriter, type VfioOptions, type VfioResult, bindVfio, unbindVfio, writeSysfsFile } from './vfio.js';
export {
  type CommandOutput,
  type CommandRunner,
  type VfConfigOptions,
  type VfLinkInfo,
  type VfNetConfig,
  execFileRunner,
  hostPciIsExpress,
  parseVfInfoList,
  readVfInfo,
  setVfConfig,
  vfSetArgs,
  vfShowArgs,
} from './vf-config.js';
