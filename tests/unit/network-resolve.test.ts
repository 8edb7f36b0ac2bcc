// Networks and network ports: libvirt's test-harness naming (NET;PORT), plain names
// allocated from the network, and what each forward mode turns an interface into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DirNetworkResolver, actualTypeForForward, parseNetworkPortXml, parseNetworkXml,
} from '../../src/qemu/command/network-resolve.js';

const pool = `<network><name>pool</name>
  <forward mode='hostdev' managed='yes'>
    <address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x0'/>
    <address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x1'/>
  </forward></network>`;

function resolver(): DirNetworkResolver {
  const r = new DirNetworkResolver();
  r.addNetwork('pool', parseNetworkXml(pool));
  r.addNetwork('nat-file', parseNetworkXml("<network><name>default</name><bridge name='virbr0'/><forward mode='nat'/></network>"));
  r.addNetwork('br', parseNetworkXml("<network><name>br</name><forward mode='bridge'/><bridge name='br0'/></network>"));
  r.addNetwork('vepa', parseNetworkXml("<network><name>vepa</name><forward mode='vepa'><interface dev='eth1'/></forward></network>"));
  r.addPort('port-a', parseNetworkPortXml(`<networkport><uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
    <owner><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner><mac address='52:54:00:7b:35:93'/><plug type='hostdev-pci' managed='yes'><address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/></plug></networkport>`));
  r.addPort('port-br', parseNetworkPortXml("<networkport><owner><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner><mac address='52:54:00:7b:35:93'/><plug type='bridge' bridge='virbr0'/></networkport>"));
  return r;
}

const forwardTypes: [string, string][] = [
  ["<network><name>n</name></network>", 'network'],
  ["<network><name>n</name><forward/></network>", 'network'],
  ["<network><name>n</name><forward mode='route'/></network>", 'network'],
  ["<network><name>n</name><forward mode='bridge'/><bridge name='b'/></network>", 'bridge'],
  ["<network><name>n</name><forward mode='bridge' dev='eth0'/></network>", 'direct'],
  ["<network><name>n</name><forward mode='passthrough'/></network>", 'direct'],
  ["<network><name>n</name><forward mode='hostdev'/></network>", 'hostdev'],
];
for (const [xml, type] of forwardTypes) {
  test(`forward mode -> ${type}: ${xml}`, () => assert.equal(actualTypeForForward(parseNetworkXml(xml)), type));
}

test('NET;PORT reads the port file, as libvirt\'s test harness does', () => {
  const r = resolver();
  assert.equal(r.resolveType('pool;port-a'), 'hostdev');
  const a = r.allocate('pool;port-a');
  assert.equal(a.type, 'hostdev');
  assert.deepEqual(a.hostdev, { address: { type: 'pci', domain: 1, bus: 2, slot: 3, function: 4 }, managed: true });
  assert.equal(r.allocate('nat-file;port-br').type, 'bridge');
  assert.equal(r.allocate('default;port-br').network, 'default', 'a network is also found by its <name>');
});

test('a plain name allocates from the network: the next free VF of a pool', () => {
  const r = resolver();
  assert.equal(r.allocate('pool').hostdev?.address.function, 0);
  assert.equal(r.allocate('pool', { taken: new Set(['0000:81:10.0']) }).hostdev?.address.function, 1);
  assert.throws(() => r.allocate('pool', { taken: new Set(['0000:81:10.0', '0000:81:10.1']) }),
    { name: 'InternalError', message: "internal error: network 'pool' requires exclusive access to interfaces, but none are available" });
  assert.deepEqual([r.allocate('br').type, r.allocate('br').bridge], ['bridge', 'br0']);
  assert.deepEqual([r.allocate('vepa').type, r.allocate('vepa').dev, r.allocate('vepa').mode], ['direct', 'eth1', 'vepa']);
  assert.equal(r.allocate('pool', { portid: '5d744f21-ba4a-4d6e-bdb2-30a35ff3207d' }).hostdev?.address.domain, 1, 'portid picks the port file by its uuid');
});

test('missing networks and ports have libvirt\'s messages', () => {
  const r = resolver();
  assert.throws(() => r.resolveType('nope'), { name: 'NoNetworkError', message: "Network not found: no network with matching name 'nope'" });
  assert.throws(() => r.allocate('pool;nope'), { name: 'NoNetworkPortError', message: "network port not found: no network port with matching uuid 'nope'" });
});
