// SR-IOV VF pools (hostdev networks) through the driver, on the fake sysfs tree (PF ens1f0 with VF0 on
// ixgbevf and VF1 on vfio-pci), its fake kernel and a fake ip(8), with a fake QEMU: a domain start
// allocates a port (a free VF), prepares the VF and records the port; destroy, a crash and a failed
// start release it; an exhausted pool fails with libvirt's message; two starts in two processes at
// once get different VFs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseNetworkPortXml } from '../../src/conf/network/index.js';
import { readPciDevice } from '../../src/host/index.js';
import type { NetworkResolver } from '../../src/qemu/command/index.js';
import { type QemuDriver, getPortXml, listPorts, recordedPorts, waitForExit } from '../../src/qemu/driver/index.js';
import { fileIpRunner, initFakeIp, readFakeIp } from '../helpers/fake-ip.js';
import { fakeQemuDriver } from '../helpers/fake-qemu-driver.js';
import { type FakeSysfs, VF0, VF1, buildFakeSysfs, fakeKernel } from '../helpers/fake-sysfs.js';
import { signalProcess } from '../../src/util/proc.js';

const POOL = `<network>
  <name>sriov-pool</name>
  <forward mode='hostdev' managed='yes'>
    <pf dev='ens1f0'/>
  </forward>
</network>
`;

const uuidOf = (i: number) => `3d4c5b6a-0f1e-4d2c-8b3a-29180706a5${i.toString(16).padStart(2, '0')}`;

/** A failover pair: virtio standby (user networking) + a VF from the pool as the transient primary. */
function pairDomain(name: string, i: number, extra = ''): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <uuid>${uuidOf(i)}</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <interface type='user'><mac address='52:54:00:aa:bb:${i.toString(16).padStart(2, '0')}'/><model type='virtio'/><teaming type='persistent'/><alias name='ua-standby0'/></interface>
    <interface type='network'><mac address='52:54:00:aa:bb:${i.toString(16).padStart(2, '0')}'/><source network='sriov-pool'/>${extra}<teaming type='transient' persistent='ua-standby0'/></interface>
  </devices>
