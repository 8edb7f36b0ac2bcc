// vfio-pci binding on a fake sysfs tree. The fake kernel (tests/helpers/fake-sysfs.ts) moves the
// `driver` link in reaction to the writes: during the write, a little later (bindVfio must wait
// for it), or never (bindVfio must give up at its deadline and undo the override).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { bindVfio, readPciDevice, unbindVfio } from '../../src/host/index.js';
import { SystemError } from '../../src/util/errors.js';
import { type FakeKernelOptions, type FakeSysfs, PF, VF0, VF1, buildFakeSysfs, fakeKernel } from '../helpers/fake-sysfs.js';

function withFake(fn: (fake: FakeSysfs) => Promise<void>, drivers?: string[]): () => Promise<void> {
  return async () => {
    const fake = buildFakeSysfs({ drivers });
    try {
      await fn(fake);
    } finally {
      fake.cleanup();
    }
  };
}

function kernel(fake: FakeSysfs, opts: FakeKernelOptions = {}) {
  const k = fakeKernel(fake, opts);
  return { k, opts: { sysfsRoot: fake.root, write: k.write, timeoutMs: 2000, pollIntervalMs: 1 } };
}

test('bindVfio: driver_override, unbind from the NIC driver, drivers_probe; the link is checked', withFake(async (fake) => {
  const { k, opts } = kernel(fake);
  const r = await bindVfio(VF0, opts);
  assert.deepEqual(r, { address: VF0, changed: true, previousDriver: 'ixgbevf', driver: 'vfio-pci' });
  assert.deepEqual(k.writes, [
    [`bus/pci/devices/${VF0}/driver_override`, 'vfio-pci'],
    ['bus/pci/drivers/ixgbevf/unbind', VF0],
    ['bus/pci/drivers_probe', VF0],
  ]);
  const dev = readPciDevice(VF0, opts);
  assert.equal(dev.driver, 'vfio-pci');
  assert.equal(dev.driverOverride, 'vfio-pci');
  assert.deepEqual(dev.netdevs, [], 'the host netdev went away with ixgbevf');
}));

test('bindVfio is idempotent: a device on vfio-pci already is left alone', withFake(async (fake) => {
  const { k, opts } = kernel(fake);
  assert.deepEqual(await bindVfio(VF1, opts), { address: VF1, driver: 'vfio-pci', changed: false });
  await bindVfio(VF0, opts);
  const n = k.writes.length;
  assert.equal((await bindVfio(VF0, opts)).changed, false);
  assert.equal(k.writes.length, n, 'no write the second time');
}));

test('bindVfio waits (with its deadline) for a kernel that moves the link later', withFake(async (fake) => {
  const { opts } = kernel(fake, { mode: 'deferred' });
  const r = await bindVfio({ domain: 0, bus: 0x3b, slot: 2, function: 0 }, opts);
  assert.equal(r.driver, 'vfio-pci');
  assert.equal(readPciDevice(VF0, opts).driver, 'vfio-pci');
}));

test('bindVfio gives up at the deadline, names the driver link and clears the override', withFake(async (fake) => {
  const { k, opts } = kernel(fake, { mode: 'stuck' });
  const link = path.join(fake.root, 'bus/pci/devices', VF0, 'driver');
  await assert.rejects(bindVfio(VF0, { ...opts, timeoutMs: 30 }), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.message, `PCI device ${VF0}: '${link}' is 'ixgbevf' after 30 ms, expected no driver after unbind`);
    return true;
  });
  assert.equal(readPciDevice(VF0, opts).driverOverride, undefined, 'override undone');
  assert.deepEqual(k.writes.at(-1), [`bus/pci/devices/${VF0}/driver_override`, '\n']);
}));

test('bindVfio: vfio-pci not loaded is a clear error naming the driver directory, and nothing is written', withFake(async (fake) => {
  const { k, opts } = kernel(fake);
  await assert.rejects(bindVfio(VF0, opts), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.match(e.message, new RegExp(`^Cannot bind PCI device ${VF0} to vfio-pci: '${fake.root}/bus/pci/drivers/vfio-pci' does not exist`));
    assert.match(e.message, /modprobe vfio-pci/);
    return true;
  });
  assert.deepEqual(k.writes, []);
}, ['ixgbe', 'ixgbevf']));

test('bindVfio: a failed write is a SystemError naming the file; the device stays with its driver', withFake(async (fake) => {
  const { opts } = kernel(fake, { failWrites: { unbind: 'EBUSY' } });
  await assert.rejects(bindVfio(VF0, opts), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.message, `Failed to unbind PCI device ${VF0} from ixgbevf (writing '${VF0}' to ` +
      `'${fake.root}/bus/pci/drivers/ixgbevf/unbind'): Device or resource busy`);
    return true;
  });
  const dev = readPciDevice(VF0, opts);
  assert.equal(dev.driver, 'ixgbevf');
  assert.equal(dev.driverOverride, undefined);
}));

test('unbindVfio restores the original driver (and its netdev); idempotent', withFake(async (fake) => {
  const { k, opts } = kernel(fake);
  const bound = await bindVfio(VF0, opts);
  k.writes.length = 0;
  const r = await unbindVfio(VF0, bound.previousDriver, opts);
  assert.deepEqual(r, { address: VF0, previousDriver: 'vfio-pci', changed: true, driver: 'ixgbevf' });
  assert.deepEqual(k.writes, [
    ['bus/pci/drivers/vfio-pci/unbind', VF0],
    [`bus/pci/devices/${VF0}/driver_override`, '\n'],
    ['bus/pci/drivers_probe', VF0],
  ]);
  const dev = readPciDevice(VF0, opts);
  assert.equal(dev.driverOverride, undefined);
  assert.deepEqual(dev.netdevs, ['ens1f0v0']);
  assert.deepEqual(await unbindVfio(VF0, 'ixgbevf', opts), { address: VF0, driver: 'ixgbevf', changed: false });
}));

test('unbindVfio without an original driver lets the kernel pick (here the native VF driver)', withFake(async (fake) => {
  const { opts } = kernel(fake);
  assert.deepEqual(await unbindVfio(VF1, undefined, opts), { address: VF1, previousDriver: 'vfio-pci', changed: true, driver: 'ixgbevf' });
  assert.deepEqual(readPciDevice(VF1, opts).netdevs, ['ens1f0v1']);
}));

test('unbindVfio: an original driver that never takes the device is an error at the deadline', withFake(async (fake) => {
  const { opts } = kernel(fake);
  await assert.rejects(unbindVfio(VF1, 'ixgbe', { ...opts, timeoutMs: 20 }), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.match(e.message, /is 'ixgbevf' after 20 ms, expected 'ixgbe'$/);
    return true;
  });
}));

test('unbindVfio clears a leftover vfio-pci override on a device that is not bound to it', withFake(async (fake) => {
  const k = fakeKernel(fake);
  const opts = { sysfsRoot: fake.root, write: k.write };
  k.write(path.join(fake.root, 'bus/pci/devices', PF, 'driver_override'), 'vfio-pci');
  const r = await unbindVfio(PF, undefined, opts);
  assert.deepEqual(r, { address: PF, driver: 'ixgbe', changed: false });
  assert.equal(readPciDevice(PF, opts).driverOverride, undefined);
}));

test('bindVfio / unbindVfio: an unknown device is a SystemError', withFake(async (fake) => {
  const { opts } = kernel(fake);
  await assert.rejects(bindVfio('0000:99:00.0', opts), SystemError);
  await assert.rejects(unbindVfio('0000:99:00.0', undefined, opts), SystemError);
}));
