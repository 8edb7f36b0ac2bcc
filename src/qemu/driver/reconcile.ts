// Settling what a killed `migrate` left behind, so a guest never runs in two QEMUs.
//
// `migrate` writes a migration record into the domain's status (store.ts MigrationRecord) before it
// sends `migrate`: its own pid, and the destination QEMU's pid, start time and sockets as soon as
// that is spawned. When the process dies (kill -9) the record stays. The next command that takes
// the domain lock (or a reader that finds the lock free) settles it:
//   - the source's migration still runs: migrate_cancel, and wait until QEMU reports its end;
//   - it completed and the destination runs the guest (or loaded it, paused): the destination is
//     adopted (the record names it), the source is told to quit;
//   - otherwise the destination is ended and the source keeps the guest: resumed if the guest ran
//     when the migration began, its failover primaries looked up (query-pci) and logged.
// Every step goes to the domain's log. Also under the lock: QEMUs of this domain that no record
// names (a start or migrate killed between spawning QEMU and recording it) are ended.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive, readCmdline, readProcStat } from '../../util/proc.js';
import { pciQdevIds } from '../migration/index.js';
import { Monitor } from '../monitor/index.js';
import { readLockOwner } from './lock.js';
import { appendLog, isOurQemu, logTimestamp, terminateProcess } from './process.js';
import { type DriverContext, qmpStatusToState } from './state.js';
import type { DomainStatus, MigrationRecord } from './store.js';

/** QEMU MigrationStatus values of a migration that has not ended. */
const IN_PROGRESS = new Set(['setup', 'wait-unplug', 'active', 'device', 'pre-switchover', 'cancelling', 'postcopy-active', 'postcopy-paused', 'postcopy-recover', 'colo']);

/**
 * How long QEMU gets to end a cancelled migration. Once 'cancelling' it can only end cancelled or
 * failed (the guest stays on the source; QEMU re-plugs the primaries then), but it may wait ~30 s for
 * an unplug in flight: after this we go on and let it finish by itself.
 */
const CANCEL_SETTLE_MS = 2_000;
/** How long a destination that is still loading the switched-over state gets to finish. */
const LOAD_SETTLE_MS = 30_000;
const SETTLE_POLL_MS = 50;

/** The record's migrate process is gone (killed, crashed): its migration needs settling. */
export function migrationOrphaned(st: DomainStatus | undefined): st is DomainStatus & { migration: MigrationRecord } {
  const m = st?.migration;
  return !!m && !isProcessAlive(m.owner.pid, m.owner.start);
}

async function connect(socket: string | undefined, timeoutMs: number): Promise<Monitor | undefined> {
  if (!socket) return undefined;
  return Monitor.connect(socket, { timeoutMs, retryRefused: false }).catch(() => undefined);
}

async function migrationStatus(mon: Monitor | undefined, timeoutMs: number): Promise<string | undefined> {
  const r = await mon?.execute<{ status?: string }>('query-migrate', undefined, { timeoutMs }).catch(() => undefined);
  return r ? (r.status ?? 'none') : undefined;
}

async function runStatus(mon: Monitor | undefined, timeoutMs: number): Promise<string | undefined> {
  return (await mon?.execute<{ status: string }>('query-status', undefined, { timeoutMs }).catch(() => undefined))?.status;
}

/** Polls query-migrate until the status leaves `pending` (or the deadline); the last status seen. */
async function settle(mon: Monitor, pending: ReadonlySet<string>, ms: number, cmdMs: number): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await migrationStatus(mon, cmdMs);
    if (s === undefined || !pending.has(s) || Date.now() >= deadline) return s;
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
  }
}

function removeUnder(ctx: DriverContext, dir: string | undefined): void {
  if (dir && path.dirname(dir) === ctx.store.runtimeDir) rmSync(dir, { recursive: true, force: true });
}

/**
 * Settles a migration whose `migrate` process died (see the file comment). Call with the domain
 * lock held; returns false when there was nothing to settle.
 */
