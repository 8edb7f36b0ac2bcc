// A VF's MAC and VLAN, set through its PF the way libvirt does for <interface type='hostdev'>
// (the guest cannot be trusted to pick them): `ip link set dev PF vf N mac MAC [vlan V]`,
// read back with `ip -j link show dev PF` (its vfinfo_list). Commands run with execFile and
// an argument array, through a runner tests replace. Also: the post-parse PCIe question.
import { execFile } from 'node:child_process';
import { InvalidArgError, OperationFailedError, SystemError } from '../util/errors.js';
import { type HostPciAddr, type SysfsOptions, readPciIsExpress } from './sysfs-pci.js';

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args` (no shell); rejects with the process error (code, stderr). */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<CommandOutput>;

export const execFileRunner: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: 'utf8', timeout: 10_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });

export interface VfConfigOptions {
  runner?: CommandRunner;
  /** The ip(8) binary (default: `ip` from PATH). */
  ipBinary?: string;
}

export interface VfNetConfig {
  /** The MAC the VF gets ("52:54:00:aa:bb:01"). */
  mac?: string;
  /** 802.1Q tag; 0 clears it (libvirt sets 0 when the interface has no <vlan>). */
  vlan?: number;
}

/** One entry of the PF's vfinfo_list. */
export interface VfLinkInfo {
  vf: number;
  /** Lower case; 00:00:00:00:00:00 means none was set. */
  mac?: string;
  /** Absent or 0: untagged. */
  vlan?: number;
  qos?: number;
  spoofchk?: boolean;
  trust?: boolean;
  linkState?: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
// An interface name as the kernel accepts it (dev_valid_name), and not an ip(8) option.
const IFNAME_RE = /^[^\s/:-][^\s/:]{0,14}$/;

function checkPf(pf: string): void {
  if (!IFNAME_RE.test(pf) || pf === '.' || pf === '..') throw new InvalidArgError(`'${pf}' is not a network interface name`);
}

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgError(`'${index}' is not a VF index`);
}

/** The argv (after the binary) of `ip link set dev PF vf N mac MAC [vlan V]`. */
export function vfSetArgs(pf: string, index: number, cfg: VfNetConfig): string[] {
  checkPf(pf);
  checkIndex(index);
  if (cfg.mac === undefined && cfg.vlan === undefined) throw new InvalidArgError('nothing to set on the VF: give a MAC or a VLAN');
  const args = ['link', 'set', 'dev', pf, 'vf', String(index)];
  if (cfg.mac !== undefined) {
    if (!MAC_RE.test(cfg.mac)) throw new InvalidArgError(`'${cfg.mac}' is not a MAC address`);
    const first = Number.parseInt(cfg.mac.slice(0, 2), 16);
    if (first & 1) throw new InvalidArgError(`'${cfg.mac}' is a multicast MAC address`);
    args.push('mac', cfg.mac.toLowerCase());
  }
  if (cfg.vlan !== undefined) {
    if (!Number.isInteger(cfg.vlan) || cfg.vlan < 0 || cfg.vlan > 4095) throw new InvalidArgError(`'${cfg.vlan}' is not a VLAN id (0-4095)`);
    args.push('vlan', String(cfg.vlan));
  }
  return args;
}

/** The argv (after the binary) of the read-back. */
export function vfShowArgs(pf: string): string[] {
  checkPf(pf);
  return ['-j', 'link', 'show', 'dev', pf];
}

type Json = Record<string, unknown>;

function vlanOf(e: Json): { vlan?: number; qos?: number } {
  // Newer kernels report a vlan_list (one entry for VFs); older ones vlan/qos directly.
  const list = Array.isArray(e.vlan_list) ? (e.vlan_list as Json[]) : [e];
  const first = list[0] ?? {};
  const out: { vlan?: number; qos?: number } = {};
  if (typeof first.vlan === 'number' && first.vlan !== 0) out.vlan = first.vlan;
  if (typeof first.qos === 'number' && first.qos !== 0) out.qos = first.qos;
  return out;
}

/** The vfinfo_list of `ip -j link show dev PF` output (empty when the PF reports no VFs). */
export function parseVfInfoList(json: string, pf?: string): VfLinkInfo[] {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new OperationFailedError(`cannot parse the output of 'ip -j link show${pf ? ` dev ${pf}` : ''}': ${(e as Error).message}`);
  }
  const links = Array.isArray(data) ? (data as Json[]) : [];
  const link = pf === undefined ? links[0] : links.find((l) => l?.ifname === pf) ?? links[0];
  const list = link && Array.isArray(link.vfinfo_list) ? (link.vfinfo_list as Json[]) : [];
  const out: VfLinkInfo[] = [];
  for (const e of list) {
    if (typeof e?.vf !== 'number') continue;
    const info: VfLinkInfo = { vf: e.vf };
    // iproute2 names it "address" ("mac" in some older releases).
    const mac = typeof e.address === 'string' ? e.address : typeof e.mac === 'string' ? e.mac : undefined;
    if (mac) info.mac = mac.toLowerCase();
    Object.assign(info, vlanOf(e));
    if (typeof e.spoofchk === 'boolean') info.spoofchk = e.spoofchk;
    if (typeof e.trust === 'boolean') info.trust = e.trust;
    if (typeof e.link_state === 'string') info.linkState = e.link_state;
    out.push(info);
  }
  return out.sort((a, b) => a.vf - b.vf);
}

function commandLine(bin: string, args: readonly string[]): string {
  return [bin, ...args].join(' ');
}

async function runIp(args: string[], opts: VfConfigOptions): Promise<string> {
  const bin = opts.ipBinary ?? 'ip';
  try {
    return (await (opts.runner ?? execFileRunner)(bin, args)).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    const why = err.code === 'ENOENT' ? `${bin}: No such file or directory` : (err.stderr?.trim() || err.message);
    throw new SystemError(`Failed to run '${commandLine(bin, args)}': ${why}`, { cause: e });
  }
}

/** What the PF says about its VFs now. */
export async function readVfInfo(pf: string, opts: VfConfigOptions = {}): Promise<VfLinkInfo[]> {
  return parseVfInfoList(await runIp(vfShowArgs(pf), opts), pf);
}

/**
 * Sets a VF's MAC and/or VLAN through its PF, then reads the PF's view back and checks that it
 * took (OperationFailedError when not). Returns the VF's entry as read back.
 */
export async function setVfConfig(pf: string, index: number, cfg: VfNetConfig, opts: VfConfigOptions = {}): Promise<VfLinkInfo> {
  await runIp(vfSetArgs(pf, index, cfg), opts);
  const info = (await readVfInfo(pf, opts)).find((v) => v.vf === index);
  if (!info) throw new OperationFailedError(`PF '${pf}' reports no VF ${index} after setting it`);
  if (cfg.mac !== undefined && info.mac !== cfg.mac.toLowerCase()) {
    throw new OperationFailedError(`VF ${index} of '${pf}' has MAC ${info.mac ?? '(none)'} after setting ${cfg.mac.toLowerCase()}`);
  }
  if (cfg.vlan !== undefined && (info.vlan ?? 0) !== cfg.vlan) {
    throw new OperationFailedError(`VF ${index} of '${pf}' has VLAN ${info.vlan ?? 0} after setting ${cfg.vlan}`);
  }
  return info;
}

/**
 * For post-parse (`hostPciIsExpress`): whether a host PCI device is PCI Express, from its
 * config space. Undefined (post-parse then assumes Express, as libvirt does) when the device
 * is missing or its capability list cannot be read (not root: 64 bytes only).
 */
export function hostPciIsExpress(addr: HostPciAddr, opts: SysfsOptions = {}): boolean | undefined {
  return readPciIsExpress(addr, opts);
}
