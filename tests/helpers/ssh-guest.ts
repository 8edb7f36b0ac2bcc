// The test guest as a domain of our store (emulated e1000e primary via <qemu:commandline>, as in
// examples/failover-emulated-primary.xml) with its serial console on a GuestConsole, and the waits on
// what the guest reports there.
import type { GuestConsole, GuestImage, GuestMode } from '../../src/testbed/guest-image.js';
import { guestKernelArgs } from '../../src/testbed/guest-image.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';

export function domainXml(o: { name: string; uuid: string; image: GuestImage; mode: GuestMode; serial: string; memoryMiB?: number }): string {
  const primary = JSON.stringify({
    driver: 'e1000e', netdev: 'hostua-primary0', id: 'ua-primary0', failover_pair_id: 'ua-standby0',
    mac: '52:54:00:aa:bb:cc', bus: 'pci.4', romfile: '',
  });
  const rootPorts = [1, 2, 3, 4].map((i) => `<controller type='pci' index='${i}' model='pcie-root-port'/>`).join('\n    ');
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${o.name}</name>
  <uuid>${o.uuid}</uuid>
  <memory unit='MiB'>${o.memoryMiB ?? 256}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${o.image.kernel}</kernel>
    <initrd>${o.image.initrd}</initrd>
    <cmdline>${guestKernelArgs(o.mode)}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    ${rootPorts}
    <interface type='user'>
      <mac address='52:54:00:aa:bb:cc'/>
      <model type='virtio'/>
      <teaming type='persistent'/>
      <alias name='ua-standby0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='unix'><source mode='connect' path='${o.serial}'/><target port='0'/></serial>
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

/** Waits for a console line matching `pred` at history index `from` or later; returns the index after it. */
export async function waitGuest(con: GuestConsole, what: string, pred: (e: GuestEvent) => boolean, ms: number, from = 0): Promise<number> {
  try {
    const line = await con.waitFor((l) => l.event !== undefined && pred(l.event), ms, from);
    return con.lines.indexOf(line, from) + 1;
  } catch (e) {
    const tail = con.lines.slice(-10).map((l) => l.line).join('\n');
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${tail}`);
  }
}

export const enslaved = (e: GuestEvent): boolean => e.kind === 'state' && e.enslaved;
export const released = (e: GuestEvent): boolean => e.kind === 'state' && !e.enslaved;