export async function reconcileMigration(ctx: DriverContext, name: string): Promise<boolean> {
  const { store } = ctx;
  const st = store.readStatus(name);
  if (!migrationOrphaned(st)) return false;
  const m = st.migration;
  const log = (line: string): void => appendLog(store.logPath(name), `${logTimestamp()}: migration ${m.id}: ${line}`);
  log(`its migrate process (pid ${m.owner.pid}) is gone; settling`);
  const t = ctx.timeouts;
  if (m.leftSource) {
    // Adopted already: only the old source is left to end.
    const { migration: _m, ...rest } = st;
    const ls = m.leftSource;
    if (isOurQemu(ls.pid, ls.pidStart, st.uuid)) {
      await terminateProcess(ls.pid, ls.pidStart, { termTimeoutMs: t.termMs, killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs });
    }
    if (ls.runDir !== st.runDir) removeUnder(ctx, ls.runDir);
    store.writeStatus(rest);
    log(`completed: the source (pid ${ls.pid}) ended; the destination (pid ${st.pid ?? '?'}) is the domain`);
    return true;
  }
  const cmdMs = t.monitorMs;
  const d = m.dest;
  const srcAlive = isOurQemu(st.pid, st.pidStart, st.uuid);
  const src = srcAlive ? await connect(st.monitor, cmdMs) : undefined;
  let dst: Monitor | undefined;
  try {
    let srcMig = await migrationStatus(src, cmdMs);
    if (srcMig !== undefined && IN_PROGRESS.has(srcMig)) {
      log(`source migration '${srcMig}': migrate_cancel`);
      await src!.execute('migrate_cancel', undefined, { timeoutMs: cmdMs }).catch(() => undefined);
      srcMig = await settle(src!, IN_PROGRESS, CANCEL_SETTLE_MS, cmdMs);
      if (srcMig === 'cancelling') log('QEMU is still cancelling (it waits for the guest to finish an unplug, then re-plugs)');
    }
    const dstAlive = !!d && isOurQemu(d.pid, d.pidStart, st.uuid);
    let dstMig: string | undefined;
    if (dstAlive && (srcMig === 'completed' || !srcAlive)) {
      dst = await connect(d.monitor, cmdMs);
      // Switched over: the destination may still be loading the last of the state.
      dstMig = dst ? await settle(dst, new Set(['setup', 'active', 'device']), LOAD_SETTLE_MS, cmdMs) : undefined;
    }
    log(`source ${srcAlive ? `pid ${st.pid}, migration '${srcMig ?? '?'}'` : 'gone'}; destination ${dstAlive ? `pid ${d!.pid}, incoming '${dstMig ?? '-'}'` : 'gone'}`);
    if (dstAlive && dst && dstMig === 'completed') {
      await adoptDestination(ctx, st, dst, src, log);
    } else {
      await keepSource(ctx, st, src, log);
    }
    return true;
  } finally {
    await src?.close();
    await dst?.close();
  }
}

/** The migration completed: the destination becomes the domain, the source quits. */
async function adoptDestination(
  ctx: DriverContext,
  st: DomainStatus & { migration: MigrationRecord },
  dst: Monitor,
  src: Monitor | undefined,
  log: (line: string) => void,
): Promise<void> {
  const { store } = ctx;
  const t = ctx.timeouts;
  const d = st.migration.dest!;
  let run = await runStatus(dst, t.monitorMs);
  // The guest ran before; QEMU leaves the destination paused when the source was paused at the end.
  if (run !== 'running' && st.migration.sourceRunning) {
    await dst.execute('cont', undefined, { timeoutMs: t.monitorMs }).catch(() => undefined);
    run = await runStatus(dst, t.monitorMs);
    log(`destination resumed (now '${run ?? '?'}')`);
  }
  const { migration: _m, ...rest } = st;
  store.writePidfile(st.name, d.pid);
  store.writeStatus({
    ...rest,
    pid: d.pid,
    pidStart: d.pidStart,
    runDir: d.runDir,
    monitor: d.monitor,
    startedAt: new Date().toISOString(),
    state: run === 'running' ? 'running' : 'paused',
    reason: run === 'running' ? 'migrated' : 'migrating',
  });
  log(`completed: the destination (pid ${d.pid}) is the domain now; ending the source (pid ${st.pid ?? '?'})`);
  if (st.pid !== undefined && isOurQemu(st.pid, st.pidStart, st.uuid)) {
    await src?.execute('quit', undefined, { timeoutMs: t.monitorMs }).catch(() => undefined);
    await terminateProcess(st.pid, st.pidStart, { termTimeoutMs: t.termMs, killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs });
  }
  if (st.runDir !== d.runDir) removeUnder(ctx, st.runDir);
  removeUnder(ctx, d.qmpDir);
}

