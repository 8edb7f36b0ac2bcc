// VF MAC/VLAN through the PF: the ip(8) argv, the vfinfo_list parser (a recorded
// `ip -j link show dev PF` in iproute2 6.x's format, tests/data/host/ip-link-vfinfo.json), and
// set-then-read-back through a fake runner.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  type CommandRunner,
  execFileRunner,
  parseVfInfoList,
  readVfInfo,
  setVfConfig,
  vfSetArgs,
  vfShowArgs,
} from '../../src/host/index.js';
import { InvalidArgError, OperationFailedError, SystemError } from '../../src/util/errors.js';
import { testDataDir } from '../helpers/paths.js';

const recorded = readFileSync(path.join(testDataDir, 'host', 'ip-link-vfinfo.json'), 'utf8');

const argvCases: { name: string; args: Parameters<typeof vfSetArgs>; want: string[] | typeof InvalidArgError }[] = [
  { name: 'mac and vlan', args: ['ens1f0', 0, { mac: '52:54:00:12:34:56', vlan: 42 }],
    want: ['link', 'set', 'dev', 'ens1f0', 'vf', '0', 'mac', '52:54:00:12:34:56', 'vlan', '42'] },
  { name: 'mac only, lower-cased', args: ['ens1f0', 7, { mac: '52:54:00:AB:CD:EF' }],
    want: ['link', 'set', 'dev', 'ens1f0', 'vf', '7', 'mac', '52:54:00:ab:cd:ef'] },
  { name: 'vlan 0 clears the tag', args: ['enp59s0f0np0', 1, { vlan: 0 }], want: ['link', 'set', 'dev', 'enp59s0f0np0', 'vf', '1', 'vlan', '0'] },
  { name: 'PF name that ip would take as an option', args: ['-all', 0, { vlan: 1 }], want: InvalidArgError },
  { name: 'PF name too long', args: ['a234567890123456', 0, { vlan: 1 }], want: InvalidArgError },
  { name: 'PF name with a slash', args: ['a/b', 0, { vlan: 1 }], want: InvalidArgError },
  { name: 'bad MAC', args: ['ens1f0', 0, { mac: '52:54:00:12:34' }], want: InvalidArgError },
  { name: 'multicast MAC', args: ['ens1f0', 0, { mac: '01:00:5e:00:00:01' }], want: InvalidArgError },
  { name: 'VLAN out of range', args: ['ens1f0', 0, { vlan: 4096 }], want: InvalidArgError },
  { name: 'negative index', args: ['ens1f0', -1, { vlan: 1 }], want: InvalidArgError },
  { name: 'nothing to set', args: ['ens1f0', 0, {}], want: InvalidArgError },
];
for (const c of argvCases) {
  test(`vfSetArgs: ${c.name}`, () => {
    if (Array.isArray(c.want)) assert.deepEqual(vfSetArgs(...c.args), c.want);
    else assert.throws(() => vfSetArgs(...c.args), c.want);
  });
}

test('vfShowArgs', () => {
  assert.deepEqual(vfShowArgs('ens1f0'), ['-j', 'link', 'show', 'dev', 'ens1f0']);
});

test('parseVfInfoList: the recorded vfinfo_list (vlan_list, empty entry = untagged)', () => {
  assert.deepEqual(parseVfInfoList(recorded, 'ens1f0'), [
    { vf: 0, mac: '52:54:00:12:34:56', vlan: 42, spoofchk: true, trust: false, linkState: 'auto' },
    { vf: 1, mac: '00:00:00:00:00:00', spoofchk: true, trust: false, linkState: 'auto' },
  ]);
});

