// The network driver on its own (no domain): what libvirt's network driver fills in and refuses at
// net-define and net-start, on the fake sysfs tree.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseNetworkXml } from '../../src/conf/network/index.js';
import { QemuDriver, createPortFromXml, listPorts } from '../../src/qemu/driver/index.js';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';
import { CONVENTIONAL, type FakeSysfs, VF0, VF1, buildFakeSysfs } from '../helpers/fake-sysfs.js';

function withDriver(fn: (d: QemuDriver, fake: FakeSysfs) => Promise<void>): () => Promise<void> {
  return async () => {
    const fake = buildFakeSysfs();
    const dir = mkdtempSync(path.join(tmpdir(), 'vf-net-'));
    try {
      await fn(QemuDriver.open({ stateDir: path.join(dir, 'state'), env: {}, host: { sysfsRoot: fake.root } }), fake);
    } finally {
      fake.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const addr = (a: string) => {
  const [dom, bus, sf] = a.split(':');
  const [slot, fn] = sf!.split('.');
  return `<address type='pci' domain='0x${dom}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/>`;
};
const hostdevNet = (name: string, ...addrs: string[]) =>
  `<network><name>${name}</name><forward mode='hostdev' managed='yes'>${addrs.map(addr).join('')}</forward></network>`;

test('net-define of a NAT network fills in what libvirt does: the first free virbrN and a 52:54:00 MAC, kept on redefine', withDriver(async (d) => {
  await d.networks.define("<network><name>a</name><forward mode='nat'/><ip address='192.168.122.1' netmask='255.255.255.0'/></network>");
  await d.networks.define("<network><name>b</name><ip address='192.168.123.1' netmask='255.255.255.0'/></network>");
  const a = parseNetworkXml(d.networks.getXml('a'));
  const b = parseNetworkXml(d.networks.getXml('b'));
  assert.deepEqual([a.bridge.name, b.bridge.name], ['virbr0', 'virbr1']);
  assert.match(a.mac ?? '', /^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
  await d.networks.define(`<network><name>a</name><uuid>${a.uuid}</uuid><forward mode='nat'/><ip address='192.168.124.1' netmask='255.255.255.0'/></network>`);
  const again = parseNetworkXml(d.networks.getXml('a'));
  assert.deepEqual([again.bridge.name, again.mac, again.ips[0]!.address], [a.bridge.name, a.mac, '192.168.124.1']);
}));

test("net-define refuses what libvirt's network driver refuses", withDriver(async (d, fake) => {
  await d.networks.define(`<network><name>pool</name><uuid>6a1d6c4e-1f0b-4d3a-9a52-0b0f8f6a2c01</uuid><forward mode='hostdev'>${addr(VF0)}</forward></network>`);
  const refusals: [string, string][] = [
    [`<network><name>other</name><uuid>6a1d6c4e-1f0b-4d3a-9a52-0b0f8f6a2c01</uuid></network>`,
      "operation failed: network 'pool' is already defined with uuid 6a1d6c4e-1f0b-4d3a-9a52-0b0f8f6a2c01"],
    [`<network><name>pool</name><uuid>6a1d6c4e-1f0b-4d3a-9a52-0b0f8f6a2c02</uuid></network>`,
      "operation failed: network 'pool' already exists with uuid 6a1d6c4e-1f0b-4d3a-9a52-0b0f8f6a2c01"],
    [hostdevNet('x', CONVENTIONAL),
      `unsupported configuration: device '${path.join(fake.root, 'bus', 'pci', 'devices', CONVENTIONAL)}' in network 'x' is not an SR-IOV Virtual Function`],
    ["<network><name>x</name><forward mode='hostdev'><interface dev='eth0'/></forward></network>",
      "unsupported configuration: hostdev network 'x' lists 'eth0' in the device pool, but hostdev networks require all devices to be listed by PCI address, not network device name"],
    [`<network><name>x</name><forward mode='hostdev'><pf dev='ens1f0'/></forward><ip address='10.0.0.1'/></network>`,
      "unsupported configuration: Unsupported <ip> element in network x with forward mode='hostdev'"],
    [`<network><name>x</name><forward mode='hostdev'><pf dev='ens1f0'/></forward><mac address='52:54:00:00:00:01'/></network>`,
      "unsupported configuration: Unsupported <mac> element in network x with forward mode='hostdev'"],
    ["<network><name>x</name><vlan><tag id='5'/></vlan></network>",
      "unsupported configuration: <vlan> element specified for network x, whose type doesn't support vlan configuration"],
    ["<network><name>x</name><bridge name='virbr9' stp='on'/><forward mode='bridge'/></network>",
      "XML error: bridge delay/stp options only allowed in route, nat, and isolated mode, not in bridge (network 'x')"],
  ];
  for (const [xml, message] of refusals) await assert.rejects(d.networks.define(xml), { message }, xml);
  assert.deepEqual(d.networks.list().map((n) => n.name), ['pool']);
}));

test("net-start of a <pf> network: libvirt's messages for a missing PF and for a PF without VFs", withDriver(async (d, fake) => {
  await d.networks.define("<network><name>nopf</name><forward mode='hostdev'><pf dev='eth9'/></forward></network>");
  await assert.rejects(d.networks.start('nopf'), { name: 'InternalError', message: 'internal error: Could not get Virtual functions on eth9' });
  // A network interface whose device has no VFs.
  mkdirSync(path.join(fake.devDir(CONVENTIONAL), 'net', 'eth7'), { recursive: true });
  await d.networks.define("<network><name>novf</name><forward mode='hostdev'><pf dev='eth7'/></forward></network>");
  await assert.rejects(d.networks.start('novf'), { message: "internal error: No usable Vf's present on SRIOV PF eth7" });
  assert.deepEqual(d.networks.list().map((n) => n.active), [false, false]);
}));

test('an address-list pool: allocation skips VFs that cannot go to vfio-pci (managed=no and not bound)', withDriver(async (d) => {
  await d.networks.define(`<network><name>p</name><forward mode='hostdev' managed='no'>${addr(VF0)}${addr(VF1)}</forward></network>`);
  await d.networks.start('p');
  const port = (u: string) => `<networkport><uuid>${u}</uuid><owner><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner><mac address='52:54:00:7b:35:93'/></networkport>`;
  const p1 = await createPortFromXml(d.networks, 'p', port('5d744f21-ba4a-4d6e-bdb2-30a35ff3207d'));
  assert.deepEqual(p1.plug, { type: 'hostdev-pci', address: { type: 'pci', domain: 0, bus: 0x3b, slot: 2, function: 1 }, managed: 'no' }, 'VF0 is on ixgbevf: unusable unmanaged');
  await assert.rejects(createPortFromXml(d.networks, 'p', port('5d744f21-ba4a-4d6e-bdb2-30a35ff3207e')), /requires exclusive access to interfaces/);
  await assert.rejects(createPortFromXml(d.networks, 'p', port('5d744f21-ba4a-4d6e-bdb2-30a35ff3207d')), {
    message: 'internal error: Network port with UUID 5d744f21-ba4a-4d6e-bdb2-30a35ff3207d already exists',
  });
  assert.deepEqual(listPorts(d.networks, 'p'), ['5d744f21-ba4a-4d6e-bdb2-30a35ff3207d']);
}));

test('the fake harness networks of libvirt\'s QEMU tests define (hostdev pools need their VFs, so only the others here)', withDriver(async (d) => {
  if (!corpusAvailable()) return;
  const dir = path.join(corpusDir, 'qemuxmlconf-support', 'networkxml2xmlin');
  for (const f of ['nat-network.xml', 'openvswitch-net.xml', 'vepa-net.xml']) {
    const r = await d.networks.define(readFileSync(path.join(dir, f), 'utf8'), { source: f });
    assert.equal(r.created, true);
  }
  assert.equal(parseNetworkXml(d.networks.getXml('default')).bridge.name, 'virbr0');
}));
