// Live migration of a running domain into a second QEMU on this host (`migrate NAME local`), with its
// failover pairs: the driver's side of migrateFailover (migration.ts).
//
// Before anything moves: the domain must be active, and libvirt's hostdev rules must allow the
// migration (a PCI hostdev migrates only as a transient-teaming failover primary, which QEMU unplugs;
// USB hostdevs are allowed; everything else is refused with libvirt's messages). A local destination
// must not take over a socket the source listens on (a unix chardev in mode='bind').
//
// The destination is the argv the driver builds for this domain (from its live XML, the accelerator
// the source really uses) with a runtime dir of its own (monitor socket, master key, HOME), plus
// `-incoming defer`; it is first checked against the source's /proc cmdline, so both have the same
// devices. It serves one incoming attempt: the launcher makes a fresh one per start().
//
// The domain lock is held throughout. Any failure leaves the source running with its records and
// definition untouched (migrateFailover cancels and re-plugs; the destination and its dir are removed).
// On success the destination is adopted (pidfile and status: pid, start time, runDir, monitor; the
// live XML stays), then the source is told to quit and its runtime dir removed.
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Chardev } from '../../conf/chardev.js';
import type { Domain } from '../../conf/domain.js';
import { parseDomainXml } from '../../conf/domain.js';
import { findEmulator } from '../../conf/emulator.js';
import type { Hostdev } from '../../conf/hostdev.js';
import type { Interface } from '../../conf/interface.js';
import { OperationFailedError, OperationInvalidError, OperationUnsupportedError } from '../../util/errors.js';
import { readCmdline, readProcStat, selfStartTime } from '../../util/proc.js';
import type { QemuCaps } from '../caps/index.js';
import { renderShellLine } from '../command/index.js';
import { withDomainLock } from './lifecycle.js';
import { pciHostdevAddresses, recordedHostdevs } from './hostdev.js';
import { type DomainSummary, type DriverContext, type Inspected, type QemuCommandLine, inspectDomain } from './state.js';
import {
  type MigrationProgress,
  type MigrationResult,
  type ProcessDestination,
  migrateFailover,
  processDestinationLauncher,
} from '../migration/index.js';
import { Monitor } from '../monitor/index.js';
import { failoverPrimaries } from '../command/index.js';
export { failoverPrimaries };
import { appendLog, isOurQemu, logTimestamp, readLogSince, terminateProcess, waitForExit } from './process.js';
import { checkSocketPath } from './store-paths.js';
import type { MigrationRecord } from './store.js';

export interface MigrateLocalOptions {
  /** Deadline for the guest to release its failover primaries (default 30 000). */
  unplugTimeoutMs?: number;
  /** Refuse a migration in which some pair would not fail over. */
  requireFailover?: boolean;
  /** `cont` a paused guest first (a paused guest cannot release its primaries). */
  resume?: boolean;
  /** virsh's --timeout (ms here): suspend the guest when the live migration takes longer (migration/types.ts). */
  timeoutMs?: number;
  /** QEMU's downtime-limit for this migration, ms. */
  maxDowntimeMs?: number;
  /** QEMU's max-bandwidth for this migration, MiB/s. */
  bandwidthMiBs?: number;
  /** Abort (Ctrl-C, SIGTERM): the migration is cancelled; the guest stays on the source. */
  signal?: AbortSignal;
  onProgress?: (ev: MigrationProgress) => void;
}

