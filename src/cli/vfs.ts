// `virt-failover vfs [--json]`: the host's SR-IOV physical functions and their VFs (address,
// PF netdev, VF index, driver, vfio-pci or not, MAC when known). Read-only: sysfs, plus
// `ip -j link show dev PF` for the MAC/VLAN the PF gives each VF.
import type { Command } from 'commander';
import { type CommandRunner, type SriovPf, type SriovVf, listSriov, readVfInfo } from '../host/index.js';
import { type CliIo, printJson } from './io.js';
import { renderTable } from './list.js';

export interface VfsVf extends SriovVf {
  /** The VF's MAC: what the PF set (ip link vfinfo), else its host netdev's. */
  mac?: string;
  vlan?: number;
}

export interface VfsPf extends Omit<SriovPf, 'vfs'> {
  vfs: VfsVf[];
}

export interface VfsResult {
  pfs: VfsPf[];
  /** What could not be read (e.g. ip(8) missing); the listing is still complete otherwise. */
  warnings: string[];
}

export interface VfsOptions {
  sysfsRoot?: string;
  runner?: CommandRunner;
  ipBinary?: string;
}

const ZERO_MAC = '00:00:00:00:00:00';

/** Gathers the listing: sysfs for the devices, the PF's vfinfo for MAC/VLAN. */
export async function collectVfs(opts: VfsOptions = {}): Promise<VfsResult> {
  const warnings: string[] = [];
  const pfs: VfsPf[] = [];
  for (const pf of listSriov({ sysfsRoot: opts.sysfsRoot })) {
    const ifname = pf.netdevs[0];
    let infos: Awaited<ReturnType<typeof readVfInfo>> = [];
    if (ifname && pf.vfs.length) {
      try {
        infos = await readVfInfo(ifname, { runner: opts.runner, ipBinary: opts.ipBinary });
      } catch (e) {
        warnings.push(`cannot read the VF settings of ${ifname}: ${(e as Error).message}`);
      }
    }
    const vfs = pf.vfs.map((vf): VfsVf => {
      const out: VfsVf = { ...vf };
      const info = infos.find((i) => i.vf === vf.index);
      const mac = info?.mac && info.mac !== ZERO_MAC ? info.mac : vf.netdevMac;
      if (mac) out.mac = mac;
      if (info?.vlan) out.vlan = info.vlan;
      return out;
    });
    pfs.push({ ...pf, vfs });
  }
  return { pfs, warnings };
}

export function renderVfsHuman(r: VfsResult): string {
  if (r.pfs.length === 0) return 'No SR-IOV device found.\n';
  // One block per PF (a header line, then its VFs as a table), blocks apart by a blank line.
  return r.pfs.map((pf) => {
    const names = [pf.netdevs.join(',') || '-', pf.driver ? `driver ${pf.driver}` : 'no driver'];
    const head = `PF ${pf.address} (${names.join(', ')}): ${pf.numVfs} of ${pf.totalVfs} VFs enabled\n`;
    if (pf.vfs.length === 0) return head;
    return head + renderTable(
      ['VF', 'Address', 'PF netdev', 'Driver', 'vfio', 'MAC', 'VLAN', 'Netdev'],
      pf.vfs.map((vf) => [
        String(vf.index),
        vf.address,
        pf.netdevs[0] ?? '-',
        vf.driver ?? '-',
        vf.vfio ? 'yes' : 'no',
        vf.mac ?? '-',
        vf.vlan !== undefined ? String(vf.vlan) : '-',
        vf.netdev ?? '-',
      ]),
    );
  }).join('\n');
}

export function registerVfs(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('vfs')
    .description('list SR-IOV physical functions and their VFs (address, PF netdev, index, driver, vfio-pci, MAC)')
    .action(async () => {
      const r = await collectVfs();
      if (io.json) {
        printJson(io, r);
        return;
      }
      for (const w of r.warnings) io.err(`warning: ${w}\n`);
      io.out(renderVfsHuman(r));
    });
}
