// The failover test guest as a libvirt domain (libvirt 9.0 runs it, see the two-hosts note): the standby
// virtio-net (teaming persistent, alias ua-standby0) on pci.1, the emulated e1000e primary through
// <qemu:commandline> on pci.4 (as examples/failover-emulated-primary.xml, without the itco watchdog that
// 9.0 lacks), the serial console on the test's GuestConsole socket (a destination connects to it too).
import type { GuestImage, GuestMode } from '../../src/testbed/guest-image.js';
import { guestKernelArgs } from '../../src/testbed/guest-image.js';

export const STANDBY_MAC = '52:54:00:aa:bb:cc';

export interface LibvirtGuestSpec {
  name: string;
  image: GuestImage;
  mode: GuestMode;
  /** The GuestConsole socket QEMU connects to. */
  serial: string;
  /** Broken pairs for lint: another MAC, or the root bus (not hotpluggable). */
  primaryMac?: string;
  primaryBus?: string;
}

export function libvirtGuestXml(g: LibvirtGuestSpec): string {
  const primary = JSON.stringify({
    driver: 'e1000e', netdev: 'hostua-primary0', id: 'ua-primary0', failover_pair_id: 'ua-standby0',
    mac: g.primaryMac ?? STANDBY_MAC, bus: g.primaryBus ?? 'pci.4', romfile: '',
  });
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${g.name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${g.image.kernel}</kernel>
    <initrd>${g.image.initrd}</initrd>
    <cmdline>${guestKernelArgs(g.mode)}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='pci' index='2' model='pcie-root-port'/>
    <controller type='pci' index='3' model='pcie-root-port'/>
    <controller type='pci' index='4' model='pcie-root-port'/>
    <interface type='user'>
      <mac address='${STANDBY_MAC}'/>
      <model type='virtio'/>
      <teaming type='persistent'/>
      <alias name='ua-standby0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='unix'><source mode='connect' path='${g.serial}'/><target port='0'/></serial>
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
