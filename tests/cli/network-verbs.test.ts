// The net-* and net-port-* verbs through the built CLI, as separate processes, on a fake sysfs tree
// (VIRT_FAILOVER_SYSFS_ROOT: PF ens1f0 with two VFs) and a temporary --state-dir. Exact virsh output,
// in order: each case sees what the ones before it did.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCliProcess } from '../helpers/cli.js';
import { CONVENTIONAL, type FakeSysfs, buildFakeSysfs } from '../helpers/fake-sysfs.js';

const POOL_UUID = '6a1d6c4e-1f0b-4d3a-9a52-0b0f8f6a2c01';
const PORT_A = '5d744f21-ba4a-4d6e-bdb2-30a35ff3207d';
const PORT_B = '5d744f21-ba4a-4d6e-bdb2-30a35ff3207e';
const PORT_C = '5d744f21-ba4a-4d6e-bdb2-30a35ff3207f';

let dir = '';
let fake: FakeSysfs;
const file = (name: string) => path.join(dir, name);

const poolXml = (inactive: boolean) => `<network>
  <name>sriov-pool</name>
  <uuid>${POOL_UUID}</uuid>
  <forward mode='hostdev' managed='yes'>
    <pf dev='ens1f0'/>
${inactive ? '' : `    <address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x0'/>
    <address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/>
