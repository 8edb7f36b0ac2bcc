// Spawns a bare QEMU (TCG, paused, no devices) with a QMP socket in a fresh 0700 temp dir.
// No shell; waits for the socket with a deadline (inotify), not a sleep.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { waitForSocket } from '../../src/qemu/monitor/socket.js';

export const QEMU_BINARY = process.env.VIRT_FAILOVER_QEMU || 'qemu-system-x86_64';

export interface SpawnQemuOptions {
  machine?: 'none' | 'q35';
  /** Extra arguments, appended after the defaults. */
  args?: string[];
  /** Deadline for the QMP socket to appear (default 20 s). */
  timeoutMs?: number;
}

export interface SpawnedQemu {
  proc: ChildProcess;
  dir: string;
  socketPath: string;
  /** What QEMU wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code or signal once QEMU has exited. */
  exited: Promise<number | NodeJS.Signals>;
  /** Sends `signal` (default SIGKILL) unless QEMU has exited, then waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
  /** kill() and remove the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

export async function spawnQemu(opts: SpawnQemuOptions = {}): Promise<SpawnedQemu> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-qemu-'));
  await chmod(dir, 0o700);
  const socketPath = path.join(dir, 'qmp.sock');
  const argv = [
    '-machine', opts.machine ?? 'none',
    '-accel', 'tcg',
    '-nodefaults',
    '-display', 'none',
    '-S',
    '-qmp', `unix:${socketPath},server=on,wait=off`,
    ...(opts.args ?? []),
  ];
  const proc = spawn(QEMU_BINARY, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (s: string) => {
    stderr += s;
  });
  const exitedCtl = new AbortController();
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    const done = (code: number | null, sig: NodeJS.Signals | null): void => {
      exitedCtl.abort(new Error(`QEMU exited (${code ?? sig}) before its QMP socket showed up: ${stderr.trim()}`));
      resolve(code ?? sig ?? -1);
    };
    proc.once('exit', done);
    proc.once('error', (err) => {
      exitedCtl.abort(err);
      resolve(-1);
    });
  });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<number | NodeJS.Signals> => {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) proc.kill(signal);
    return exited;
  };
  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposed ??= (async () => {
      await kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    await waitForSocket(socketPath, { timeoutMs: opts.timeoutMs ?? 20_000, signal: exitedCtl.signal });
  } catch (err) {
    await dispose();
    throw err;
  }
  return { proc, dir, socketPath, stderr: () => stderr, exited, kill, dispose };
}
