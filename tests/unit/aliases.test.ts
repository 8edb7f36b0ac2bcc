// Device aliases as libvirt assigns them at start (qemuAssignDeviceAliases).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDomainXml } from '../../src/conf/domain.js';
import { deviceName } from '../../src/conf/devices.js';
import { assignAliases, diskNameToIndex } from '../../src/qemu/command/aliases.js';

const names: [string, number][] = [['vda', 0], ['hdc', 2], ['sdz', 25], ['sdaa', 26], ['sdab', 27], ['sdba', 52], ['vda1', 0], ['xvdb', 1], ['foo', -1]];
for (const [dev, idx] of names) test(`diskNameToIndex(${dev}) = ${idx}`, () => assert.equal(diskNameToIndex(dev), idx));

function aliasesOf(devicesXml: string, machine = 'pc'): string[] {
  const dom = parseDomainXml(`<domain type='qemu'><name>a</name><memory>1024</memory>
    <os><type arch='x86_64' machine='${machine}'>hvm</type></os><devices>${devicesXml}</devices></domain>`);
  const map = assignAliases(dom, { netActualType: () => 'hostdev' });
  return dom.devices.filter((d) => map.has(d)).map((d) => `${deviceName(d)}=${map.get(d)}`);
}

test('disks: drive address or dev name; controllers: libvirt\'s fixed names', () => {
  assert.deepEqual(aliasesOf(`
    <disk type='file' device='disk'><source file='/a'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/b'/><target dev='hdc' bus='ide'/><address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>
    <controller type='pci' index='0' model='pci-root'/>
    <controller type='ide' index='0'/>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <controller type='virtio-serial' index='0'/>`), [
    'disk=virtio-disk1', 'disk=ide0-1-0', 'controller=pci.0', 'controller=ide', 'controller=usb', 'controller=virtio-serial0',
  ]);
  assert.deepEqual(aliasesOf(`
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='sata' index='0'/>`, 'q35'), ['controller=pcie.0', 'controller=pci.1', 'controller=ide']);
});

test('hostdevN is shared by <interface type=hostdev>, hostdev networks and <hostdev>; user aliases stay', () => {
  const hostdev = (fn: number) => `<source><address type='pci' domain='0x0000' bus='0x03' slot='0x07' function='${fn}'/></source>`;
  assert.deepEqual(aliasesOf(`
    <interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
    <interface type='hostdev'><mac address='52:54:00:00:00:02'/>${hostdev(1)}</interface>
    <interface type='user'><mac address='52:54:00:00:00:03'/><model type='virtio'/><alias name='ua-sb'/></interface>
    <interface type='network'><mac address='52:54:00:00:00:04'/><source network='pool'/></interface>
    <interface type='user'><mac address='52:54:00:00:00:05'/><model type='virtio'/></interface>
    <hostdev mode='subsystem' type='pci'>${hostdev(2)}</hostdev>
    <hostdev mode='subsystem' type='pci'>${hostdev(3)}<alias name='ua-vf'/></hostdev>
    <hostdev mode='subsystem' type='pci'>${hostdev(4)}</hostdev>`), [
    'interface=net0', 'interface=hostdev0', 'interface=ua-sb', 'interface=hostdev1', 'interface=net1',
    'hostdev=hostdev2', 'hostdev=ua-vf', 'hostdev=hostdev3',
  ]);
});

test('chardevs, inputs, video, balloon; the first serial console shares the serial\'s alias', () => {
  assert.deepEqual(aliasesOf(`
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <input type='mouse' bus='ps2'/>
    <input type='keyboard' bus='ps2'/>
    <video><model type='vga'/></video>
    <memballoon model='virtio'/>`), [
    'serial=serial0', 'console=serial0', 'input=input0', 'input=input1', 'video=video0', 'memballoon=balloon0',
  ]);
  assert.deepEqual(aliasesOf("<memballoon model='none'/>"), []);
});