`}  </forward>
</network>
`;
const portXml = (uuid: string, plug = '') => `<networkport>
  <uuid>${uuid}</uuid>
  <owner>
    <name>vm1</name>
    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>
  </owner>
  <mac address='52:54:00:7b:35:93'/>
${plug}</networkport>
`;
const plugOf = (fn: number) => `  <plug type='hostdev-pci' managed='yes'>
    <address domain='0x0000' bus='0x3b' slot='0x02' function='0x${fn}'/>
  </plug>
`;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-cli-net-'));
  fake = buildFakeSysfs();
  writeFileSync(file('pool.xml'), poolXml(true));
  writeFileSync(file('nat.xml'), "<network><name>default</name><forward mode='nat'/><ip address='192.168.122.1' netmask='255.255.255.0'/></network>\n");
  writeFileSync(file('not-vf.xml'), `<network><name>bad</name><forward mode='hostdev'><address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></forward></network>\n`);
  writeFileSync(file('no-pf.xml'), "<network><name>nopf</name><forward mode='hostdev'><pf dev='eth9'/></forward></network>\n");
  for (const u of [PORT_A, PORT_B, PORT_C]) writeFileSync(file(`${u}.xml`), portXml(u));
});
after(() => {
  fake.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) =>
  runCliProcess(['--state-dir', path.join(dir, 'state'), ...args], { env: { VIRT_FAILOVER_SYSFS_ROOT: fake.root } });

interface Case {
  name: string;
  args: () => string[];
  stdout: () => string;
  stderr?: () => string;
  code?: number;
}

const header = ' Name         State      Autostart   Persistent\n-------------------------------------------------\n';
const cases: Case[] = [
  { name: 'net-define', args: () => ['net-define', file('pool.xml')], stdout: () => `Network sriov-pool defined from ${file('pool.xml')}\n\n` },
  { name: 'net-define (nat)', args: () => ['net-define', file('nat.xml')], stdout: () => `Network default defined from ${file('nat.xml')}\n\n` },
  {
    name: 'net-define: a pool entry that is not a VF (checked in sysfs, under VIRT_FAILOVER_SYSFS_ROOT)',
    args: () => ['net-define', file('not-vf.xml')],
    stdout: () => '',
    stderr: () => `error: Failed to define network from ${file('not-vf.xml')}\nerror: unsupported configuration: device '${path.join(fake.root, 'bus/pci/devices', CONVENTIONAL)}' in network 'bad' is not an SR-IOV Virtual Function\n`,
    code: 1,
  },
  { name: 'net-list: active only (none)', args: () => ['net-list'], stdout: () => ' Name   State   Autostart   Persistent\n----------------------------------------\n\n' },
  {
    name: 'net-list --all',
    args: () => ['net-list', '--all'],
    stdout: () => header + ' default      inactive   no          yes\n sriov-pool   inactive   no          yes\n\n',
  },
  { name: 'net-start: the pool becomes the PF\'s VFs', args: () => ['net-start', 'sriov-pool'], stdout: () => 'Network sriov-pool started\n\n' },
  {
    name: 'net-start again',
    args: () => ['net-start', POOL_UUID],
    stdout: () => '',
    stderr: () => `error: Failed to start network ${POOL_UUID}\nerror: Requested operation is not valid: network is already active\n`,
    code: 1,
  },
  {
    name: 'net-start of a forward mode we do not run',
    args: () => ['net-start', 'default'],
    stdout: () => '',
    stderr: () => "error: Failed to start network default\nerror: Operation not supported: network 'default' has forward mode 'nat': virt-failover runs only hostdev networks (SR-IOV VF pools)\n",
    code: 1,
  },
  { name: 'net-dumpxml: live, with the VF pool', args: () => ['net-dumpxml', 'sriov-pool'], stdout: () => poolXml(false) },
  { name: 'net-dumpxml --inactive', args: () => ['net-dumpxml', '--inactive', 'sriov-pool'], stdout: () => poolXml(true) },
  { name: 'net-autostart', args: () => ['net-autostart', 'sriov-pool'], stdout: () => 'Network sriov-pool marked as autostarted\n\n' },
  { name: 'net-list: the active one', args: () => ['net-list'], stdout: () => ' Name         State    Autostart   Persistent\n-----------------------------------------------\n sriov-pool   active   yes         yes\n\n' },
  { name: 'net-port-create: a free VF', args: () => ['net-port-create', 'sriov-pool', file(`${PORT_B}.xml`)], stdout: () => `Network port ${PORT_B} created from ${file(`${PORT_B}.xml`)}\n\n` },
  { name: 'net-port-dumpxml', args: () => ['net-port-dumpxml', 'sriov-pool', PORT_B], stdout: () => portXml(PORT_B, plugOf(0)) },
  { name: 'net-port-create: the next VF', args: () => ['net-port-create', 'sriov-pool', file(`${PORT_A}.xml`)], stdout: () => `Network port ${PORT_A} created from ${file(`${PORT_A}.xml`)}\n\n` },
  { name: 'net-port-dumpxml (second)', args: () => ['net-port-dumpxml', 'sriov-pool', PORT_A], stdout: () => portXml(PORT_A, plugOf(1)) },
  {
    name: 'net-port-create: pool exhausted',
    args: () => ['net-port-create', 'sriov-pool', file(`${PORT_C}.xml`)],
    stdout: () => '',
    stderr: () => `error: Failed to create network from ${file(`${PORT_C}.xml`)}\nerror: internal error: network 'sriov-pool' requires exclusive access to interfaces, but none are available\n`,
    code: 1,
  },
  { name: 'net-port-list: sorted by UUID', args: () => ['net-port-list', 'sriov-pool'], stdout: () => ` UUID\n---------------------------------------\n ${PORT_A}\n ${PORT_B}\n\n` },
  { name: 'net-dumpxml: connections', args: () => ['net-dumpxml', 'sriov-pool'], stdout: () => poolXml(false).replace('<network>', "<network connections='2'>") },
  { name: 'net-port-delete', args: () => ['net-port-delete', 'sriov-pool', PORT_B], stdout: () => `Network port ${PORT_B} deleted\n\n` },
  {
    name: 'net-port-dumpxml of a deleted port',
    args: () => ['net-port-dumpxml', 'sriov-pool', PORT_B],
    stdout: () => '',
    stderr: () => `error: failed to get network port '${PORT_B}'\nerror: network port not found: Network port with UUID ${PORT_B} does not exist\n`,
    code: 1,
  },
  { name: 'net-port-create: the freed VF again', args: () => ['net-port-create', 'sriov-pool', file(`${PORT_C}.xml`)], stdout: () => `Network port ${PORT_C} created from ${file(`${PORT_C}.xml`)}\n\n` },
  { name: 'net-port-dumpxml (reused VF)', args: () => ['net-port-dumpxml', 'sriov-pool', PORT_C], stdout: () => portXml(PORT_C, plugOf(0)) },
  {
    name: 'unknown network',
    args: () => ['net-dumpxml', 'nope'],
    stdout: () => '',
    stderr: () => "error: failed to get network 'nope'\nerror: Network not found: no network with matching name 'nope'\n",
    code: 1,
  },
  { name: 'net-destroy', args: () => ['net-destroy', 'sriov-pool'], stdout: () => 'Network sriov-pool destroyed\n\n' },
  {
    name: 'net-destroy again',
    args: () => ['net-destroy', 'sriov-pool'],
    stdout: () => '',
    stderr: () => 'error: Failed to destroy network sriov-pool\nerror: Requested operation is not valid: network is not active\n',
    code: 1,
  },
  {
    name: 'net-port-list of an inactive network',
    args: () => ['net-port-list', 'sriov-pool'],
    stdout: () => '',
    stderr: () => "error: Requested operation is not valid: network 'sriov-pool' is not active\n",
    code: 1,
  },
  { name: 'net-autostart --disable', args: () => ['net-autostart', '--disable', 'sriov-pool'], stdout: () => 'Network sriov-pool unmarked as autostarted\n\n' },
  { name: 'net-undefine', args: () => ['net-undefine', 'default'], stdout: () => 'Network default has been undefined\n\n' },
  { name: 'net-define (a <pf> that is not there)', args: () => ['net-define', file('no-pf.xml')], stdout: () => `Network nopf defined from ${file('no-pf.xml')}\n\n` },
  {
    name: "net-start: no such PF (libvirt's message)",
    args: () => ['net-start', 'nopf'],
    stdout: () => '',
    stderr: () => 'error: Failed to start network nopf\nerror: internal error: Could not get Virtual functions on eth9\n',
    code: 1,
  },
  {
    name: 'net-list --all --json',
    args: () => ['net-list', '--all', '--json'],
    stdout: () => JSON.stringify([
      { name: 'nopf', uuid: '', active: false, persistent: true, autostart: false },
      { name: 'sriov-pool', uuid: POOL_UUID, active: false, persistent: true, autostart: false },
    ], null, 2) + '\n',
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const r = await cli(...c.args());
    const expected = c.stdout();
    if (c.name === 'net-list --all --json') {
      // nopf got a generated UUID at define: compare everything else.
      const got = JSON.parse(r.stdout) as { uuid: string }[];
      assert.match(got[0]!.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      got[0]!.uuid = '';
      assert.equal(JSON.stringify(got, null, 2) + '\n', expected);
    } else {
      assert.equal(r.stdout, expected);
    }
    assert.equal(r.stderr, c.stderr?.() ?? '');
    assert.equal(r.code, c.code ?? 0);
  });
}

test('vfs reads the tree VIRT_FAILOVER_SYSFS_ROOT names', async () => {
  const r = await runCliProcess(['vfs', '--json'], { env: { VIRT_FAILOVER_SYSFS_ROOT: fake.root } });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { pfs: { address: string; netdevs: string[]; vfs: { address: string; vfio: boolean }[] }[] };
  assert.deepEqual(out.pfs.map((p) => [p.address, p.netdevs, p.vfs.map((v) => [v.address, v.vfio])]), [
    ['0000:3b:00.0', ['ens1f0'], [['0000:3b:02.0', false], ['0000:3b:02.1', true]]],
  ]);
});
