// Facts about other processes from /proc (Linux): liveness, identity, command line.
// A pid alone is not an identity (pids are reused), so callers keep the start time
// (/proc/PID/stat field 22, clock ticks since boot) beside it and compare both.
import { accessSync, constants as fsc, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InternalError, SystemError } from './errors.js';

/**
 * `pid` when it names one process (a safe integer > 0), else an error. kill(0, ...) signals our
 * own process group and kill(-1, ...) every process of the user, so a missing or unknown pid
 * (undefined, -1, 0, NaN) must never reach process.kill.
 */
export function checkedPid(pid: number | null | undefined, what = 'process'): number {
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) throw new InternalError(`no valid pid for ${what}: ${String(pid)}`);
  return pid;
}

/** Signals the process group led by `pid` (a child started detached), never group 0 or -1. */
export function signalProcessGroup(pid: number | null | undefined, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-checkedPid(pid, 'a process group'), signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

export interface ProcStat {
  /** One-letter state: R, S, D, Z (zombie), X (dead), T, t, ... */
  state: string;
  /** Start time in clock ticks after boot, as a decimal string. */
  startTime: string;
}

/** /proc/PID/stat, or undefined when there is no such process. */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain ') '.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const state = fields[0];
  const startTime = fields[19];
  if (!state || !startTime) return undefined;
  return { state, startTime };
}

/** The start time of this process (for lock files and records). */
export function selfStartTime(): string | undefined {
  return readProcStat(process.pid)?.startTime;
}

/**
 * True when `pid` is a live (not zombie) process and, when `startTime` is given, the
 * same process that had that start time (so a reused pid reads as dead).
 */
export function isProcessAlive(pid: number, startTime?: string, procRoot = '/proc'): boolean {
  const st = readProcStat(pid, procRoot);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** The argument vector of `pid` (empty for zombies and kernel threads, undefined when gone). */
export function readCmdline(pid: number, procRoot = '/proc'): string[] | undefined {
  try {
    const raw = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8');
    if (raw === '') return [];
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/** Sends `signal` to `pid`; false when the process does not exist (ESRCH). */
export function signalProcess(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(checkedPid(pid), signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

/** A bare command name looked up in PATH (as exec would); a path is returned resolved. */
export function resolveExecutable(binary: string, env: NodeJS.ProcessEnv = process.env): string {
  if (binary.includes('/')) return path.resolve(binary);
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, binary);
    try {
      accessSync(p, fsc.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // next
    }
  }
  throw new SystemError(`Cannot find QEMU binary ${binary}: No such file or directory`);
}
