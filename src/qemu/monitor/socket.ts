// Waiting for QEMU's monitor socket to appear, without polling: watch the directory
// (inotify) and check once after the watch is in place, under a deadline.
import { watch, type FSWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { QmpConnectError } from './errors.js';

export interface WaitForSocketOptions {
  /** Deadline; QmpConnectError('monitor socket did not show up') when it passes. */
  timeoutMs: number;
  /** Abort early (e.g. when the QEMU process exits); rejects with the signal's reason. */
  signal?: AbortSignal;
}

async function isSocket(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isSocket();
  } catch {
    return false;
  }
}

/**
 * Resolves once `socketPath` exists and is a socket. The directory must already exist.
 * QEMU binds and then listens, so a connect in between can still be refused; that window
 * is a few instructions long.
 */
export function waitForSocket(socketPath: string, opts: WaitForSocketOptions): Promise<void> {
  const { timeoutMs, signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      watcher?.close();
      if (err === undefined) resolve();
      else reject(err);
    };
    const check = (): void => {
      void isSocket(socketPath).then((ok) => {
        if (ok) finish();
      });
    };
    const onAbort = (): void => finish(signal?.reason);
    const timer = setTimeout(
      () => finish(new QmpConnectError('monitor socket did not show up', socketPath)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    const base = path.basename(socketPath);
    try {
      watcher = watch(path.dirname(socketPath), (_type, name) => {
        if (name === null || name.toString() === base) check();
      });
      watcher.on('error', (err) =>
        finish(new QmpConnectError('monitor socket did not show up', socketPath, { cause: err })),
      );
    } catch (err) {
      finish(new QmpConnectError('monitor socket did not show up', socketPath, { cause: err }));
      return;
    }
    check();
  });
}
