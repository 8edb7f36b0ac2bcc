// A fake ip(8) for PF ens1f0 with VFs 0 and 1 whose state lives in a JSON file, so that several
// processes (concurrent starts) share it: `link set ... vf N mac M vlan V` changes it, `-j link show`
// prints it as iproute2 does. Calls are appended to the file too.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { CommandRunner } from '../../src/host/index.js';

export interface FakeIpState {
  vfs: { vf: number; address: string; vlan: number }[];
  calls: string[];
}

export function initFakeIp(file: string): void {
  const state: FakeIpState = {
    vfs: [{ vf: 0, address: '00:00:00:00:00:00', vlan: 0 }, { vf: 1, address: '00:00:00:00:00:00', vlan: 7 }],
    calls: [],
  };
  writeFileSync(file, JSON.stringify(state));
}

export function readFakeIp(file: string): FakeIpState {
  return JSON.parse(readFileSync(file, 'utf8')) as FakeIpState;
}

/** The runner; callers serialise through the hostdev lock, as the real driver does. */
export function fileIpRunner(file: string): CommandRunner {
  return async (bin, args) => {
    if (!existsSync(file)) initFakeIp(file);
    const state = readFakeIp(file);
    state.calls.push([bin, ...args].join(' '));
    let stdout = '';
    if (args[0] === 'link' && args[1] === 'set') {
      const vf = state.vfs.find((v) => v.vf === Number(args[5]));
      if (!vf) {
        writeFileSync(file, JSON.stringify(state));
        throw Object.assign(new Error('exit 2'), { stderr: 'RTNETLINK answers: Invalid argument\n' });
      }
      if (args.includes('mac')) vf.address = args[args.indexOf('mac') + 1]!;
      if (args.includes('vlan')) vf.vlan = Number(args[args.indexOf('vlan') + 1]);
    } else {
      const list = state.vfs.map((v) => ({ vf: v.vf, address: v.address, vlan_list: [v.vlan ? { vlan: v.vlan } : {}] }));
      stdout = JSON.stringify([{ ifname: 'ens1f0', vfinfo_list: list }]);
    }
    writeFileSync(file, JSON.stringify(state));
    return { stdout, stderr: '' };
  };
}
