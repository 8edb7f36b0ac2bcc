// What libvirt adds and checks at define, the public face of this folder: defaults, implicit devices and
// PCI/PCIe address assignment (postparse.ts), and the QEMU-specific validation run after it.
export { postParseDomain, type PostParseOptions } from './postparse.js';
export { validateDomainForQemu } from './validate.js';
export { validateDeviceAddressesForQemu } from './validate-address.js';
export { defineDomain } from './define.js';
