// QEMU as an operating-system process: spawn detached with output to a log file, recognise
// it later by pid + start time + command line, wait for it to exit, terminate it.
//
// We are not a daemon: after `start` returns, QEMU is nobody's child we can wait() on. Its exit
// is seen as an event where one exists (the monitor socket closes when QEMU dies), and
// otherwise by looking at /proc at an interval the caller passes in.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import net from 'node:net';
import { SystemError } from '../../util/errors.js';
import { checkedPid, isProcessAlive, readCmdline, readProcStat, signalProcess } from '../../util/proc.js';

export interface SpawnedProcess {
  pid: number;
  /** /proc start time, read right after the spawn; undefined when QEMU already exited. */
  startTime?: string;
  child: ChildProcess;
  /** Aborted (reason: an Error with the exit status) as soon as the process exits. */
  exitSignal: AbortSignal;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  binary: string;
  args: string[];
  env: [string, string][];
  /** Open file descriptor that receives stdout and stderr. */
  logFd: number;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Starts QEMU in its own session (so the terminal's signals do not reach it), stdin from
 * /dev/null, stdout+stderr to the log, umask 077 (its sockets and files are 0600).
 * Resolves once the process exists; rejects with SystemError when exec fails.
 */
export async function spawnDetached(opts: SpawnOptions): Promise<SpawnedProcess> {
  const oldMask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn(opts.binary, opts.args, {
      detached: true,
      stdio: ['ignore', opts.logFd, opts.logFd],
      env: Object.fromEntries(opts.env),
    });
  } finally {
    process.umask(oldMask);
  }
  const ctl = new AbortController();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      ctl.abort(new Error(`QEMU exited with ${signal ? `signal ${signal}` : `status ${code}`}`));
      resolve({ code, signal });
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e) => {
      ctl.abort(e);
      reject(new SystemError(`Cannot execute QEMU binary ${opts.binary}: ${errText(e)}`, { cause: e }));
    });
  });
  const pid = checkedPid(child.pid, `QEMU ${opts.binary}`);
  return { pid, startTime: readProcStat(pid)?.startTime, child, exitSignal: ctl.signal, exited };
}

/**
 * True when `pid` is alive, is the process that had `startTime`, and its command line
 * mentions `uuid` (our QEMU always has the UUID in -uuid and in its socket paths). Anything
 * else (dead, zombie, a reused pid) is not our QEMU.
 */
export function isOurQemu(pid: number | undefined, startTime: string | undefined, uuid: string): boolean {
  if (pid === undefined || !isProcessAlive(pid, startTime)) return false;
  const argv = readCmdline(pid);
  if (!argv) return false;
  return argv.some((a) => a.includes(uuid));
}

// ---- log ----------------------------------------------------------------------------

/** Opens the log for appending (0600) and writes `header`; returns the fd and the offset after it. */
export function openLog(file: string, header: string): { fd: number; offset: number } {
  let fd: number;
  try {
    fd = openSync(file, 'a', 0o600);
  } catch (e) {
    throw new SystemError(`Failed to open file '${file}': ${errText(e)}`, { cause: e });
  }
  writeSync(fd, header);
  return { fd, offset: fstatSync(fd).size };
}

