// A fake sysfs tree in a temp dir, shaped like the kernel's, for the host layer's tests:
//   PF   0000:3b:00.0  ixgbe    net/ens1f0   sriov_totalvfs 63, sriov_numvfs 2, PCIe config
//   VF0  0000:3b:02.0  ixgbevf  net/ens1f0v0 physfn -> PF, PCIe config
//   VF1  0000:3b:02.1  vfio-pci (override)   physfn -> PF, config cut to the 64-byte header
//   PCI  0000:00:05.0  no driver             conventional config (PM + MSI, no PCIe cap)
// plus /bus/pci/drivers/{ixgbe,ixgbevf,vfio-pci}, drivers_probe and kernel/iommu_groups.
// Writing a sysfs file does nothing by itself here; fakeKernel() returns a writer that also
// plays the kernel's part (moving `driver` links), at once, later, or never.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PF = '0000:3b:00.0';
export const VF0 = '0000:3b:02.0';
export const VF1 = '0000:3b:02.1';
export const CONVENTIONAL = '0000:00:05.0';

/** Config space with a capability chain: PM (0x40) -> MSI (0x50) [-> PCIe (0x70)]. */
export function configSpace(opts: { express: boolean; size?: number; vendor?: number; device?: number }): Buffer {
  const cfg = Buffer.alloc(opts.size ?? (opts.express ? 4096 : 256));
  cfg.writeUInt16LE(opts.vendor ?? 0x8086, 0);
  cfg.writeUInt16LE(opts.device ?? 0x10fb, 2);
  cfg[0x06] = 0x10; // status: capability list present
  cfg[0x0e] = 0x00; // header type 0
  cfg[0x34] = 0x40;
  cfg[0x40] = 0x01; // power management
  cfg[0x41] = 0x50;
  cfg[0x50] = 0x05; // MSI
  cfg[0x51] = opts.express ? 0x70 : 0x00;
  if (opts.express) cfg[0x70] = 0x10; // PCI Express, last
  return cfg;
}

interface DevSpec {
  addr: string;
  parent: string;
  vendor: string;
  device: string;
  class: string;
  driver?: string;
  override?: string;
  netdev?: string;
  mac?: string;
  iommuGroup: number;
  numaNode: number;
  config: Buffer;
}

export interface FakeSysfs {
  root: string;
  /** The directory of a device (the real one, not the bus/pci/devices link). */
  devDir(addr: string): string;
  /** Driver each device gets when probed without an override (the "native" one). */
  native: Record<string, string>;
  /** Netdev each device gets when its native driver binds it. */
  netdevOf: Record<string, { name: string; mac: string }>;
  cleanup(): void;
}

function writeDevice(root: string, d: DevSpec): void {
  const dir = path.join(root, 'devices', d.parent, d.addr);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'vendor'), `${d.vendor}\n`);
  writeFileSync(path.join(dir, 'device'), `${d.device}\n`);
  writeFileSync(path.join(dir, 'class'), `${d.class}\n`);
  writeFileSync(path.join(dir, 'numa_node'), `${d.numaNode}\n`);
  writeFileSync(path.join(dir, 'driver_override'), `${d.override ?? '(null)'}\n`);
  writeFileSync(path.join(dir, 'config'), d.config);
  mkdirSync(path.join(root, 'kernel', 'iommu_groups', String(d.iommuGroup), 'devices'), { recursive: true });
  symlinkSync(`../../../kernel/iommu_groups/${d.iommuGroup}`, path.join(dir, 'iommu_group'));
  if (d.driver) symlinkSync(`../../../bus/pci/drivers/${d.driver}`, path.join(dir, 'driver'));
  if (d.netdev) {
    mkdirSync(path.join(dir, 'net', d.netdev), { recursive: true });
    writeFileSync(path.join(dir, 'net', d.netdev, 'address'), `${d.mac}\n`);
  }
  symlinkSync(`../../../devices/${d.parent}/${d.addr}`, path.join(root, 'bus', 'pci', 'devices', d.addr));
}

