// A failover test VM for the migration e2e tests: the device layout of shared/notes/qemu-failover-e2e.md §3
// (standby virtio-net-pci failover=on on a pcie-root-port, e1000e primary with failover_pair_id, the
// same MAC and romfile=, -netdev user), the test guest on a GuestConsole, QMP through Monitor.
// The source is started with -S so FAILOVER_NEGOTIATED is recorded from the first instruction on.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import type { Accel } from '../../src/testbed/accel.js';
import { GuestConsole, guestKernelArgs, type ConsoleLine, type GuestImage, type GuestMode } from '../../src/testbed/guest-image.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';
import { processDestinationLauncher, type ProcessDestination } from '../../src/qemu/migration/migration.js';
import { Monitor } from '../../src/qemu/monitor/monitor.js';
import { waitForSocket } from '../../src/qemu/monitor/socket.js';

export const QEMU = process.env.VIRT_FAILOVER_QEMU || 'qemu-system-x86_64';
export const PAIR = { id: 'primary0', standbyId: 'standby0' } as const;
const MAC = '52:54:00:aa:bb:cc';

/** ok: as in the notes; pcie0: primary on pcie.0 (never plugged); mac-mismatch: primary MAC differs. */
export type PairVariant = 'ok' | 'pcie0' | 'mac-mismatch';

export interface VmSpec {
  image: GuestImage;
  accel: Accel;
  mode: GuestMode;
  variant?: PairVariant;
  memMb?: number;
}

/** The argv shared by source and destination (no monitor, no -S, no -incoming). */
export function failoverVmArgs(spec: VmSpec, name: string, consoleArgs: string[]): string[] {
  const variant = spec.variant ?? 'ok';
  const primaryBus = variant === 'pcie0' ? 'bus=pcie.0,addr=0x4' : 'bus=rp2';
  const primaryMac = variant === 'mac-mismatch' ? '52:54:00:aa:bb:dd' : MAC;
  return [
    '-name', name, '-machine', 'q35', '-accel', spec.accel, '-cpu', spec.accel === 'kvm' ? 'host' : 'qemu64',
    '-m', String(spec.memMb ?? 512), '-smp', '1', '-nodefaults', '-display', 'none', '-no-user-config',
    '-kernel', spec.image.kernel, '-initrd', spec.image.initrd, '-append', guestKernelArgs(spec.mode),
    ...consoleArgs,
    '-device', 'pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2',
    '-device', 'pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x3',
    '-netdev', 'user,id=hostnet0',
    '-device', `virtio-net-pci,netdev=hostnet0,id=${PAIR.standbyId},mac=${MAC},failover=on,bus=rp1`,
    '-netdev', 'user,id=hostnet1',
    '-device', `e1000e,netdev=hostnet1,id=${PAIR.id},failover_pair_id=${PAIR.standbyId},mac=${primaryMac},${primaryBus},romfile=`,
  ];
}

export interface Vm {
  name: string;
  spec: VmSpec;
  child: ChildProcess;
  console: GuestConsole;
  monitor: Monitor;
  /** Standby ids seen in FAILOVER_NEGOTIATED since start. */
  negotiated: Set<string>;
  exited: Promise<void>;
  alive(): boolean;
  stderr(): string;
}

export interface StartedDestination {
  handle: ProcessDestination;
  console: GuestConsole;
}

/** Owns every QEMU and console a test file starts; dispose() in after(). */
export class VmPool {
  readonly vms: Vm[] = [];
  readonly destinations: StartedDestination[] = [];
  readonly consoles: GuestConsole[] = [];
  #n = 0;
  constructor(readonly dir: string) {}

