// PCI hostdevs around a domain's life (driver-hostdev.ts), on the fake sysfs tree and its fake kernel
// (tests/helpers/fake-sysfs.ts) and a fake ip(8): prepare binds managed devices to vfio-pci and sets a
// VF's MAC/VLAN through its PF; release puts both back; the in-use and libvirt refusals change nothing.
// The last tests run the driver's real start/destroy path with a fake QEMU (a node script speaking
// QMP), so the hooks run where they belong: before QEMU, after it exits, after a crash.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseDomainXml } from '../../src/conf/domain.js';
import { type CommandRunner, readPciDevice } from '../../src/host/index.js';
import type { QemuDriver } from '../../src/qemu/driver/driver.js';
import {
  type HostdevClaim,
  type HostdevHostOptions,
  type PreparedHostdev,
  type PrepareOptions,
  prepareHostdevs,
  recordedHostdevs,
  releaseHostdevs,
  wantedHostdevs,
} from '../../src/qemu/driver/hostdev.js';
import { localMigrationBlocker } from '../../src/qemu/driver/migrate.js';
import { ConfigUnsupportedError, OperationInvalidError, OperationUnsupportedError, SystemError } from '../../src/util/errors.js';
import { signalProcess } from '../../src/util/proc.js';
import { CONVENTIONAL, type FakeSysfs, VF0, VF1, buildFakeSysfs, fakeKernel } from '../helpers/fake-sysfs.js';
import { fakeQemuDriver } from '../helpers/fake-qemu-driver.js';

const UUID = '3d4c5b6a-0f1e-4d2c-8b3a-29180706a5b4';
const UUID2 = '3d4c5b6a-0f1e-4d2c-8b3a-29180706a5b5';

function domainXml(devices: string, opts: { name?: string; uuid?: string } = {}): string {
  return `<domain type='qemu'>
  <name>${opts.name ?? 'vm'}</name>
  <uuid>${opts.uuid ?? UUID}</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
${devices}
  </devices>
</domain>
`;
}

const src = (addr: string) => {
  const [dom, bus, sf] = addr.split(':');
  const [slot, fn] = sf!.split('.');
  return `<source><address type='pci' domain='0x${dom}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/></source>`;
};
const netHostdev = (addr: string, o: { managed?: string; mac?: string; vlan?: string } = {}) =>
  `<interface type='hostdev'${o.managed ? ` managed='${o.managed}'` : ''}>` +
  `<mac address='${o.mac ?? '52:54:00:aa:bb:01'}'/>${src(addr)}${o.vlan ?? ''}</interface>`;
const plainHostdev = (addr: string, managed = 'yes') => `<hostdev mode='subsystem' type='pci' managed='${managed}'>${src(addr)}</hostdev>`;

/** A fake ip(8) for PF ens1f0 with VFs 0 and 1: records each call; `link set` changes what `-j link show` prints. */
function fakeIp(opts: { refuseMac?: string; failSet?: boolean } = {}) {
  const calls: string[] = [];
  const vfs = [
    { vf: 0, address: '00:00:00:00:00:00', vlan: 0 },
    { vf: 1, address: '00:00:00:00:00:00', vlan: 7 },
  ];
  const runner: CommandRunner = async (file, args) => {
    calls.push([file, ...args].join(' '));
    if (args[0] === 'link' && args[1] === 'set') {
      const vf = vfs.find((v) => v.vf === Number(args[5]));
      const mac = args[args.indexOf('mac') + 1];
      if (opts.failSet || !vf || (args.includes('mac') && mac === opts.refuseMac)) {
        throw Object.assign(new Error('exit 2'), { stderr: 'RTNETLINK answers: Invalid argument\n' });
      }
      if (args.includes('mac')) vf.address = mac!;
      if (args.includes('vlan')) vf.vlan = Number(args[args.indexOf('vlan') + 1]);
      return { stdout: '', stderr: '' };
    }
    const list = vfs.map((v) => ({ vf: v.vf, address: v.address, vlan_list: [v.vlan ? { vlan: v.vlan } : {}] }));
    return { stdout: JSON.stringify([{ ifname: 'ens1f0', vfinfo_list: list }]), stderr: '' };
  };
  return { calls, vfs, runner };
}

