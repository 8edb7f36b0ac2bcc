// Lock files: exclusive ownership of a domain (or of the store) by one process.
//
// Taking a lock publishes a complete file with link(2) (fails with EEXIST when the lock is
// held), so nobody ever reads a half-written lock. The file holds the owner's pid and its
// start time (/proc/PID/stat), so a lock left by a process that died, or whose pid now
// belongs to another process, is recognised as stale. Breaking a stale lock is serialised by
// a second lock file (NAME.break), and the stale lock is removed only if, under that, it is
// still the same file (inode) with the same dead owner. A live owner is never waited for
// unless the caller asks (waitMs): then we wait on directory events for the file's removal,
// under a deadline; a holder that dies leaves its file behind (no event), so meanwhile its
// liveness (pid + start time in /proc) is looked at every HOLDER_CHECK_MS.
import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, unlinkSync, watch, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { SystemError } from '../../util/errors.js';
import { errnoText } from '../../util/fs.js';
import { isProcessAlive, selfStartTime } from '../../util/proc.js';

export interface LockOwner {
  pid: number;
  /** /proc/PID/stat start time; absent when unknown. */
  start?: string;
  /** What the owner is doing (e.g. 'start'), for messages. */
  op?: string;
}

export interface HeldLock {
  readonly file: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  /** What the caller is doing, recorded in the file. */
  op?: string;
  /** Build the error thrown when a live process holds the lock. */
  busyError: (owner: LockOwner | undefined) => Error;
  /** Wait up to this long for a live owner to let go (default 0: fail at once). */
  waitMs?: number;
}

const held = new Set<HeldLockImpl>();
let exitHookInstalled = false;

class HeldLockImpl implements HeldLock {
  #released = false;
  constructor(readonly file: string, readonly ino: number) {}
  release(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this);
    try {
      // Same inode and our own record: inode numbers alone get reused.
      const o = readLockOwner(this.file);
      if (lstatSync(this.file).ino === this.ino && o && o.pid === process.pid && o.start === selfStartTime()) unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const l of [...held]) l.release();
  });
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** The owner recorded in a lock file; undefined when the file is gone, null when unreadable. */
export function readLockOwner(file: string): LockOwner | undefined | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, start: typeof v.start === 'string' ? v.start : undefined, op: typeof v.op === 'string' ? v.op : undefined };
  } catch {
    return null;
  }
}

function ownerAlive(o: LockOwner | null | undefined): boolean {
  return !!o && isProcessAlive(o.pid, o.start);
}

/** Writes our owner record to a private temp file beside `file`; returns its path. */
function writeOwnerTemp(file: string, op: string | undefined): string {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const owner: LockOwner = { pid: process.pid, start: selfStartTime(), op };
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(owner) + '\n');
    fsyncSync(fd);
  } catch (e) {
    unlinkQuiet(tmp); // a full file system: leave nothing behind
    throw e;
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // gone
  }
}

function inoOf(p: string): number | undefined {
  try {
    return lstatSync(p).ino;
  } catch {
    return undefined;
  }
}

/**
 * Removes `file` if it still is inode `ino` owned by a dead process. Serialised by
 * `file.break`; returns false when another process is breaking it right now.
 */
function breakStale(file: string, ino: number, tmp: string): boolean {
  const breaker = `${file}.break`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      linkSync(tmp, breaker);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      const bOwner = readLockOwner(breaker);
      if (bOwner === undefined) continue; // just released
      if (ownerAlive(bOwner)) return false;
      // A breaker that died inside this short section: remove it the same careful way.
      const bIno = inoOf(breaker);
      if (bIno !== undefined && !ownerAlive(readLockOwner(breaker)) && inoOf(breaker) === bIno) unlinkQuiet(breaker);
      continue;
    }
    const myBreakerIno = inoOf(breaker);
    try {
      if (inoOf(file) === ino && !ownerAlive(readLockOwner(file))) unlinkQuiet(file);
      return true;
    } finally {
      if (inoOf(breaker) === myBreakerIno) unlinkQuiet(breaker);
    }
  }
  return false;
}

/**
 * One non-blocking attempt: the lock, or the owner that holds it, or `breaking` when another
 * process is removing a stale lock right now (it will own the lock in a moment).
 */
function tryOnce(file: string, tmp: string): { lock: HeldLock } | { owner: LockOwner | undefined } | { breaking: true } {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      linkSync(tmp, file);
      const lock = new HeldLockImpl(file, lstatSync(file).ino);
      held.add(lock);
      installExitHook();
      return { lock };
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
    const ino = inoOf(file);
    const owner = readLockOwner(file);
    if (owner === undefined || ino === undefined) continue; // released meanwhile: try again
    if (owner !== null && ownerAlive(owner)) return { owner };
    if (!breakStale(file, ino, tmp)) return { breaking: true };
  }
  const owner = readLockOwner(file);
  return { owner: owner ?? undefined };
}

/** How often a waiter looks whether the holder still lives: a killed holder is noticed within this. */
const HOLDER_CHECK_MS = 50;

/** How long to wait for another process's stale-lock break (a few syscalls) before looking again. */
const BREAK_WAIT_MS = 100;

/** Resolves when `file` disappears (or `ms` passes); event-driven. */
function waitGone(file: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      w?.close();
      resolve();
    };
    const timer = setTimeout(finish, ms);
    let w: ReturnType<typeof watch> | undefined;
    try {
      w = watch(path.dirname(file), (_t, name) => {
        if (name === null || name.toString() === path.basename(file)) finish();
      });
      w.on('error', finish);
    } catch {
      finish();
      return;
    }
    if (inoOf(file) === undefined) finish();
  });
}

/**
 * Takes the lock `file`. Fails with opts.busyError(owner) when a live process holds it
 * (after waiting up to opts.waitMs for it to go). Stale locks are removed.
 */
export async function acquireLock(file: string, opts: AcquireOptions): Promise<HeldLock> {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new SystemError(`cannot create lock directory '${path.dirname(file)}': ${errnoText(e)}`, { cause: e });
  }
  let tmp: string;
  try {
    tmp = writeOwnerTemp(file, opts.op);
  } catch (e) {
    throw new SystemError(`cannot create lock file '${file}': ${errnoText(e)}`, { cause: e });
  }
  try {
    const deadline = Date.now() + (opts.waitMs ?? 0);
    let breakWaits = 0;
    while (true) {
      const r = tryOnce(file, tmp);
      if ('lock' in r) return r.lock;
      if ('breaking' in r) {
        // Another process is breaking a stale lock: let it finish, then see who owns the lock.
        if (++breakWaits > 50) throw opts.busyError(readLockOwner(file) ?? undefined);
        await waitGone(`${file}.break`, BREAK_WAIT_MS);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw opts.busyError(r.owner);
      // Woken by the file's removal, or after HOLDER_CHECK_MS to see whether the holder died.
      await waitGone(file, Math.min(left, HOLDER_CHECK_MS));
    }
  } finally {
    unlinkQuiet(tmp);
  }
}

/** Like acquireLock without waiting, but returns undefined instead of throwing when busy. */
export async function tryAcquireLock(file: string, op?: string): Promise<HeldLock | undefined> {
  const busy = new Error('busy');
  try {
    return await acquireLock(file, { op, busyError: () => busy });
  } catch (e) {
    if (e === busy) return undefined;
    throw e;
  }
}