test('parseVfInfoList: older layout (vlan/qos on the entry, "mac"), no list, bad JSON', () => {
  const old = JSON.stringify([{ ifname: 'eth2', vfinfo_list: [{ vf: 3, mac: '52:54:00:00:00:03', vlan: 7, qos: 2 }] }]);
  assert.deepEqual(parseVfInfoList(old, 'eth2'), [{ vf: 3, mac: '52:54:00:00:00:03', vlan: 7, qos: 2 }]);
  assert.deepEqual(parseVfInfoList('[{"ifname":"lo"}]', 'lo'), []);
  assert.throws(() => parseVfInfoList('not json', 'eth2'), OperationFailedError);
});

/** A fake ip(8): records each call; `link set` changes the state `-j link show` prints. */
function fakeIp(opts: { ignoreSet?: boolean } = {}) {
  const calls: [string, string[]][] = [];
  const state = JSON.parse(recorded) as { vfinfo_list: Record<string, unknown>[] }[];
  const runner: CommandRunner = async (file, args) => {
    calls.push([file, [...args]]);
    if (args[0] === 'link' && args[1] === 'set') {
      const vf = state[0].vfinfo_list.find((v) => v.vf === Number(args[5]))!;
      for (let i = 6; i < args.length && !opts.ignoreSet; i += 2) {
        if (args[i] === 'mac') vf.address = args[i + 1];
        if (args[i] === 'vlan') vf.vlan_list = [Number(args[i + 1]) ? { vlan: Number(args[i + 1]) } : {}];
      }
      return { stdout: '', stderr: '' };
    }
    return { stdout: JSON.stringify(state), stderr: '' };
  };
  return { calls, runner };
}

test('setVfConfig: one `ip link set`, then the read-back; returns the VF as the PF reports it', async () => {
  const ip = fakeIp();
  const info = await setVfConfig('ens1f0', 1, { mac: '52:54:00:00:00:11', vlan: 100 }, { runner: ip.runner });
  assert.deepEqual(ip.calls, [
    ['ip', ['link', 'set', 'dev', 'ens1f0', 'vf', '1', 'mac', '52:54:00:00:00:11', 'vlan', '100']],
    ['ip', ['-j', 'link', 'show', 'dev', 'ens1f0']],
  ]);
  assert.deepEqual(info, { vf: 1, mac: '52:54:00:00:00:11', vlan: 100, spoofchk: true, trust: false, linkState: 'auto' });
  assert.equal((await setVfConfig('ens1f0', 0, { vlan: 0 }, { runner: ip.runner, ipBinary: '/sbin/ip' })).vlan, undefined);
  assert.equal(ip.calls[2][0], '/sbin/ip');
});

test('setVfConfig: a setting that did not take is an error', async () => {
  const ip = fakeIp({ ignoreSet: true });
  await assert.rejects(setVfConfig('ens1f0', 1, { mac: '52:54:00:00:00:11' }, { runner: ip.runner }),
    { name: 'OperationFailedError', message: "operation failed: VF 1 of 'ens1f0' has MAC 00:00:00:00:00:00 after setting 52:54:00:00:00:11" });
  await assert.rejects(setVfConfig('ens1f0', 0, { vlan: 5 }, { runner: ip.runner }), /has VLAN 42 after setting 5/);
  await assert.rejects(setVfConfig('ens1f0', 9, { vlan: 5 }, { runner: ip.runner }), /reports no VF 9/);
});

test('ip failures are SystemErrors with the command line and ip\'s message', async () => {
  const failing: CommandRunner = async () => {
    throw Object.assign(new Error('Command failed'), { code: 2, stderr: 'RTNETLINK answers: Operation not permitted\n' });
  };
  await assert.rejects(setVfConfig('ens1f0', 0, { vlan: 5 }, { runner: failing }), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.message, "Failed to run 'ip link set dev ens1f0 vf 0 vlan 5': RTNETLINK answers: Operation not permitted");
    return true;
  });
  // The real runner (execFile, no shell) with a binary that does not exist.
  await assert.rejects(readVfInfo('ens1f0', { runner: execFileRunner, ipBinary: '/nonexistent/ip' }),
    { message: "Failed to run '/nonexistent/ip -j link show dev ens1f0': /nonexistent/ip: No such file or directory" });
});
