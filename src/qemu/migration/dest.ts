// The migration destination: a QEMU started with the source's argv plus `-incoming defer` and a QMP
// socket of its own (in a fresh 0700 directory, socket 0600), listening for one incoming attempt.
// A destination whose incoming migration failed or was cancelled exits (it cannot be reused), so a
// retry starts a fresh one: the launcher's start() is called once per attempt.
//
// By default the stream arrives on a unix socket in that 0700 directory (`unix:DIR/migrate.sock`):
// a TCP port on 127.0.0.1 would let any local user connect first and feed the destination a guest.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OperationFailedError } from '../../util/errors.js';
import { checkedPid } from '../../util/proc.js';
import type { MigrationMonitor } from './phases.js';
import { Monitor } from '../monitor/index.js';
import { waitForSocket } from '../monitor/index.js';

export interface DestinationHandle {
  monitor: MigrationMonitor;
  /** Where the source sends the stream, e.g. `unix:DIR/migrate.sock` or `tcp:HOST:PORT`. */
  uri: string;
  /** Stops the destination QEMU (if it still runs) and removes what start() created. Idempotent. */
  kill(): Promise<void>;
  /** Settles when the destination QEMU has exited. */
  exited: Promise<unknown>;
}

export interface DestinationLauncher {
  /**
   * Starts a destination that already listens (migration events enabled, migrate-incoming done).
   * It serves one incoming attempt only.
   */
  start(opts?: { signal?: AbortSignal }): Promise<DestinationHandle>;
}

export interface ProcessDestinationOptions {
  binary: string;
  /** The source's argv (without its monitor); `-incoming defer -qmp unix:...` are appended. */
  args: readonly string[];
  /**
   * Listen on TCP instead of the private unix socket: address (default 127.0.0.1) and port
   * (default 0: the kernel picks one). Only for a destination on another host.
   */
  host?: string;
  port?: number;
  /** Parent of the per-attempt 0700 runtime directory (default the OS temp dir). */
  runtimeDir?: string;
  /** QEMU's stdout and stderr are appended to this file; default: kept in memory (last 64 KiB). */
  logFile?: string;
  /** Deadline for the QMP socket, the handshake and migrate-incoming (default 30 s). */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Called right after the spawn with the pid and the QMP socket's directory, before anything is
   * awaited: a caller that may be killed records them here so the process is never lost.
   */
  onSpawn?: (pid: number, dir: string) => void;
}

export interface ProcessDestination extends DestinationHandle {
  monitor: Monitor;
  pid: number;
  /** The 0700 runtime directory (QMP socket inside). */
  dir: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What QEMU wrote to stderr (in-memory log only). */
  stderr(): string;
  /** Lets this process exit while the destination keeps running (after a successful migration). */
  detach(): void;
}

const STDERR_KEEP = 64 * 1024;

function listenUri(host: string, port: number): string {
  return host.includes(':') ? `tcp:[${host}]:${port}` : `tcp:${host}:${port}`;
}

/** The port QEMU bound for `migrate-incoming` with port 0 (query-migrate's socket-address). */
function boundPort(info: unknown): number | undefined {
  const addrs = (info as { 'socket-address'?: { type?: string; port?: string | number }[] })?.['socket-address'];
  const inet = Array.isArray(addrs) ? addrs.find((a) => a?.type === 'inet' && a.port !== undefined) : undefined;
  const port = Number(inet?.port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/** A DestinationLauncher that runs QEMU as a child process (see ProcessDestinationOptions). */
export function processDestinationLauncher(opts: ProcessDestinationOptions): { start(o?: { signal?: AbortSignal }): Promise<ProcessDestination> } {
  return { start: (o) => startProcessDestination(opts, o?.signal) };
}

async function startProcessDestination(opts: ProcessDestinationOptions, signal?: AbortSignal): Promise<ProcessDestination> {
  signal?.throwIfAborted();
  const tcp = opts.host !== undefined || opts.port !== undefined;
  const host = opts.host ?? '127.0.0.1';
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const dir = await mkdtemp(path.join(opts.runtimeDir ?? os.tmpdir(), 'vf-migrate-dst-'));
  await chmod(dir, 0o700);
  const socketPath = path.join(dir, 'qmp.sock');
  const argv = [...opts.args, '-incoming', 'defer', '-qmp', `unix:${socketPath},server=on,wait=off`];

  let logFd: number | undefined;
  if (opts.logFile) logFd = openSync(opts.logFile, 'a', 0o600);
  const child = spawn(opts.binary, argv, {
    stdio: ['ignore', logFd ?? 'ignore', logFd ?? 'pipe'],
    detached: true, // its own session: a Ctrl-C meant for us does not kill it
    env: opts.env ?? process.env,
  });
  if (logFd !== undefined) closeSync(logFd);
  if (child.pid !== undefined && child.pid > 0) {
    try {
      opts.onSpawn?.(child.pid, dir);
    } catch (err) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  child.stderr?.on('error', () => undefined);

  const died = new AbortController();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, sig) => {
      died.abort(new Error(`QEMU exited (${sig ?? `code ${code}`})`));
      resolve({ code, signal: sig });
    });
    child.once('error', (err) => {
      died.abort(err);
      resolve({ code: null, signal: null });
    });
  });

  let monitor: Monitor | undefined;
  let killed: Promise<void> | undefined;
  const kill = (): Promise<void> =>
    (killed ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL');
      await exited;
      await monitor?.close();
      await rm(dir, { recursive: true, force: true });
    })());

  const both = signal ? AbortSignal.any([died.signal, signal]) : died.signal;
  try {
    await waitForSocket(socketPath, { timeoutMs, signal: both });
    await chmod(socketPath, 0o600);
    monitor = await Monitor.connect(socketPath, { timeoutMs, signal: both });
    const cmd = { timeoutMs, signal: both };
    await monitor.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] }, cmd);
    let uri: string;
    if (tcp) {
      await monitor.execute('migrate-incoming', { uri: listenUri(host, opts.port ?? 0) }, cmd);
      const port = opts.port || boundPort(await monitor.execute('query-migrate', undefined, cmd));
      if (!port) throw new Error('QEMU did not report the port it listens on (query-migrate socket-address)');
      uri = listenUri(host, port);
    } else {
      const migrateSocket = path.join(dir, 'migrate.sock');
      uri = `unix:${migrateSocket}`;
      await monitor.execute('migrate-incoming', { uri }, cmd);
      await chmod(migrateSocket, 0o600);
    }
    return {
      monitor,
      uri,
      kill,
      exited,
      pid: checkedPid(child.pid, `the migration destination ${opts.binary}`),
      dir,
      stderr: () => stderr,
      detach: () => {
        child.unref();
        child.stderr?.destroy();
      },
    };
  } catch (err) {
    await kill();
    if (signal?.aborted && err === signal.reason) throw err;
    const said = stderr.trim().split('\n').slice(-3).join(' / ');
    throw new OperationFailedError(
      `cannot start the migration destination: ${(err as Error).message}${said ? `; QEMU said: ${said}` : ''}`,
      { cause: err },
    );
  }
}
