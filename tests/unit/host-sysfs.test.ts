// The host layer's sysfs reading on a fake tree: one PCI function, SR-IOV discovery, the PCIe
// capability walk (true / false / unknown) and the errors that name the sysfs path.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  configHasExpressCap,
  findVf,
  hostPciIsExpress,
  listSriov,
  pciAddrString,
  readPciDevice,
  readSriovPf,
} from '../../src/host/index.js';
import { InternalError, InvalidArgError, SystemError } from '../../src/util/errors.js';
import { CONVENTIONAL, PF, VF0, VF1, buildFakeSysfs, configSpace } from '../helpers/fake-sysfs.js';

const fake = buildFakeSysfs();
const sysfsRoot = fake.root;
after(() => fake.cleanup());

test('readPciDevice: a PF with its VFs, driver, IOMMU group, NUMA node, netdev', () => {
  assert.deepEqual(readPciDevice(PF, { sysfsRoot }), {
    address: PF,
    vendor: '0x8086',
    device: '0x10fb',
    class: '0x020000',
    driver: 'ixgbe',
    iommuGroup: 40,
    numaNode: 0,
    isExpress: true,
    virtfns: [{ index: 0, address: VF0 }, { index: 1, address: VF1 }],
    netdevs: ['ens1f0'],
  });
});

test('readPciDevice: VFs link back to the PF; override and driver are read', () => {
  const vf0 = readPciDevice(VF0, { sysfsRoot });
  assert.equal(vf0.physfn, PF);
  assert.equal(vf0.driver, 'ixgbevf');
  assert.equal(vf0.driverOverride, undefined, '"(null)" means unset');
  assert.deepEqual(vf0.netdevs, ['ens1f0v0']);
  assert.equal(vf0.isExpress, true, "a VF's 0xffff vendor register does not hide its capabilities");
  const vf1 = readPciDevice(VF1, { sysfsRoot });
  assert.equal(vf1.driver, 'vfio-pci');
  assert.equal(vf1.driverOverride, 'vfio-pci');
  assert.deepEqual(vf1.netdevs, []);
});

const expressCases: { name: string; addr: string; want: boolean | undefined }[] = [
  { name: 'PCIe capability in the list', addr: PF, want: true },
  { name: 'conventional device (PM, MSI only)', addr: CONVENTIONAL, want: false },
  { name: 'config cut at 64 bytes (unprivileged reader)', addr: VF1, want: undefined },
  { name: 'no such device', addr: '0000:99:00.0', want: undefined },
  { name: 'not an address', addr: 'bogus', want: undefined },
];
for (const c of expressCases) {
  test(`isExpress / hostPciIsExpress: ${c.name}`, () => {
    assert.equal(hostPciIsExpress(c.addr, { sysfsRoot }), c.want);
    if (c.addr.startsWith('0000:3b') || c.addr === CONVENTIONAL) assert.equal(readPciDevice(c.addr, { sysfsRoot }).isExpress, c.want);
  });
}

test('hostPciIsExpress takes the <source><address> fields (post-parse)', () => {
  assert.equal(hostPciIsExpress({ domain: 0, bus: 0x3b, slot: 2, function: 0 }, { sysfsRoot }), true);
  assert.equal(hostPciIsExpress({ domain: 0, bus: 0, slot: 5, function: 0 }, { sysfsRoot }), false);
});

test('configHasExpressCap: edge cases of the capability walk', () => {
  const noList = configSpace({ express: true });
  noList[0x06] = 0;
  assert.equal(configHasExpressCap(noList), false, 'status says no capability list');
  const loop = configSpace({ express: false });
  loop[0x51] = 0x40; // MSI -> PM -> MSI -> ...
  assert.equal(configHasExpressCap(loop), false, 'a looped list ends');
  const cardbus = Buffer.alloc(256);
  cardbus[0x06] = 0x10;
  cardbus[0x0e] = 0x82; // multi-function CardBus bridge
  cardbus[0x14] = 0x80;
  cardbus[0x80] = 0x10;
  assert.equal(configHasExpressCap(cardbus), true, 'CardBus keeps its pointer at 0x14');
  const cut = configSpace({ express: true }).subarray(0, 0x71);
  assert.equal(configHasExpressCap(cut), undefined, 'list runs past what was readable');
});

test('addresses: strings and fields, canonical lower case; bad ones are InvalidArgError', () => {
  assert.equal(pciAddrString('0000:3B:02.1'), VF1);
  assert.equal(pciAddrString({ domain: 0, bus: 0x3b, slot: 2, function: 1 }), VF1);
  assert.equal(readPciDevice('0000:3B:02.0', { sysfsRoot }).address, VF0);
  assert.throws(() => pciAddrString('3b:02.0'), InvalidArgError);
  assert.throws(() => pciAddrString({ domain: 0, bus: 256, slot: 0, function: 0 }), InvalidArgError);
});

test('readPciDevice: a missing device is a SystemError naming the sysfs path', () => {
  assert.throws(() => readPciDevice('0000:99:00.0', { sysfsRoot }), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.message, `Device 0000:99:00.0 not found: could not access ${path.join(sysfsRoot, 'bus/pci/devices/0000:99:00.0')}`);
    return true;
  });
});

test('listSriov: the PF with counts, netdev and both VFs', () => {
  assert.deepEqual(listSriov({ sysfsRoot }), [
    {
      address: PF,
      driver: 'ixgbe',
      netdevs: ['ens1f0'],
      totalVfs: 63,
      numVfs: 2,
      numaNode: 0,
      vfs: [
        { index: 0, address: VF0, driver: 'ixgbevf', netdev: 'ens1f0v0', netdevMac: '52:54:00:00:00:10', vfio: false, iommuGroup: 41 },
        { index: 1, address: VF1, driver: 'vfio-pci', vfio: true, iommuGroup: 42 },
      ],
    },
  ]);
});

test('readSriovPf: a device that is not a PF is refused', () => {
  assert.throws(() => readSriovPf(CONVENTIONAL, { sysfsRoot }), InternalError);
});

test('listSriov: a host without a PCI bus (or without PFs) has none', () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'vf-sysfs-empty-'));
  try {
    assert.deepEqual(listSriov({ sysfsRoot: empty }), []);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('findVf: PF, PF netdev and index of a VF; undefined for a non-VF', () => {
  assert.deepEqual(findVf(VF0, { sysfsRoot }), { pf: PF, pfNetdev: 'ens1f0', index: 0 });
  assert.deepEqual(findVf({ domain: 0, bus: 0x3b, slot: 2, function: 1 }, { sysfsRoot }), { pf: PF, pfNetdev: 'ens1f0', index: 1 });
  assert.equal(findVf(PF, { sysfsRoot }), undefined);
  assert.throws(() => findVf('0000:99:00.0', { sysfsRoot }), SystemError);
});