/** The migration did not complete: the destination ends, the source keeps the guest (or it crashed). */
async function keepSource(
  ctx: DriverContext,
  st: DomainStatus & { migration: MigrationRecord },
  src: Monitor | undefined,
  log: (line: string) => void,
): Promise<void> {
  const { store } = ctx;
  const t = ctx.timeouts;
  const m = st.migration;
  const d = m.dest;
  if (d && isOurQemu(d.pid, d.pidStart, st.uuid)) {
    const how = await terminateProcess(d.pid, d.pidStart, { termTimeoutMs: Math.min(t.termMs, 3_000), killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs });
    log(`destination (pid ${d.pid}) ended (${how ?? 'already gone'})`);
  }
  if (d && d.runDir !== st.runDir) removeUnder(ctx, d.runDir);
  removeUnder(ctx, d?.qmpDir);
  const { migration: _m, ...rest } = st;
  if (!src) {
    // The source is gone too (or does not answer): the caller's stale check records it.
    store.writeStatus(rest);
    log('the source QEMU does not answer; left to the usual crash handling');
    return;
  }
  let run = await runStatus(src, t.monitorMs);
  const srcMig = await migrationStatus(src, t.monitorMs);
  // (while QEMU is still cancelling it resumes a guest it stopped by itself)
  if (run !== 'running' && m.sourceRunning && srcMig !== 'cancelling') {
    const ok = await src.execute('cont', undefined, { timeoutMs: t.monitorMs }).then(() => true, () => false);
    run = await runStatus(src, t.monitorMs);
    log(ok ? `source resumed (now '${run ?? '?'}')` : `source could not be resumed ('${run ?? '?'}')`);
  }
  if (m.primaries?.length) {
    const pci = pciQdevIds(await src.execute('query-pci', undefined, { timeoutMs: t.monitorMs }).catch(() => []));
    const missing = m.primaries.filter((id) => !pci.has(id));
    log(missing.length ? `failover primaries NOT plugged on the source: ${missing.join(',')}` : `failover primaries plugged on the source: ${m.primaries.join(',')}`);
  }
  const now = run === undefined ? { state: rest.state, reason: rest.reason } : qmpStatusToState(run);
  store.writeStatus({ ...rest, ...now, reason: now.state === 'running' ? 'migration canceled' : now.reason });
  log(`cancelled: the source (pid ${st.pid ?? '?'}) keeps the guest`);
}

/** When the lock is free, a reader settles a migration whose `migrate` died (else the holder will). */
export async function reconcileIfFree(ctx: DriverContext, name: string): Promise<void> {
  let st;
  try {
    st = ctx.store.readStatus(name);
  } catch {
    return;
  }
  // A lock left by a killed holder is removed too (taking it breaks it), even with nothing to settle.
  const owner = readLockOwner(ctx.store.lockPath(name));
  const staleLock = owner === null || (owner !== undefined && !isProcessAlive(owner.pid, owner.start));
  if (!migrationOrphaned(st) && !staleLock) return;
  const lock = await ctx.store.tryLockDomain(name, 'reconcile').catch(() => undefined);
  if (!lock) return;
  try {
    await reconcileMigration(ctx, name);
  } finally {
    lock.release();
  }
}

/**
 * QEMUs of domain `uuid` in this runtime dir that no record names: left by a `start` or `migrate`
 * killed between spawning them and recording them. SIGKILLed; call with the domain lock held.
 */
export async function endUnrecordedQemus(ctx: DriverContext, uuid: string, st: DomainStatus | undefined): Promise<number[]> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) return [];
  const mark = path.join(ctx.store.runtimeDir, uuid);
  const keep = new Set<number>();
  if (st?.pid !== undefined) keep.add(st.pid);
  if (st?.migration?.dest) keep.add(st.migration.dest.pid);
  if (st?.migration?.leftSource) keep.add(st.migration.leftSource.pid);
  const ended: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return ended;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid <= 1 || pid === process.pid || keep.has(pid)) continue;
    const argv = readCmdline(pid);
    if (!argv?.length || !argv.some((a) => a.includes(mark))) continue;
    const start = readProcStat(pid)?.startTime;
    const t = ctx.timeouts;
    await terminateProcess(pid, start, { termTimeoutMs: 0, killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs }).catch(() => undefined);
    ended.push(pid);
  }
  return ended;
}