interface World {
  fake: FakeSysfs;
  writes: [string, string][];
  ip: ReturnType<typeof fakeIp>;
  host: HostdevHostOptions;
  dir: string;
  persisted: PreparedHostdev[][];
  opts(claims?: HostdevClaim[]): PrepareOptions;
}

function withWorld(fn: (w: World) => Promise<void>, ipOpts: Parameters<typeof fakeIp>[0] = {}): () => Promise<void> {
  return async () => {
    const fake = buildFakeSysfs();
    const dir = mkdtempSync(path.join(tmpdir(), 'vf-hostdev-'));
    const k = fakeKernel(fake);
    const ip = fakeIp(ipOpts);
    const persisted: PreparedHostdev[][] = [];
    const host: HostdevHostOptions = { sysfsRoot: fake.root, write: k.write, ipRunner: ip.runner, timeoutMs: 2000, pollIntervalMs: 1 };
    const w: World = {
      fake,
      writes: k.writes,
      ip,
      host,
      dir,
      persisted,
      opts: (claims = []) => ({
        domain: 'vm',
        lockFile: path.join(dir, 'locks', '.hostdev.lock'),
        claims: async () => claims,
        persist: (done) => persisted.push(structuredClone(done)),
      }),
    };
    try {
      await fn(w);
    } finally {
      fake.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const wanted = (devices: string) => wantedHostdevs(parseDomainXml(domainXml(devices)));
const driverOf = (w: World, addr: string) => readPciDevice(addr, w.host).driver;

test('prepare: a managed VF interface goes to vfio-pci, then gets its MAC and VLAN through the PF; release undoes both', withWorld(async (w) => {
  const done = await prepareHostdevs(w.host, wanted(netHostdev(VF0, { managed: 'yes', vlan: "<vlan><tag id='100'/></vlan>" })), w.opts());
  assert.deepEqual(done, [{
    address: VF0, managed: true, iommuGroup: 41, boundVfio: true, originalDriver: 'ixgbevf',
    vfConfig: { pfNetdev: 'ens1f0', vf: 0, adminMac: '00:00:00:00:00:00', vlan: 0, netdevMac: '52:54:00:00:00:10' },
  }]);
  assert.equal(driverOf(w, VF0), 'vfio-pci');
  assert.deepEqual(w.writes, [
    [`bus/pci/devices/${VF0}/driver_override`, 'vfio-pci'],
    ['bus/pci/drivers/ixgbevf/unbind', VF0],
    ['bus/pci/drivers_probe', VF0],
  ]);
  assert.deepEqual(w.ip.calls, [
    'ip -j link show dev ens1f0',
    'ip link set dev ens1f0 vf 0 mac 52:54:00:aa:bb:01 vlan 100',
    'ip -j link show dev ens1f0',
  ]);
  assert.deepEqual(w.ip.vfs[0], { vf: 0, address: '52:54:00:aa:bb:01', vlan: 100 });
  // Recorded before each change: claimed, bound, MAC/VLAN about to be set.
  assert.equal(w.persisted.length, 3);
  assert.deepEqual(w.persisted[0], [{ address: VF0, managed: true, iommuGroup: 41 }]);
  assert.deepEqual(w.persisted.at(-1), done);

  w.writes.length = 0;
  w.ip.calls.length = 0;
  assert.deepEqual(await releaseHostdevs(w.host, done), []);
  // The VF had a host interface (52:54:00:00:00:10): that MAC comes back as its admin MAC, as libvirt does.
  assert.deepEqual(w.ip.calls, ['ip link set dev ens1f0 vf 0 mac 52:54:00:00:00:10 vlan 0', 'ip -j link show dev ens1f0']);
  assert.deepEqual(w.writes, [
    ['bus/pci/drivers/vfio-pci/unbind', VF0],
    [`bus/pci/devices/${VF0}/driver_override`, '\n'],
    ['bus/pci/drivers_probe', VF0],
  ]);
  assert.equal(driverOf(w, VF0), 'ixgbevf');
  assert.deepEqual(readPciDevice(VF0, w.host).netdevs, ['ens1f0v0']);
}));

test("managed='no': not bound (it is on vfio-pci already), but the MAC is still set; no <vlan> sets VLAN 0", withWorld(async (w) => {
  const done = await prepareHostdevs(w.host, wanted(netHostdev(VF1, { mac: '52:54:00:aa:bb:02' })), w.opts());
  assert.deepEqual(done, [{
    address: VF1, managed: false, iommuGroup: 42,
    vfConfig: { pfNetdev: 'ens1f0', vf: 1, adminMac: '00:00:00:00:00:00', vlan: 7 },
  }]);
  assert.deepEqual(w.writes, [], 'no sysfs write');
  assert.equal(w.ip.calls[1], 'ip link set dev ens1f0 vf 1 mac 52:54:00:aa:bb:02 vlan 0');
  w.ip.calls.length = 0;
  assert.deepEqual(await releaseHostdevs(w.host, done), []);
  assert.deepEqual(w.ip.calls, ['ip link set dev ens1f0 vf 1 mac 00:00:00:00:00:00 vlan 7', 'ip -j link show dev ens1f0']);
  assert.deepEqual(w.writes, []);
  assert.equal(driverOf(w, VF1), 'vfio-pci');
}));

test('release: a driver that refuses an all-zero admin MAC gets 02:00:00:00:00:00 (libvirt\'s retry)', withWorld(async (w) => {
  const done = await prepareHostdevs(w.host, wanted(netHostdev(VF1)), w.opts());
  assert.deepEqual(await releaseHostdevs(w.host, done), []);
  assert.deepEqual(w.ip.vfs[1], { vf: 1, address: '02:00:00:00:00:00', vlan: 7 });
}, { refuseMac: '00:00:00:00:00:00' }));

test("plain managed hostdev: bound and given back, no ip(8); managed='no' off vfio-pci is refused as libvirt does", withWorld(async (w) => {
  const done = await prepareHostdevs(w.host, wanted(plainHostdev(VF0)), w.opts());
  assert.deepEqual(done, [{ address: VF0, managed: true, iommuGroup: 41, boundVfio: true, originalDriver: 'ixgbevf' }]);
  assert.deepEqual(w.ip.calls, []);
  assert.deepEqual(await releaseHostdevs(w.host, done), []);
  assert.equal(driverOf(w, VF0), 'ixgbevf');

  w.writes.length = 0;
  await assert.rejects(prepareHostdevs(w.host, wanted(plainHostdev(VF0, 'no')), w.opts()), (e: unknown) =>
    e instanceof OperationInvalidError &&
    e.message === `Requested operation is not valid: Unmanaged PCI device ${VF0} must be manually detached from the host`);
  assert.deepEqual(w.writes, []);
  // A device already on vfio-pci stays there after release: we did not move it.
  const already = await prepareHostdevs(w.host, wanted(plainHostdev(VF1)), w.opts());
  assert.deepEqual(already, [{ address: VF1, managed: true, iommuGroup: 42 }]);
  assert.deepEqual(await releaseHostdevs(w.host, already), []);
  assert.deepEqual(w.writes, []);
}));

test('in use by another domain (same device, or same IOMMU group): libvirt\'s error, nothing touched', withWorld(async (w) => {
  const claims: HostdevClaim[] = [{ domain: 'other', hostdevs: [{ address: VF1, managed: true, iommuGroup: 42 }] }];
  await assert.rejects(prepareHostdevs(w.host, wanted(`${plainHostdev(VF0)}${plainHostdev(VF1)}`), w.opts(claims)), (e: unknown) =>
    e instanceof OperationInvalidError &&
    e.message === 'Requested operation is not valid: PCI device 0000:3b:02.1 is in use by driver QEMU, domain other');
  const group: HostdevClaim[] = [{ domain: 'g', hostdevs: [{ address: '0000:3b:04.0', managed: true, iommuGroup: 41 }] }];
  await assert.rejects(prepareHostdevs(w.host, wanted(plainHostdev(VF0)), w.opts(group)), {
    message: 'Requested operation is not valid: PCI device 0000:3b:04.0 is in use by driver QEMU, domain g',
  });
  assert.deepEqual(w.writes, []);
  assert.deepEqual(w.ip.calls, []);
  assert.deepEqual(w.persisted, []);
}));

test('a failure half-way is rolled back: MAC/VLAN restored, device given back, record emptied', withWorld(async (w) => {
  await assert.rejects(prepareHostdevs(w.host, wanted(netHostdev(VF0, { managed: 'yes' })), w.opts()), (e: unknown) =>
    e instanceof SystemError && /^Failed to run 'ip link set dev ens1f0 vf 0 mac 52:54:00:aa:bb:01 vlan 0': RTNETLINK/.test(e.message));
  assert.equal(driverOf(w, VF0), 'ixgbevf');
  assert.deepEqual(w.persisted.at(-1), []);
}, { failSet: true }));

test('libvirt refusals at start: a hostdev interface that is not a VF, VLAN trunks, virtualport', withWorld(async (w) => {
  await assert.rejects(prepareHostdevs(w.host, wanted(`${plainHostdev(VF0)}${netHostdev(CONVENTIONAL)}`), w.opts()), (e: unknown) =>
    e instanceof ConfigUnsupportedError &&
    e.message === 'unsupported configuration: Interface type hostdev is currently supported on SR-IOV Virtual Functions only');
  assert.deepEqual(w.writes, [], 'checked before anything changes');
  assert.throws(() => wanted(netHostdev(VF0, { vlan: "<vlan trunk='yes'><tag id='1'/><tag id='2'/></vlan>" })), {
    message: 'unsupported configuration: vlan trunking is not supported by SR-IOV network devices',
  });
  const vp = `<interface type='hostdev'><mac address='52:54:00:aa:bb:01'/>${src(VF0)}<virtualport type='802.1Qbg'/></interface>`;
  assert.throws(() => wanted(vp), { message: 'unsupported configuration: virtualport type 802.1Qbg is currently not supported on interfaces of type hostdev' });
}));

test('a domain without PCI hostdevs: nothing is read, locked or run', async () => {
  const dom = parseDomainXml(domainXml("<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface>"));
  assert.deepEqual(wantedHostdevs(dom), []);
  const boom = () => {
    throw new Error('touched');
  };
  const host: HostdevHostOptions = { sysfsRoot: '/nonexistent', write: boom, ipRunner: boom };
  const opts: PrepareOptions = { domain: 'vm', lockFile: '/nonexistent/lock', claims: boom, persist: boom };
  assert.deepEqual(await prepareHostdevs(host, wantedHostdevs(dom), opts), []);
  assert.deepEqual(await releaseHostdevs(host, []), []);
  assert.deepEqual(recordedHostdevs({ name: 'vm' }), []);
});

test('local migration of a domain with a PCI passthrough primary is refused (one VF cannot be in two QEMUs)', () => {
  const standby = "<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/><teaming type='persistent'/><alias name='ua-standby0'/></interface>";
  const primary = `<interface type='hostdev' managed='yes'><mac address='52:54:00:aa:bb:cc'/>${src(VF1)}<teaming type='transient' persistent='ua-standby0'/></interface>`;
  const b = localMigrationBlocker(parseDomainXml(domainXml(`${standby}${primary}`)));
  assert.ok(b instanceof OperationUnsupportedError);
  assert.equal(b.message, 'Operation not supported: local migration of a domain with a PCI passthrough device is not possible: ' +
    'source and destination would need the same device 0000:3b:02.1; migrate to another host');
  assert.equal(localMigrationBlocker(parseDomainXml(domainXml(standby))), undefined);
});

// ---- through the driver: start / destroy / failed start / crash, with a fake QEMU -----------------------

function driverWorld(w: World, mode: { fail?: Set<string> } = {}): QemuDriver {
  return fakeQemuDriver({ dir: w.dir, host: w.host, ...(mode.fail ? { fail: mode.fail } : {}) });
}

test('driver: start prepares before QEMU runs and records it; destroy gives the VF back; a second domain wanting it is refused', withWorld(async (w) => {
  const driver = driverWorld(w);
  await driver.store.defineConfig('vm', UUID, domainXml(netHostdev(VF0, { managed: 'yes', vlan: "<vlan><tag id='100'/></vlan>" })));
  await driver.store.defineConfig('vm2', UUID2, domainXml(plainHostdev(VF0), { name: 'vm2', uuid: UUID2 }));
  const r = await driver.start('vm');
  try {
    assert.equal((await driver.getState('vm')).state, 'running');
    assert.equal(driverOf(w, VF0), 'vfio-pci');
    assert.deepEqual(w.ip.vfs[0], { vf: 0, address: '52:54:00:aa:bb:01', vlan: 100 });
    const rec = recordedHostdevs(driver.store.readStatus('vm'));
    assert.equal(rec.length, 1);
    assert.equal(rec[0]!.originalDriver, 'ixgbevf');

    await assert.rejects(driver.start('vm2'), {
      message: `Requested operation is not valid: PCI device ${VF0} is in use by driver QEMU, domain vm`,
    });
    assert.equal((await driver.getState('vm2')).state, 'shutoff');
  } finally {
    // A later process (another CLI call) does the destroy: only the status record tells it what to undo.
    await driverWorld(w).destroy('vm');
  }
  assert.ok(r.pid > 0);
  assert.equal(driverOf(w, VF0), 'ixgbevf');
  assert.deepEqual(w.ip.vfs[0], { vf: 0, address: '52:54:00:00:00:10', vlan: 0 });
  assert.deepEqual(recordedHostdevs(driver.store.readStatus('vm')), []);
  // Now vm2 may have it.
  await driver.start('vm2');
  assert.equal(driverOf(w, VF0), 'vfio-pci');
  await driver.destroy('vm2');
  assert.equal(driverOf(w, VF0), 'ixgbevf');
}));

test('driver: a start whose QEMU fails, and a QEMU that crashed, give the devices back', withWorld(async (w) => {
  const driver = driverWorld(w, { fail: new Set(['bad']) });
  await driver.store.defineConfig('bad', UUID, domainXml(netHostdev(VF0, { managed: 'yes' }), { name: 'bad' }));
  await assert.rejects(driver.start('bad'), (e: unknown) =>
    e instanceof Error && /^internal error: process exited while connecting to monitor: .*fake: vfio 0000:3b:02\.0: failed/s.test(e.message));
  assert.equal(driverOf(w, VF0), 'ixgbevf');
  assert.deepEqual(w.ip.vfs[0], { vf: 0, address: '52:54:00:00:00:10', vlan: 0 });
  assert.equal((await driver.getState('bad')).reason, 'failed');

  await driver.store.defineConfig('vm', UUID2, domainXml(plainHostdev(VF0), { uuid: UUID2 }));
  const r = await driver.start('vm');
  assert.equal(driverOf(w, VF0), 'vfio-pci');
  signalProcess(r.pid, 'SIGKILL');
  await waitGone(r.pid);
  const st = await driver.getState('vm'); // notices the crash and cleans up (lock free)
  assert.equal(st.state, 'shutoff');
  assert.equal((await driver.getState('vm')).reason, 'crashed');
  assert.equal(driverOf(w, VF0), 'ixgbevf');
}));

test('driver: a domain without PCI hostdevs starts and stops without touching the host', withWorld(async (w) => {
  const boom = () => {
    throw new Error('the host was touched');
  };
  const driver = driverWorld({ ...w, host: { sysfsRoot: '/nonexistent', write: boom, ipRunner: boom } });
  await driver.store.defineConfig('plain', UUID, domainXml("<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface>", { name: 'plain' }));
  await driver.start('plain');
  assert.equal('hostdevs' in (driver.store.readStatus('plain') ?? {}), false);
  await driver.destroy('plain');
  assert.equal((await driver.getState('plain')).reason, 'destroyed');
}));

/** Waits for a killed child to be reaped (its exit is seen through /proc). */
async function waitGone(pid: number): Promise<void> {
  const { waitForExit } = await import('../../src/qemu/driver/process.js');
  assert.ok(await waitForExit(pid, undefined, { timeoutMs: 5000, pollIntervalMs: 5 }));
}