/** The descriptor of a tree buildFakeSysfs made (e.g. in another process). */
export function describeFakeSysfs(root: string): FakeSysfs {
  const parents: Record<string, string> = { [PF]: 'pci0000:3a/0000:3a:00.0', [VF0]: 'pci0000:3a/0000:3a:00.0', [VF1]: 'pci0000:3a/0000:3a:00.0', [CONVENTIONAL]: 'pci0000:00' };
  return {
    root,
    devDir: (addr) => path.join(root, 'devices', parents[addr] ?? 'pci0000:3a', addr),
    native: { [PF]: 'ixgbe', [VF0]: 'ixgbevf', [VF1]: 'ixgbevf' },
    netdevOf: { [PF]: { name: 'ens1f0', mac: '3c:fd:fe:00:00:01' }, [VF0]: { name: 'ens1f0v0', mac: '52:54:00:00:00:10' },
      [VF1]: { name: 'ens1f0v1', mac: '52:54:00:00:00:11' } },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Builds the tree described at the top of this file in a new temp dir. */
export function buildFakeSysfs(opts: { drivers?: string[] } = {}): FakeSysfs {
  const root = mkdtempSync(path.join(tmpdir(), 'vf-sysfs-'));
  const pci = path.join(root, 'bus', 'pci');
  mkdirSync(path.join(pci, 'devices'), { recursive: true });
  for (const drv of opts.drivers ?? ['ixgbe', 'ixgbevf', 'vfio-pci']) {
    mkdirSync(path.join(pci, 'drivers', drv), { recursive: true });
    for (const f of ['bind', 'unbind', 'new_id', 'remove_id']) writeFileSync(path.join(pci, 'drivers', drv, f), '');
  }
  writeFileSync(path.join(pci, 'drivers_probe'), '');
  const net = { vendor: '0x8086', class: '0x020000', numaNode: 0, parent: 'pci0000:3a/0000:3a:00.0' };
  const specs: DevSpec[] = [
    { ...net, addr: PF, device: '0x10fb', driver: 'ixgbe', netdev: 'ens1f0', mac: '3c:fd:fe:00:00:01', iommuGroup: 40, config: configSpace({ express: true }) },
    { ...net, addr: VF0, device: '0x10ed', driver: 'ixgbevf', netdev: 'ens1f0v0', mac: '52:54:00:00:00:10', iommuGroup: 41,
      config: configSpace({ express: true, vendor: 0xffff, device: 0xffff }) },
    { ...net, addr: VF1, device: '0x10ed', driver: 'vfio-pci', override: 'vfio-pci', iommuGroup: 42,
      config: configSpace({ express: true, size: 64, vendor: 0xffff, device: 0xffff }) },
    { addr: CONVENTIONAL, parent: 'pci0000:00', vendor: '0x1234', device: '0x0001', class: '0x078000', numaNode: -1, iommuGroup: 5,
      config: configSpace({ express: false, vendor: 0x1234, device: 0x0001 }) },
  ];
  for (const d of specs) writeDevice(root, d);
  const fake = describeFakeSysfs(root);
  const pfDir = fake.devDir(PF);
  writeFileSync(path.join(pfDir, 'sriov_totalvfs'), '63\n');
  writeFileSync(path.join(pfDir, 'sriov_numvfs'), '2\n');
  [VF0, VF1].forEach((vf, i) => {
    symlinkSync(`../${vf}`, path.join(pfDir, `virtfn${i}`));
    symlinkSync(`../${PF}`, path.join(fake.devDir(vf), 'physfn'));
  });
  return fake;
}

export interface FakeKernelOptions {
  /** 'sync': the link moves during the write; 'deferred': a little later; 'stuck': never. */
  mode?: 'sync' | 'deferred' | 'stuck';
  /** Files whose write fails with this errno code, by basename (e.g. { unbind: 'EBUSY' }). */
  failWrites?: Record<string, string>;
}

export interface FakeKernel {
  write(file: string, value: string): void;
  /** Every write, as [path relative to the root, value]. */
  writes: [string, string][];
}

/** A sysfs writer that records each write and plays the kernel's part on the fake tree. */
export function fakeKernel(fake: FakeSysfs, opts: FakeKernelOptions = {}): FakeKernel {
  const mode = opts.mode ?? 'sync';
  const writes: [string, string][] = [];
  const drivers = path.join(fake.root, 'bus', 'pci', 'drivers');
  const override = (addr: string) => readFileSync(path.join(fake.devDir(addr), 'driver_override'), 'utf8').trim();
  const bind = (addr: string, drv: string) => {
    const dir = fake.devDir(addr);
    if (existsSync(path.join(dir, 'driver')) || !existsSync(path.join(drivers, drv))) return;
    const ov = override(addr);
    if (ov !== '(null)' && ov !== drv) return;
    symlinkSync(`../../../bus/pci/drivers/${drv}`, path.join(dir, 'driver'));
    const nd = fake.netdevOf[addr];
    if (nd && drv === fake.native[addr]) {
      mkdirSync(path.join(dir, 'net', nd.name), { recursive: true });
      writeFileSync(path.join(dir, 'net', nd.name, 'address'), `${nd.mac}\n`);
    }
  };
  const effect = (file: string, value: string): (() => void) | undefined => {
    const base = path.basename(file);
    const addr = value.trim();
    if (base === 'unbind') {
      return () => {
        const dir = fake.devDir(addr);
        rmSync(path.join(dir, 'driver'), { force: true });
        rmSync(path.join(dir, 'net'), { recursive: true, force: true });
      };
    }
    if (base === 'drivers_probe') {
      return () => {
        const ov = override(addr);
        bind(addr, ov !== '(null)' ? ov : fake.native[addr]);
      };
    }
    if (base === 'bind') return () => bind(addr, path.basename(path.dirname(file)));
    return undefined;
  };
  return {
    writes,
    write(file, value) {
      writes.push([path.relative(fake.root, file), value]);
      const errno = opts.failWrites?.[path.basename(file)];
      if (errno) throw Object.assign(new Error(`${errno}: fake write failure`), { code: errno });
      if (path.basename(file) === 'driver_override') {
        writeFileSync(file, `${value.trim() || '(null)'}\n`);
        return;
      }
      const act = effect(file, value);
      if (!act || mode === 'stuck') return;
      if (mode === 'sync') act();
      else setImmediate(act);
    },
  };
}