  async boot(spec: VmSpec, name: string): Promise<Vm> {
    const con = await GuestConsole.listen(path.join(this.dir, `${name}.serial`));
    this.consoles.push(con);
    const qmpPath = path.join(this.dir, `${name}.qmp`);
    const args = [...failoverVmArgs(spec, name, con.qemuArgs()), '-S', '-qmp', `unix:${qmpPath},server=on,wait=off`];
    const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const alive = (): boolean => child.exitCode === null && child.signalCode === null;
    const vm: Partial<Vm> = { name, spec, child, console: con, exited, alive, stderr: () => stderr, negotiated: new Set() };
    this.vms.push(vm as Vm);
    const died = new AbortController();
    void exited.then(() => died.abort(new Error(`QEMU ${name} exited: ${stderr}`)));
    await waitForSocket(qmpPath, { timeoutMs: 20_000, signal: died.signal });
    await chmod(qmpPath, 0o600);
    const monitor = await Monitor.connect(qmpPath, { signal: died.signal });
    vm.monitor = monitor;
    const negotiated = monitor.events(['FAILOVER_NEGOTIATED']);
    void (async () => {
      try {
        for await (const e of negotiated) vm.negotiated?.add(String(e.data['device-id']));
      } catch {
        // monitor gone
      }
    })();
    await monitor.execute('cont');
    return vm as Vm;
  }

  /** A launcher for destinations of `vm`, each with its own guest console; all are killed by dispose(). */
  destinationFor(vm: Vm): { start(o?: { signal?: AbortSignal }): Promise<ProcessDestination> } {
    return {
      start: async (o) => {
        const name = `${vm.name}-dst${++this.#n}`;
        const con = await GuestConsole.listen(path.join(this.dir, `${name}.serial`));
        this.consoles.push(con);
        const handle = await processDestinationLauncher({
          binary: QEMU,
          args: failoverVmArgs(vm.spec, name, con.qemuArgs()),
          runtimeDir: this.dir,
        }).start(o);
        this.destinations.push({ handle, console: con });
        return handle;
      },
    };
  }

  async dispose(): Promise<void> {
    for (const vm of this.vms) {
      if (vm.alive()) vm.child.kill('SIGKILL');
      await vm.exited;
      await vm.monitor?.close();
    }
    for (const d of this.destinations) await d.handle.kill();
    for (const c of this.consoles) await c.close();
  }
}

/** Waits for a guest console line, failing early (with QEMU's stderr and the last lines) if QEMU exits. */
export async function expectLine(
  con: GuestConsole,
  what: string,
  pred: (e: GuestEvent, l: ConsoleLine) => boolean,
  ms: number,
  opts: { from?: number; exited?: Promise<unknown>; stderr?: () => string } = {},
): Promise<ConsoleLine> {
  const ac = new AbortController();
  const died = (opts.exited ?? new Promise<never>(() => undefined)).then(() => {
    throw new Error(`QEMU exited while waiting for ${what}`);
  });
  died.catch(() => undefined);
  try {
    return await Promise.race([con.waitFor((l) => l.event !== undefined && pred(l.event, l), ms, opts.from ?? 0, ac.signal), died]);
  } catch (e) {
    const tail = con.lines.slice(-12).map((l) => l.line).join('\n');
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${tail}\n--- stderr:\n${opts.stderr?.() ?? ''}`);
  } finally {
    ac.abort();
  }
}

/** Boot to "ready": failover modes wait for the enslaved primary and prompt ping replies. */
export async function waitReady(vm: Vm, ms = 45_000): Promise<void> {
  const o = { exited: vm.exited, stderr: vm.stderr };
  const t0 = performance.now();
  const left = (): number => Math.max(2000, ms - (performance.now() - t0));
  if (vm.spec.mode === 'nofailover') {
    await expectLine(vm.console, 'VFMODULES', (e) => e.kind === 'modules', left(), o);
    return;
  }
  await expectLine(vm.console, 'VFREADY', (e) => e.kind === 'ready', left(), o);
  if (vm.spec.variant === undefined || vm.spec.variant === 'ok') {
    await expectLine(vm.console, 'primary enslaved', (e) => e.kind === 'state' && e.enslaved, left(), o);
    if (vm.spec.mode === 'block-unplug') await expectLine(vm.console, 'VFBLOCK', (e) => e.kind === 'block', left(), o);
    await promptPings(vm.console, 5, left(), o);
  }
}

/** Waits for `n` prompt (< 100 ms) ping replies after history index `from`. */
export async function promptPings(
  con: GuestConsole,
  n: number,
  ms: number,
  opts: { from?: number; exited?: Promise<unknown>; stderr?: () => string } = {},
): Promise<ConsoleLine> {
  let seen = 0;
  return expectLine(con, `${n} prompt ping replies`, (e) => e.kind === 'ping' && e.timeMs < 100 && ++seen >= n, ms, opts);
}