</domain>
`;
}

interface World {
  fake: FakeSysfs;
  dir: string;
  ipFile: string;
  host: Parameters<typeof fakeQemuDriver>[0]['host'];
  /** A new driver instance each time: like another CLI process, it knows only the files. */
  driver(opts?: { fail?: Set<string>; onBuild?: (o: { networks?: NetworkResolver }) => void }): QemuDriver;
}

function withWorld(fn: (w: World) => Promise<void>): () => Promise<void> {
  return async () => {
    const fake = buildFakeSysfs();
    const dir = mkdtempSync(path.join(tmpdir(), 'vf-pool-'));
    const ipFile = path.join(dir, 'ip.json');
    initFakeIp(ipFile);
    const host = { sysfsRoot: fake.root, write: fakeKernel(fake).write, ipRunner: fileIpRunner(ipFile), timeoutMs: 5000, pollIntervalMs: 1 };
    const w: World = {
      fake, dir, ipFile, host,
      driver: (o = {}) => fakeQemuDriver({ dir, host, ...(o.fail ? { fail: o.fail } : {}), ...(o.onBuild ? { onBuild: o.onBuild } : {}) }),
    };
    const d = w.driver();
    writeFileSync(path.join(dir, 'pool.xml'), POOL);
    await d.networks.define(POOL);
    await d.networks.start('sriov-pool');
    try {
      await fn(w);
    } finally {
      // No fake QEMU outlives the test.
      const last = w.driver();
      for (const s of await last.list()) if (s.active) await last.destroy(s.name).catch(() => undefined);
      fake.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const driverOf = (w: World, addr: string) => readPciDevice(addr, { sysfsRoot: w.fake.root }).driver;

/** The VF (host PCI address) each of the domain's ports holds. */
function vfsOf(d: QemuDriver, name: string): string[] {
  return recordedPorts(d.store.readStatus(name)).map((p) => {
    const plug = parseNetworkPortXml(getPortXml(d.networks, p.network, p.uuid)).plug;
    assert.equal(plug.type, 'hostdev-pci');
    const a = (plug as { address: { domain: number; bus: number; slot: number; function: number } }).address;
    return `${a.domain.toString(16).padStart(4, '0')}:${a.bus.toString(16).padStart(2, '0')}:${a.slot.toString(16).padStart(2, '0')}.${a.function}`;
  });
}

test('start allocates a free VF of the pool, binds it to vfio-pci, sets MAC/VLAN via the PF, records the port; destroy releases it', withWorld(async (w) => {
  let resolver: NetworkResolver | undefined;
  const d = w.driver({ onBuild: (o) => (resolver = o.networks) });
  await d.store.defineConfig('vm1', uuidOf(1), pairDomain('vm1', 1, "<vlan><tag id='100'/></vlan>"));
  await d.start('vm1');
  assert.deepEqual(vfsOf(d, 'vm1'), [VF0], 'the first VF of the pool (bindable: ixgbevf, managed)');
  assert.equal(driverOf(w, VF0), 'vfio-pci');
  assert.deepEqual(readFakeIp(w.ipFile).vfs[0], { vf: 0, address: '52:54:00:aa:bb:01', vlan: 100 });
  const [port] = recordedPorts(d.store.readStatus('vm1'));
  assert.deepEqual(listPorts(d.networks, 'sriov-pool'), [port!.uuid]);
  const portXml = parseNetworkPortXml(getPortXml(d.networks, 'sriov-pool', port!.uuid));
  assert.deepEqual([portXml.owner, portXml.mac, portXml.plug.type], [{ name: 'vm1', uuid: uuidOf(1) }, '52:54:00:aa:bb:01', 'hostdev-pci']);
  assert.match(d.store.readLiveXml('vm1') ?? '', new RegExp(`<source network='sriov-pool' portid='${port!.uuid}'/>`));
  assert.match(d.networks.getXml('sriov-pool'), /^<network connections='1'>/);
  // The command line is built from the port: the interface is a vfio-pci hostdev on that VF.
  assert.equal(resolver?.resolveType('sriov-pool'), 'hostdev');
  assert.deepEqual(resolver?.allocate('sriov-pool').hostdev, { address: { type: 'pci', domain: 0, bus: 0x3b, slot: 2, function: 0 }, managed: true });

  // Its VF cannot be in a second QEMU on this host: local migration is refused before anything starts.
  await assert.rejects(d.migrateLocal('vm1'), {
    message: `Operation not supported: local migration of a domain with a PCI passthrough device is not possible: source and destination would need the same device ${VF0}; migrate to another host`,
  });

  await w.driver().destroy('vm1');
  assert.deepEqual(listPorts(d.networks, 'sriov-pool'), []);
  assert.deepEqual(recordedPorts(d.store.readStatus('vm1')), []);
  assert.equal(driverOf(w, VF0), 'ixgbevf');
  assert.deepEqual(readFakeIp(w.ipFile).vfs[0], { vf: 0, address: '52:54:00:00:00:10', vlan: 0 });
}));

test("an exhausted pool fails with libvirt's message and leaves nothing behind; a stop frees a VF again", withWorld(async (w) => {
  const d = w.driver();
  for (const i of [1, 2, 3]) await d.store.defineConfig(`vm${i}`, uuidOf(i), pairDomain(`vm${i}`, i));
  await d.start('vm1');
  await d.start('vm2');
  assert.deepEqual([...vfsOf(d, 'vm1'), ...vfsOf(d, 'vm2')], [VF0, VF1]);
  await assert.rejects(w.driver().start('vm3'), {
    name: 'InternalError',
    message: "internal error: network 'sriov-pool' requires exclusive access to interfaces, but none are available",
  });
  assert.equal((await d.getState('vm3')).state, 'shutoff');
  assert.deepEqual(recordedPorts(d.store.readStatus('vm3')), []);
  assert.equal(listPorts(d.networks, 'sriov-pool').length, 2);
  await w.driver().destroy('vm1');
  await w.driver().start('vm3');
  assert.deepEqual(vfsOf(d, 'vm3'), [VF0]);
}));

test('a crashed QEMU and a failed start give the port (and the VF) back', withWorld(async (w) => {
  const d = w.driver({ fail: new Set(['bad']) });
  await d.store.defineConfig('bad', uuidOf(9), pairDomain('bad', 9));
  await assert.rejects(d.start('bad'), { message: /^internal error: process exited while connecting to monitor: .*fake: vfio/ });
  assert.deepEqual(listPorts(d.networks, 'sriov-pool'), []);
  assert.equal(driverOf(w, VF0), 'ixgbevf');
  assert.equal((await d.getState('bad')).reason, 'failed');

  await d.store.defineConfig('vm1', uuidOf(1), pairDomain('vm1', 1));
  const r = await d.start('vm1');
  assert.equal(listPorts(d.networks, 'sriov-pool').length, 1);
  signalProcess(r.pid, 'SIGKILL');
  assert.ok(await waitForExit(r.pid, undefined, { timeoutMs: 5000, pollIntervalMs: 5 }));
  assert.equal((await w.driver().getState('vm1')).reason, 'crashed'); // notices it, cleans up
  assert.deepEqual(listPorts(d.networks, 'sriov-pool'), []);
  assert.equal(driverOf(w, VF0), 'ixgbevf');
}));

test('a VF another domain holds as a plain <hostdev> is not handed out', withWorld(async (w) => {
  const d = w.driver();
  const hostdev = `<hostdev mode='subsystem' type='pci' managed='yes'><source><address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x0'/></source></hostdev>`;
  await d.store.defineConfig('holder', uuidOf(8), pairDomain('holder', 8).replace(/<interface type='network'>.*<\/interface>/, hostdev));
  await d.store.defineConfig('vm1', uuidOf(1), pairDomain('vm1', 1));
  await d.start('holder');
  await d.start('vm1');
  assert.deepEqual(vfsOf(d, 'vm1'), [VF1]);
}));