export interface MigrateLocalResult {
  result: MigrationResult;
  /** The domain afterwards: running (migrated) in the destination QEMU. */
  domain: DomainSummary;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- what may migrate --------------------------------------------------------------------------

function isTransient(t: { type: string } | undefined): boolean {
  return t?.type === 'transient';
}

/**
 * libvirt's qemuMigrationSrcIsAllowedHostdev: the refusal for the first host device that cannot
 * migrate, or undefined. Interface hostdevs come first, as in libvirt's def->hostdevs.
 */
export function migrationBlocker(dom: Domain): OperationUnsupportedError | undefined {
  const subsystem = (type: string): OperationUnsupportedError =>
    new OperationUnsupportedError(`cannot migrate a domain with <hostdev mode='subsystem' type='${type}'>`);
  for (const d of dom.devices) {
    if (d.kind !== 'interface') continue;
    const net = d as Interface;
    if (net.type !== 'hostdev' || !net.hostdev) continue;
    const type = net.hostdev.type;
    if (type === 'usb' || (type === 'pci' && isTransient(net.teaming))) continue;
    // %s is the actual type of the parent <interface>, which for type='hostdev' is 'hostdev'.
    return type === 'pci' ? new OperationUnsupportedError("cannot migrate a domain with <interface type='hostdev'>") : subsystem(type);
  }
  for (const d of dom.devices) {
    if (d.kind !== 'hostdev') continue;
    const h = d as Hostdev;
    if (h.mode === 'capabilities') return new OperationUnsupportedError("cannot migrate a domain with <hostdev mode='capabilities'>");
    const type = h.subsys.type;
    if (type === 'usb' || (type === 'pci' && isTransient(h.teaming))) continue;
    return subsystem(type);
  }
  return undefined;
}


const CHARDEV_KINDS = new Set(['serial', 'console', 'parallel', 'channel']);

export function chardevs(dom: Domain): Chardev[] {
  return dom.devices.filter((d) => CHARDEV_KINDS.has(d.kind) && 'source' in d) as unknown as Chardev[];
}

/**
 * A second QEMU on this host must not need what the source holds: a PCI device passed through (a
 * real migration's destination has its own VF; here both QEMUs would need the same one), or a
 * socket the source listens on.
 */
export function localMigrationBlocker(dom: Domain, held: readonly string[] = []): OperationUnsupportedError | undefined {
  // `held`: the PCI devices the running domain's status lists (a hostdev network's VF is not in its XML).
  const pci = pciHostdevAddresses(dom)[0] ?? held[0];
  if (pci !== undefined) {
    return new OperationUnsupportedError(
      `local migration of a domain with a PCI passthrough device is not possible: source and destination would need ` +
        `the same device ${pci}; migrate to another host`,
    );
  }
  for (const c of chardevs(dom)) {
    if (c.source.type === 'unix' && c.source.mode === 'bind') {
      return new OperationUnsupportedError(
        `cannot migrate a domain with <${c.kind} type='unix'> in mode='bind' to this host: the destination QEMU ` +
          `would take over the socket '${c.source.path ?? ''}' of the source (use mode='connect' or a pty)`,
      );
    }
  }
  return undefined;
}

// ---- the destination -----------------------------------------------------------------------------

export interface Plan {
  info: Inspected;
  name: string;
  uuid: string;
  /** The XML the running QEMU was built from (live XML, else the definition), and its file. */
  xml: string;
  source: string;
  caps: QemuCaps;
  accel: 'kvm' | 'tcg';
  srcRunDir: string;
  /** Records the destination in the domain's status as soon as it is spawned (reconcile.ts). */
  recordDest: (dest: NonNullable<MigrationRecord['dest']>) => void;
}

/** The argv for `plan` with its runtime files in `runtimeDir` (no -S: a destination runs once loaded). */
export async function buildFor(ctx: DriverContext, plan: Plan, runtimeDir: string, destination: boolean): Promise<QemuCommandLine> {
  if (!ctx.buildCommand) {
    throw new OperationInvalidError('cannot migrate domains: the QEMU command-line builder is not available in this build');
  }
  // As start does: the definition (user aliases only), post-parsed, with the accelerator in <domain type>.
  const dom = parseDomainXml(plan.xml, { source: plan.source });
  await ctx.postParse?.(dom, plan.caps, { define: false });
  dom.type = plan.accel === 'kvm' ? 'kvm' : 'qemu';
  if (plan.info.id !== undefined) dom.id = plan.info.id;
  // Both QEMUs write the same files for a while; the destination must not truncate the source's.
  if (destination) for (const c of chardevs(dom)) if (c.source.type === 'file') c.source.append = 'on';
  const cmd = await ctx.buildCommand(dom, plan.caps, { runtimeDir, accel: plan.accel });
  return { ...cmd, args: cmd.args.filter((a) => a !== '-S') };
}

/**
 * An argv as far as the guest's devices go: without -S, without what a destination gets on top
 * (-incoming, its own -qmp), and file chardevs without append= (a destination always appends).
 */
export function comparableArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-S') continue;
    if (a === '-incoming' || a === '-qmp') {
      i++;
      continue;
    }
    if (i > 0 && args[i - 1] === '-chardev' && a.startsWith('file,')) out.push(a.replace(/,append=(on|off)(?=,|$)/, ''));
    else out.push(a);
  }
  return out;
}

