// Post-parse on our own cases (tests/data/postparse): failover pairs on q35 and
// pc, user-given addresses, bus growth, and an error. Each NAME.xml has either
// NAME.out.xml (golden, VIRT_FAILOVER_REGENERATE=1 rewrites it) or NAME.err.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { capsFromJson } from '../../src/qemu/caps/json.js';
import { PCI_CONNECT, PciAddressSet } from '../../src/qemu/postparse/pci-set.js';
import { type PostParseOptions, postParseDomain } from '../../src/qemu/postparse/postparse.js';
import { InternalError } from '../../src/util/errors.js';
import { assertGolden } from '../helpers/golden.js';
import { testDataDir } from '../helpers/paths.js';

const dir = path.join(testDataDir, 'postparse');
const caps = capsFromJson(JSON.parse(readFileSync(path.join(dir, 'caps-x86_64.json'), 'utf8')));

const CASES: { name: string; profile: PostParseOptions['profile']; what: string }[] = [
  { name: 'q35-failover', profile: 'default', what: 'q35 pair: each PCIe device on its own root port, q35 expanded' },
  { name: 'pc-failover', profile: 'libvirt-test', what: 'pc pair: virtio NIC, then the hostdev, after the virtio disk class' },
  { name: 'q35-user-addresses', profile: 'default', what: 'user addresses kept, empty address filled, unassigned left alone' },
  { name: 'q35-legacy-pci', profile: 'libvirt-test', what: 'a PCI-only NIC on q35 brings a pcie-to-pci-bridge' },
  { name: 'pc-bridge', profile: 'libvirt-test', what: 'pci-root full: a pci-bridge is added' },
  { name: 'pc-ide-misplaced', profile: 'libvirt-test', what: 'the PIIX3 IDE controller cannot move' },
  { name: 'q35-file-serial-console-stub', profile: 'default', what: 'a file serial without <console>: the implicit console shares its source' },
];

for (const c of CASES) {
  test(`postparse ${c.name}: ${c.what}`, () => {
    const input = readFileSync(path.join(dir, `${c.name}.xml`), 'utf8');
    const run = () => formatDomain(postParseDomain(parseDomainXml(input, { source: c.name }), caps, { profile: c.profile }));
    const err = path.join(dir, `${c.name}.err`);
    if (existsSync(err)) {
      assert.throws(run, (e: Error) => `${e.message}\n` === readFileSync(err, 'utf8'));
    } else {
      assertGolden(run(), path.join(dir, `${c.name}.out.xml`));
    }
  });
}

test('post-parse is idempotent on its own output', () => {
  for (const c of CASES) {
    const out = path.join(dir, `${c.name}.out.xml`);
    if (!existsSync(out)) continue;
    const text = readFileSync(out, 'utf8');
    const again = formatDomain(postParseDomain(parseDomainXml(text), caps, { profile: c.profile }));
    assert.equal(again, text, c.name);
  }
});

test('q35 failover: standby and primary each get a root port of their own', () => {
  const input = readFileSync(path.join(dir, 'q35-failover.xml'), 'utf8');
  const dom = postParseDomain(parseDomainXml(input), caps, { profile: 'default' });
  assert.equal(dom.os.machine, 'pc-q35-9.2');
  const buses = dom.devices
    .filter((d) => d.kind === 'interface')
    .map((d) => (d as unknown as { info: { address?: { bus?: number } } }).info.address?.bus);
  // The standby is placed with the NICs, the VF with the hostdevs (after the USB controller).
  assert.deepEqual(buses, [1, 3]);
});

test('a missing UUID is generated; the generator can be injected', () => {
  const xml = "<domain type='qemu'><name>n</name><memory>1024</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>";
  const dom = postParseDomain(parseDomainXml(xml), caps, { profile: 'default', newUuid: () => '00000000-0000-0000-0000-000000000001' });
  assert.equal(dom.uuid, '00000000-0000-0000-0000-000000000001');
  const random = postParseDomain(parseDomainXml(xml), caps, { profile: 'default' });
  assert.match(random.uuid ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

test('interfaces without a MAC (or with 00:00:00:00:00:00) get one in 52:54:00, as libvirt persists it', () => {
  const xml =
    "<domain type='qemu'><name>n</name><memory>1024</memory><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>" +
    "<interface type='user'><model type='virtio'/></interface>" +
    "<interface type='user'><mac address='00:00:00:00:00:00'/><model type='virtio'/></interface>" +
    "<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface></devices></domain>";
  let n = 0;
  const dom = postParseDomain(parseDomainXml(xml), caps, { profile: 'default', newMac: () => `52:54:00:00:00:0${++n}` });
  const macs = dom.devices.filter((d) => d.kind === 'interface').map((d) => (d as { mac?: { address?: string } }).mac?.address);
  assert.deepEqual(macs, ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:aa:bb:cc']);
  const random = postParseDomain(parseDomainXml(xml), caps, { profile: 'default' });
  const first = (random.devices.find((d) => d.kind === 'interface') as { mac?: { address?: string } }).mac?.address ?? '';
  assert.match(first, /^52:54:00(:[0-9a-f]{2}){3}$/);
});

test('address set: root ports share a slot until its 8 functions are used', () => {
  const set = new PciAddressSet(1, false, true);
  set.setBusModel(0, 'pcie-root', false);
  const flags = PCI_CONNECT.TYPE_PCIE_ROOT_PORT | PCI_CONNECT.AGGREGATE_SLOT;
  const got = Array.from({ length: 9 }, () => set.reserveNextAddr(flags));
  assert.deepEqual(got.map((a) => [a.slot, a.function]), [[1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 7], [2, 0]]);
});

test('address set: an endpoint never lands on pcie-root by itself', () => {
  const set = new PciAddressSet(1, false, true);
  set.setBusModel(0, 'pcie-root', false);
  assert.throws(() => set.reserveNextAddr(PCI_CONNECT.TYPE_PCIE_DEVICE | PCI_CONNECT.AUTOASSIGN), InternalError);
  const dry = new PciAddressSet(1, true, true);
  dry.setBusModel(0, 'pcie-root', false);
  const a = dry.reserveNextAddr(PCI_CONNECT.TYPE_PCIE_DEVICE | PCI_CONNECT.AUTOASSIGN);
  assert.deepEqual([a.bus, a.slot, dry.bus(1).model], [1, 0, 'pcie-root-port']);
});

test('address set: a double use of a user address is an XML error', () => {
  const set = new PciAddressSet(1, false, false);
  set.setBusModel(0, 'pci-root', true);
  const a = { domain: 0, bus: 0, slot: 3, function: 0 };
  set.reserveAddr(a, PCI_CONNECT.TYPE_PCI_DEVICE);
  assert.throws(() => set.reserveAddr(a, PCI_CONNECT.TYPE_PCI_DEVICE), { message: 'XML error: Attempted double use of PCI Address 0000:00:03.0' });
});