test('a network that is not active, or missing: libvirt\'s messages, and the domain does not start', withWorld(async (w) => {
  const d = w.driver();
  await d.store.defineConfig('vm1', uuidOf(1), pairDomain('vm1', 1));
  await d.store.defineConfig('vm2', uuidOf(2), pairDomain('vm2', 2).replace("network='sriov-pool'", "network='nope'"));
  await d.networks.destroy('sriov-pool');
  await assert.rejects(d.start('vm1'), { message: "Requested operation is not valid: network 'sriov-pool' is not active" });
  await assert.rejects(d.start('vm2'), { message: "Network not found: no network with matching name 'nope'" });
  assert.equal(driverOf(w, VF0), 'ixgbevf');
}));

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'pool-start-child.js');

interface ChildResult {
  ok: boolean;
  message?: string;
  ports?: { network: string; uuid: string }[];
}

test('two starts in two processes at once get different VFs (the network lock serialises allocation)', withWorld(async (w) => {
  const d = w.driver();
  await d.store.defineConfig('vm1', uuidOf(1), pairDomain('vm1', 1));
  await d.store.defineConfig('vm2', uuidOf(2), pairDomain('vm2', 2));
  const children = ['vm1', 'vm2'].map((name) => spawn(process.execPath, [childScript, w.dir, w.fake.root, w.ipFile, name], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = children.map((c) => createInterface({ input: c.stdout! })[Symbol.asyncIterator]());
  for (const l of lines) assert.equal((await l.next()).value, 'ready');
  for (const c of children) c.stdin!.end('go\n'); // both start now
  const results = await Promise.all(lines.map(async (l) => JSON.parse((await l.next()).value as string) as ChildResult));
  await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(undefined) : c.once('exit', resolve)))));
  assert.deepEqual(results.map((r) => [r.ok, r.message]), [[true, undefined], [true, undefined]]);
  const vfs = [...vfsOf(d, 'vm1'), ...vfsOf(d, 'vm2')];
  assert.deepEqual([...vfs].sort(), [VF0, VF1], `each got its own VF: ${vfs.join(', ')}`);
  assert.equal(driverOf(w, VF0), 'vfio-pci');
  assert.equal(listPorts(d.networks, 'sriov-pool').length, 2);
}));