/** The source's argv must be what the driver builds now: else the destination would not accept the stream. */
export function checkSameCommand(plan: Plan, built: QemuCommandLine, pid: number): void {
  const cmdline = readCmdline(pid);
  if (!cmdline) return; // gone meanwhile: the precheck reports it
  const running = comparableArgs(cmdline.slice(1));
  const wanted = comparableArgs(built.args);
  const n = Math.max(running.length, wanted.length);
  for (let i = 0; i < n; i++) {
    if (running[i] === wanted[i]) continue;
    throw new OperationFailedError(
      `cannot migrate domain '${plan.name}': its running QEMU was started with a different command line than ` +
        `its live definition gives now (first difference: '${running[i] ?? '(end)'}' instead of '${wanted[i] ?? '(end)'}'); ` +
        'restart the domain to migrate it',
    );
  }
}

/** The destination QEMU as the driver tracks it: the launcher's handle plus its runtime dir. */
export interface LocalDestination extends ProcessDestination {
  /** Runtime dir (monitor.sock, master-key.aes) that becomes the domain's after adoption. */
  runDir: string;
  /** The argv it runs (without -incoming/-qmp). */
  command: QemuCommandLine;
  /** After a successful migration: from now on the driver owns it; kill() no longer stops it. */
  adopt(): Promise<void>;
}

function restrictSockets(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isSocket()) chmodSync(path.join(dir, e.name), 0o600);
  }
}

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** A launcher whose every start() is a fresh destination with its own runtime dir. */
function localLauncher(ctx: DriverContext, plan: Plan): { start(o?: { signal?: AbortSignal }): Promise<LocalDestination> } {
  const { store } = ctx;
  return {
    start: async (o) => {
      o?.signal?.throwIfAborted();
      const runDir = mkdtempSync(path.join(store.runtimeDir, `${plan.uuid}.`));
      try {
        chmodSync(runDir, 0o700);
        checkSocketPath(path.join(runDir, 'monitor.sock'));
        const key = path.join(runDir, 'master-key.aes');
        try {
          copyFileSync(path.join(plan.srcRunDir, 'master-key.aes'), key);
          chmodSync(key, 0o600);
        } catch {
          writeFileSync(key, randomBytes(32), { mode: 0o600 });
        }
        const command = await buildFor(ctx, plan, runDir, true);
        const logFile = store.logPath(plan.name);
        appendLog(logFile, `${logTimestamp()}: starting up (incoming migration)\n${renderShellLine(command)} -incoming defer`);
        const offset = fileSize(logFile);
        const h = await processDestinationLauncher({
          binary: command.binary,
          args: command.args,
          env: Object.fromEntries(command.env),
          runtimeDir: store.runtimeDir,
          logFile,
          startTimeoutMs: ctx.timeouts.monitorMs,
          onSpawn: (pid, qmpDir) =>
            plan.recordDest({ pid, pidStart: readProcStat(pid)?.startTime, runDir, monitor: path.join(runDir, 'monitor.sock'), qmpDir }),
        }).start(o);
        restrictSockets(runDir);
        let adopted = false;
        const dst: LocalDestination = {
          ...h,
          runDir,
          command,
          stderr: () => readLogSince(logFile, offset),
          kill: async () => {
            if (adopted) return;
            await h.kill();
            rmSync(runDir, { recursive: true, force: true });
          },
          adopt: async () => {
            adopted = true;
            await h.monitor.close();
            h.detach();
            // Its extra QMP socket is not needed any more (the domain's monitor is RUNDIR/monitor.sock).
            rmSync(h.dir, { recursive: true, force: true });
          },
        };
        return dst;
      } catch (e) {
        rmSync(runDir, { recursive: true, force: true });
        throw e;
      }
    },
  };
}

