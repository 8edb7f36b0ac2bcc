// Device elements (disk, controller, chardevs, input, graphics, video, ...):
// parse + format to libvirt's canonical form, and the errors libvirt gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { findEmulator, newEmulator } from '../../src/conf/emulator.js';
import {
  type Controller, addController, assignControllerIndexes, isController, newController,
} from '../../src/conf/controller.js';
import path from 'node:path';
import { testDataDir } from '../helpers/paths.js';
import { runConfCases } from '../helpers/conf-cases.js';

runConfCases(path.join(testDataDir, 'conf-devices'), 'conf devices');

const skeleton = (devices: string) =>
  `<domain type='kvm'>\n  <name>t</name>\n  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n  </os>\n  <devices>\n${devices}  </devices>\n</domain>\n`;

test('emulator: read as a device, written first inside <devices>', () => {
  const dom = parseDomainXml(skeleton("    <memballoon model='none'/>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"));
  assert.equal(findEmulator(dom.devices), '/usr/bin/qemu-system-x86_64');
  assert.match(formatDomain(dom), /<devices>\n {4}<emulator>\/usr\/bin\/qemu-system-x86_64<\/emulator>\n {4}<memballoon/);
  dom.devices.push(newEmulator('/other'));
  assert.equal(findEmulator(dom.devices), '/usr/bin/qemu-system-x86_64'); // the first one wins, as in libvirt
});

test('controllers: post-parse style creation, indexes and libvirt order', () => {
  const dom = parseDomainXml(skeleton("    <controller type='pci' index='0' model='pcie-root'/>\n    <controller type='sata'/>\n"));
  addController(dom.devices, newController('pci', 2, 'pcie-root-port'));
  addController(dom.devices, newController('pci', 1, 'pcie-root-port'));
  addController(dom.devices, newController('usb', -1, 'qemu-xhci'));
  assignControllerIndexes(dom.devices);
  const list = dom.devices.filter(isController).map((c: Controller) => `${c.type}${c.index}`);
  assert.deepEqual(list, ['pci0', 'pci1', 'pci2', 'sata0', 'usb0']);
  assert.match(formatDomain(dom), /<controller type='sata' index='0'\/>/);
});

test('unknown attributes and children survive (kept at libvirt position or last)', () => {
  const dom = parseDomainXml(skeleton([
    "    <memballoon model='virtio' x-hint='1'>\n      <x-child a='b'/>\n      <stats period='5'/>\n    </memballoon>\n",
    "    <disk type='file' device='disk' x-disk='2'>\n      <target dev='vda' bus='virtio'/>\n      <iotune>\n        <total_bytes_sec>1000</total_bytes_sec>\n      </iotune>\n",
    "      <source file='/a.img' x-src='3'/>\n      <x-last/>\n    </disk>\n",
  ].join('')));
  const out = formatDomain(dom);
  assert.match(out, /<memballoon model='virtio' x-hint='1'>\n {6}<stats period='5'\/>\n {6}<x-child a='b'\/>\n {4}<\/memballoon>/);
  // <iotune> is known to libvirt: kept as written, but at its place after <target>
  assert.match(out, /<disk type='file' device='disk' x-disk='2'>\n {6}<source file='\/a.img' x-src='3'\/>\n {6}<target dev='vda' bus='virtio'\/>\n {6}<iotune>\n {8}<total_bytes_sec>1000<\/total_bytes_sec>\n {6}<\/iotune>\n {6}<x-last\/>\n {4}<\/disk>/);
  assert.equal(formatDomain(parseDomainXml(out)), out);
});