/** Appends one line to the log (best effort: a log problem never hides the real outcome). */
export function appendLog(file: string, line: string): void {
  try {
    const fd = openSync(file, 'a', 0o600);
    try {
      writeSync(fd, line.endsWith('\n') ? line : `${line}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // ignore
  }
}

/** What QEMU wrote after `offset`: the last `maxChars` characters, from a line start, trimmed. */
export function readLogSince(file: string, offset: number, maxChars = 1024): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(offset, size - maxChars * 4);
    const buf = Buffer.alloc(Math.max(0, size - start));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    let text = buf.subarray(0, got).toString('utf8').replace(/\s+$/, '');
    if (text.length > maxChars) {
      text = text.slice(-maxChars);
      const nl = text.indexOf('\n');
      if (nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
    }
    return text.trim();
  } finally {
    closeSync(fd);
  }
}

/** libvirt's log timestamp: 2026-11-23 10:00:00.123+0000 */
export function logTimestamp(d = new Date()): string {
  return d.toISOString().replace('T', ' ').replace('Z', '+0000');
}

// ---- waiting for exit and terminating -----------------------------------------------

export interface WaitExitOptions {
  timeoutMs: number;
  /** Interval for looking at /proc; the only way to see a non-child exit without an event. */
  pollIntervalMs?: number;
  /**
   * A unix socket the process listens on (its QMP monitor): a connection to it ends when the
   * process dies, which wakes us at once instead of at the next poll.
   */
  wakeSocket?: string;
  signal?: AbortSignal;
}

export const DEFAULT_EXIT_POLL_MS = 20;

/** Resolves true once the process (pid + start time) is gone, false at the deadline. */
export function waitForExit(pid: number, startTime: string | undefined, opts: WaitExitOptions): Promise<boolean> {
  if (!isProcessAlive(pid, startTime)) return Promise.resolve(true);
  const interval = opts.pollIntervalMs ?? DEFAULT_EXIT_POLL_MS;
  return new Promise<boolean>((resolve) => {
    let done = false;
    let sock: net.Socket | undefined;
    const finish = (gone: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(poll);
      opts.signal?.removeEventListener('abort', onAbort);
      sock?.destroy();
      resolve(gone);
    };
    const check = (): void => {
      if (!isProcessAlive(pid, startTime)) finish(true);
    };
    const schedule = (): void => {
      poll = setTimeout(() => {
        check();
        if (!done) schedule();
      }, interval);
    };
    const onAbort = (): void => finish(!isProcessAlive(pid, startTime));
    const deadline = setTimeout(() => finish(!isProcessAlive(pid, startTime)), opts.timeoutMs);
    let poll: NodeJS.Timeout | undefined;
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.wakeSocket) {
      sock = net.createConnection({ path: opts.wakeSocket });
      sock.on('data', () => undefined); // a greeting, if QEMU accepts us; ignored
      sock.on('error', () => check());
      sock.on('close', () => check());
    }
    schedule();
  });
}

export interface TerminateOptions {
  /** How long QEMU gets after SIGTERM (libvirt: 10 s). */
  termTimeoutMs?: number;
  /** How long after SIGKILL before giving up (libvirt: 5 s). */
  killTimeoutMs?: number;
  pollIntervalMs?: number;
  wakeSocket?: string;
}

/**
 * SIGTERM, wait, then SIGKILL, wait (libvirt's virProcessKillPainfully). Returns the signal
 * that ended it (or undefined when it was already gone). Throws SystemError
 * `Failed to terminate process N with SIGKILL: Device or resource busy` if it survives.
 */
export async function terminateProcess(
  pid: number,
  startTime: string | undefined,
  opts: TerminateOptions = {},
): Promise<'SIGTERM' | 'SIGKILL' | undefined> {
  const wait = (timeoutMs: number) =>
    waitForExit(pid, startTime, { timeoutMs, pollIntervalMs: opts.pollIntervalMs, wakeSocket: opts.wakeSocket });
  if (!isProcessAlive(pid, startTime)) return undefined;
  if (!signalProcess(pid, 'SIGTERM')) return undefined;
  if (await wait(opts.termTimeoutMs ?? 10_000)) return 'SIGTERM';
  if (!isProcessAlive(pid, startTime)) return 'SIGTERM';
  if (!signalProcess(pid, 'SIGKILL')) return 'SIGTERM';
  if (await wait(opts.killTimeoutMs ?? 5_000)) return 'SIGKILL';
  throw new SystemError(`Failed to terminate process ${pid} with SIGKILL: Device or resource busy`);
}

/** resolveExecutable lives in util/proc (the CLI's verbs look up the default QEMU the same way). */
export { resolveExecutable } from '../../util/proc.js';