// ---- the migration -------------------------------------------------------------------------------

/** `migrate NAME local`, under the domain lock; see the file comment. */
export function migrateDomainLocal(ctx: DriverContext, ref: string, opts: MigrateLocalOptions = {}): Promise<MigrateLocalResult> {
  return withDomainLock(ctx, ref, 'migrate', async (info) => {
    const { store } = ctx;
    const st = info.status;
    if (!info.active || info.pid === undefined || !st?.monitor || !st.runDir) throw new OperationInvalidError('domain is not running');
    const liveXml = store.readLiveXml(info.name);
    const xml = liveXml ?? store.readConfig(info.name);
    if (xml === undefined) throw new OperationInvalidError('domain is not running');
    const source = liveXml !== undefined ? store.livePath(info.name) : store.configPath(info.name);
    const live = parseDomainXml(xml, { source, inactive: false });
    const blocker = migrationBlocker(live) ?? localMigrationBlocker(live, recordedHostdevs(st).map((h) => h.address));
    if (blocker) throw blocker;
    const primaries = failoverPrimaries(live);

    const t = ctx.timeouts;
    let mon: Monitor;
    try {
      // (an abort meanwhile is seen by migrateFailover: 'migration not started')
      mon = await Monitor.connect(st.monitor, { timeoutMs: t.monitorMs, retryRefused: false });
    } catch (e) {
      throw new OperationFailedError(`cannot reach the QEMU monitor of domain '${info.name}': ${errText(e)}`, { cause: e });
    }
    try {
      const kvm = await mon.execute<{ enabled: boolean }>('query-kvm', undefined, { timeoutMs: t.monitorMs });
      const binary = findEmulator(live.devices) ?? ctx.defaultBinary;
      // The migration record: whoever finds it after we died settles the migration (reconcile.ts).
      const run = await mon.execute<{ status: string }>('query-status', undefined, { timeoutMs: t.monitorMs });
      const record: MigrationRecord = {
        id: randomBytes(4).toString('hex'),
        owner: { pid: process.pid, start: selfStartTime() },
        sourceRunning: run.status === 'running' || (!!opts.resume && run.status === 'paused'),
        ...(primaries.length ? { primaries: primaries.map((p) => p.id) } : {}),
      };
      const writeRecord = (m: MigrationRecord | undefined): void => {
        const now = store.readStatus(info.name);
        if (!now || now.pid !== info.pid) return;
        const { migration: _old, ...rest } = now;
        store.writeStatus(m ? { ...rest, migration: m } : rest);
      };
      const plan: Plan = {
        info,
        name: info.name,
        uuid: info.uuid,
        xml,
        source,
        caps: await ctx.probeCaps(binary),
        accel: kvm.enabled ? 'kvm' : 'tcg',
        srcRunDir: st.runDir,
        recordDest: (dest) => {
          writeRecord({ ...record, dest });
          appendLog(store.logPath(info.name), `${logTimestamp()}: migration ${record.id}: destination pid ${dest.pid} (migrate pid ${process.pid})`);
        },
      };
      checkSameCommand(plan, await buildFor(ctx, plan, st.runDir, false), info.pid);

      writeRecord(record);
      let result;
      try {
        result = await migrateFailover<LocalDestination>({
          source: mon,
          primaries,
          destination: localLauncher(ctx, plan),
          unplugTimeoutMs: opts.unplugTimeoutMs,
          requireFailover: opts.requireFailover,
          resume: opts.resume,
          timeoutMs: opts.timeoutMs,
          maxDowntimeMs: opts.maxDowntimeMs,
          bandwidthMiBs: opts.bandwidthMiBs,
          signal: opts.signal,
          onProgress: opts.onProgress,
        });
      } catch (e) {
        writeRecord(undefined); // settled here: the source keeps the guest, the destination is gone
        throw e;
      }
      const domain = await adopt(ctx, plan, result.destination.handle, mon, record);
      return { result: result as MigrationResult, domain };
    } finally {
      await mon.close();
    }
  });
}

