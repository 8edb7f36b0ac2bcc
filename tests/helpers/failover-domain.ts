// The failover domain the CLI migration tests run: the layout of examples/failover-emulated-primary.xml
// (standby virtio-net with teaming persistent on pci.1, an emulated e1000e primary on pci.4 through
// <qemu:commandline>), booting the test guest in `mode`, its serial console on a unix socket.
import { guestKernelArgs, type GuestImage, type GuestMode } from '../../src/testbed/guest-image.js';

/** The example's layout: standby virtio-net (teaming persistent) on pci.1, e1000e primary on pci.4 via qemu:commandline. */
export function failoverDomainXml(image: GuestImage, name: string, uuid: string, mode: GuestMode, serial: string): string {
  const primary = JSON.stringify({
    driver: 'e1000e', netdev: 'hostua-primary0', id: 'ua-primary0', failover_pair_id: 'ua-standby0',
    mac: '52:54:00:aa:bb:cc', bus: 'pci.4', romfile: '',
  });
  const rootPort = (i: number) =>
    `<controller type='pci' index='${i}' model='pcie-root-port'/>`;
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${image.kernel}</kernel>
    <initrd>${image.initrd}</initrd>
    <cmdline>${guestKernelArgs(mode)}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    ${[1, 2, 3, 4].map(rootPort).join('\n    ')}
    <interface type='user'>
      <mac address='52:54:00:aa:bb:cc'/>
      <model type='virtio'/>
      <teaming type='persistent'/>
      <alias name='ua-standby0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='unix'><source mode='connect' path='${serial}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=hostua-primary0'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='${primary}'/>
  </qemu:commandline>
</domain>
`;
}
