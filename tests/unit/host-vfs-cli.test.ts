// `virt-failover vfs`: the listing gathered from a fake sysfs tree and a fake ip(8), its human
// rendering, and the verb on this machine (no SR-IOV hardware: says so, exit 0).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { collectVfs, renderVfsHuman } from '../../src/cli/vfs.js';
import { runCli } from '../../src/cli/main.js';
import { type CommandRunner, listSriov } from '../../src/host/index.js';
import { PF, VF0, VF1, buildFakeSysfs } from '../helpers/fake-sysfs.js';
import { testDataDir } from '../helpers/paths.js';

const fake = buildFakeSysfs();
after(() => fake.cleanup());
const recorded = readFileSync(path.join(testDataDir, 'host', 'ip-link-vfinfo.json'), 'utf8');

test('collectVfs: MAC and VLAN from the PF (vfinfo), VFs from sysfs', async () => {
  const calls: string[][] = [];
  const runner: CommandRunner = async (_f, args) => {
    calls.push([...args]);
    return { stdout: recorded, stderr: '' };
  };
  const r = await collectVfs({ sysfsRoot: fake.root, runner });
  assert.deepEqual(calls, [['-j', 'link', 'show', 'dev', 'ens1f0']]);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.pfs.length, 1);
  assert.equal(r.pfs[0].address, PF);
  const [vf0, vf1] = r.pfs[0].vfs;
  assert.deepEqual([vf0.address, vf0.mac, vf0.vlan, vf0.vfio], [VF0, '52:54:00:12:34:56', 42, false]);
  assert.deepEqual([vf1.address, vf1.mac, vf1.vlan, vf1.vfio], [VF1, undefined, undefined, true], 'zero MAC = unknown');
});

test('collectVfs: without ip(8) the listing still comes, with the netdev MAC and a warning', async () => {
  const r = await collectVfs({ sysfsRoot: fake.root, ipBinary: '/nonexistent/ip' });
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /^cannot read the VF settings of ens1f0: Failed to run/);
  assert.equal(r.pfs[0].vfs[0].mac, '52:54:00:00:00:10');
});

test('renderVfsHuman: one header line per PF, one row per VF', async () => {
  const runner: CommandRunner = async () => ({ stdout: recorded, stderr: '' });
  const text = renderVfsHuman(await collectVfs({ sysfsRoot: fake.root, runner }));
  const lines = text.split('\n');
  assert.equal(lines[0], `PF ${PF} (ens1f0, driver ixgbe): 2 of 63 VFs enabled`);
  assert.match(lines[1], /^ VF +Address +PF netdev +Driver +vfio +MAC +VLAN +Netdev$/);
  assert.match(lines[3], new RegExp(`^ 0 +${VF0} +ens1f0 +ixgbevf +no +52:54:00:12:34:56 +42 +ens1f0v0$`));
  assert.match(lines[4], new RegExp(`^ 1 +${VF1} +ens1f0 +vfio-pci +yes +- +- +-$`));
  assert.equal(renderVfsHuman({ pfs: [], warnings: [] }), 'No SR-IOV device found.\n');
});

test('virt-failover vfs on this machine', async (t) => {
  if (listSriov().length > 0) {
    t.skip('this host has SR-IOV devices');
    return;
  }
  let out = '';
  let err = '';
  const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
  assert.equal(await runCli(['vfs'], io), 0);
  assert.equal(out, 'No SR-IOV device found.\n');
  assert.equal(err, '');
  out = '';
  assert.equal(await runCli(['vfs', '--json'], io), 0);
  assert.deepEqual(JSON.parse(out), { pfs: [], warnings: [] });
});