/**
 * The destination becomes the domain: records first (a crash of ours from here on leaves the
 * guest's QEMU tracked), then the source, paused in 'postmigrate', is told to quit.
 */
async function adopt(ctx: DriverContext, plan: Plan, dst: LocalDestination, srcMon: Monitor, record: MigrationRecord): Promise<DomainSummary> {
  const { store } = ctx;
  const t = ctx.timeouts;
  const { info } = plan;
  const pidStart = readProcStat(dst.pid)?.startTime;
  store.writePidfile(plan.name, dst.pid);
  store.writeStatus({
    name: plan.name,
    uuid: plan.uuid,
    id: info.id,
    pid: dst.pid,
    pidStart,
    binary: dst.command.binary,
    runDir: dst.runDir,
    monitor: path.join(dst.runDir, 'monitor.sock'),
    startedAt: new Date().toISOString(),
    state: 'running',
    reason: 'migrated',
    // The host devices stay prepared: whoever stops the new QEMU gives them back.
    ...(recordedHostdevs(info.status).length ? { hostdevs: recordedHostdevs(info.status) } : {}),
    // Until the source has quit: if we die meanwhile, the next command ends it (reconcile.ts).
    migration: { ...record, leftSource: { pid: info.pid!, pidStart: info.status?.pidStart, runDir: plan.srcRunDir } },
  });
  await dst.adopt();
  appendLog(store.logPath(plan.name), `${logTimestamp()}: migrated from pid ${info.pid} to pid ${dst.pid}`);

  const srcPid = info.pid!;
  const srcStart = info.status?.pidStart;
  await srcMon.execute('quit', undefined, { timeoutMs: t.monitorMs }).catch(() => undefined);
  // QEMU exits right after answering 'quit': wait on the monitor closing, and look at /proc
  // often meanwhile — this wait is part of every migration's wall time.
  await Promise.race([srcMon.onClose, new Promise((r) => setTimeout(r, t.monitorMs).unref())]);
  const gone = await waitForExit(srcPid, srcStart, { timeoutMs: t.exitAfterShutdownMs, pollIntervalMs: Math.min(t.pollMs, 2) });
  if (!gone) await terminateProcess(srcPid, srcStart, { termTimeoutMs: t.termMs, killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs });
  if (plan.srcRunDir !== dst.runDir && path.dirname(plan.srcRunDir) === store.runtimeDir) {
    rmSync(plan.srcRunDir, { recursive: true, force: true });
  }
  const adopted = store.readStatus(plan.name);
  if (adopted?.pid === dst.pid && adopted.migration) {
    const { migration: _done, ...rest } = adopted;
    store.writeStatus(rest);
  }

  const now = inspectDomain(ctx, plan.name);
  if (!now?.active || !isOurQemu(dst.pid, pidStart, plan.uuid)) {
    throw new OperationFailedError(
      `domain '${plan.name}' was migrated but its new QEMU (pid ${dst.pid}) is not running any more; see ${store.logPath(plan.name)}`,
    );
  }
  const out: DomainSummary = {
    name: now.name,
    uuid: now.uuid,
    state: now.state,
    reason: now.reason,
    persistent: now.persistent,
    active: true,
    pid: dst.pid,
  };
  if (now.id !== undefined) out.id = now.id;
  return out;
}
