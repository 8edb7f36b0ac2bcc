// start / shutdown / destroy. Each runs under the domain lock.
//
// start, libvirt style: QEMU is started paused (-S), detached (own session; no -daemonize),
// stdout/stderr appended to NAME.log; pidfile and status record are written as soon as the
// pid is known (so a crash of ours is detectable), then the QMP socket is awaited (inotify,
// deadline, aborted if QEMU exits), query-status, `cont`, and the record says running.
// Any failure kills that QEMU and reports QEMU's last log lines the way libvirt does:
//   internal error: process exited while connecting to monitor: <log tail>
//   internal error: QEMU unexpectedly closed the monitor (vm='NAME'): <log tail>
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDomainXml } from '../../conf/domain.js';
import { findEmulator } from '../../conf/emulator.js';
import { InternalError, OperationFailedError, OperationInvalidError, SystemError } from '../../util/errors.js';
import { applyAliases, assignAliases } from '../command/index.js';
import { renderShellLine } from '../command/index.js';
import { Monitor, QmpDisconnectedError } from '../monitor/index.js';
import { waitForSocket } from '../monitor/index.js';
import { appendLog, logTimestamp, openLog, readLogSince, spawnDetached, terminateProcess, waitForExit } from './process.js';
import { checkSocketPath } from './store-paths.js';
import { endUnrecordedQemus, reconcileMigration } from './reconcile.js';
import {
  type DriverContext,
  type Inspected,
  hostdevClaims,
  inspectDomain,
  lookupDomain,
  recordStopped,
  releaseLeftoverHostdevs,
} from './state.js';
import { type PreparedHostdev, type WantedHostdev, pciHostdevAddresses, prepareHostdevs, releaseHostdevs, wantedHostdevs } from './hostdev.js';
import { type DomainPort, allocateDomainPorts, hasNetworkInterfaces, portHeld } from './ports.js';
import { releasePorts } from './network-ports.js';
import type { NetworkResolver } from '../command/index.js';
import { formatDomain } from '../../conf/domain.js';

export interface StartResult {
  name: string;
  uuid: string;
  id: number;
  pid: number;
  accel: 'kvm' | 'tcg';
  log: string;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Takes the domain lock for `ref`, re-reads the state under it, runs `fn`, releases. */
export async function withDomainLock<T>(ctx: DriverContext, ref: string, op: string, fn: (info: Inspected) => Promise<T>): Promise<T> {
  const name = lookupDomain(ctx, ref).name;
  const lock = await ctx.store.lockDomain(name, op);
  try {
    // What a killed `migrate` or `start` left is settled first (reconcile.ts).
    await reconcileMigration(ctx, name);
    let info = inspectDomain(ctx, name) ?? lookupDomain(ctx, name); // throws: gone meanwhile
    if (info.stale) {
      await recordStopped(ctx, info, 'crashed');
      info = inspectDomain(ctx, name) ?? lookupDomain(ctx, name);
    }
    for (const pid of await endUnrecordedQemus(ctx, info.uuid, info.status)) {
      appendLog(ctx.store.logPath(name), `${logTimestamp()}: ended QEMU pid ${pid}, which no record named (its starter was killed)`);
    }
    return await fn(info);
  } finally {
    lock.release();
  }
}

export async function startDomain(ctx: DriverContext, ref: string): Promise<StartResult> {
  return withDomainLock(ctx, ref, 'start', async (info) => {
    if (info.active) throw new OperationInvalidError('domain is already running');
    const { store } = ctx;
    await releaseLeftoverHostdevs(ctx, info);
    const xml = store.readConfig(info.name);
    if (xml === undefined) throw new OperationInvalidError('domain is not defined');
    if (!ctx.buildCommand) {
      throw new OperationInvalidError('cannot start domains: the QEMU command-line builder is not available in this build');
    }
    // Two copies of the definition: the live one (id, aliases) for the live XML, and the one
    // the command line is built from, whose type says which accelerator QEMU gets.
    const source = store.configPath(info.name);
    const dom = parseDomainXml(xml, { source });
    const forCmd = parseDomainXml(xml, { source });
    const uuid = dom.uuid ?? info.uuid;
    const binary = findEmulator(dom.devices) ?? ctx.defaultBinary;
    const caps = await ctx.probeCaps(binary);
    for (const d of [dom, forCmd]) await ctx.postParse?.(d, caps, { define: false });
    const accel = await ctx.chooseAccel(dom, binary);
    forCmd.type = accel === 'kvm' ? 'kvm' : 'qemu';

    const runDir = store.runDirFor(uuid);
    checkSocketPath(path.join(runDir, 'monitor.sock'));
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    // The master key QEMU's -object secret,id=masterKey0 reads (libvirt: 32 random bytes).
    writeFileSync(path.join(runDir, 'master-key.aes'), randomBytes(32), { mode: 0o600 });

    const id = await store.allocateId();
    dom.id = id;
    forCmd.id = id;
    applyAliases(assignAliases(dom));
    let cmd;
    const logFile = store.logPath(info.name);
    // Network ports first (a hostdev network's port is a VF), then PCI host devices (vfio-pci, VF
    // MAC/VLAN), last before QEMU runs; what was taken stays in the status record until
    // recordStopped gives it back.
    let hostdevs: PreparedHostdev[] = [];
    let ports: DomainPort[] = [];
    const runtimeExtras = (h: PreparedHostdev[], p: DomainPort[]) => ({ ...(h.length ? { hostdevs: h } : {}), ...(p.length ? { ports: p } : {}) });
    const writeShutoff = (h: PreparedHostdev[], p: DomainPort[]) =>
      store.writeStatus({ name: info.name, uuid, state: 'shutoff', reason: info.reason, ...runtimeExtras(h, p) });
    const log = (line: string) => appendLog(logFile, `${logTimestamp()}: ${line}`);
    try {
      let networks: NetworkResolver | undefined;
      let portHostdevs: WantedHostdev[] = [];
      if (ctx.networks && hasNetworkInterfaces(dom)) {
        const claims = await hostdevClaims(ctx, info.name);
        const excluded = new Set([...claims.flatMap((c) => c.hostdevs.map((h) => h.address)), ...pciHostdevAddresses(dom)]);
        const a = await allocateDomainPorts(ctx.networks, dom, {
          owner: { name: info.name, uuid },
          excluded,
          isHeld: (p) => portHeld(ctx, info.name, p),
          persist: (p) => {
            ports = p;
            writeShutoff([], p);
          },
          log,
        });
        networks = a.resolver;
        portHostdevs = a.hostdevs;
      }
      cmd = await ctx.buildCommand(forCmd, caps, { runtimeDir: runDir, accel, ...(networks ? { networks } : {}) });
      hostdevs = await prepareHostdevs(ctx.host ?? {}, [...portHostdevs, ...wantedHostdevs(dom)], {
        domain: info.name,
        lockFile: path.join(store.runtimeDir, 'locks', '.hostdev.lock'),
        claims: () => hostdevClaims(ctx, info.name),
        persist: (done) => writeShutoff(done, ports),
        log,
      });
    } catch (e) {
      rmSync(runDir, { recursive: true, force: true });
      if (ports.length && ctx.networks) {
        await releasePorts(ctx.networks, ports);
        writeShutoff([], []);
      }
      throw e;
    }
    const args = cmd.args.includes('-S') ? [...cmd.args] : ['-S', ...cmd.args];
    const monitor = path.join(runDir, 'monitor.sock');

    let spawned;
    let offset = 0;
    try {
      const log = openLog(logFile, `${logTimestamp()}: starting up\n${renderShellLine({ ...cmd, args })}\n`);
      offset = log.offset;
      try {
        spawned = await spawnDetached({ binary: cmd.binary, args, env: cmd.env, logFd: log.fd });
      } finally {
        closeSync(log.fd);
      }
    } catch (e) {
      rmSync(runDir, { recursive: true, force: true });
      if (hostdevs.length) for (const line of await releaseHostdevs(ctx.host ?? {}, hostdevs)) log(line);
      if (ports.length && ctx.networks) await releasePorts(ctx.networks, ports);
      if (hostdevs.length || ports.length) writeShutoff([], []);
      throw e;
    }
    const { pid } = spawned;
    const record = {
      name: info.name,
      uuid,
      id,
      pid,
      pidStart: spawned.startTime,
      binary: cmd.binary,
      runDir,
      monitor,
      startedAt: new Date().toISOString(),
      ...runtimeExtras(hostdevs, ports),
    };
    let mon: Monitor | undefined;
    try {
      store.writePidfile(info.name, pid);
      store.writeStatus({ ...record, state: 'paused', reason: 'starting up' });
      const { monitorMs } = ctx.timeouts;
      try {
        await waitForSocket(monitor, { timeoutMs: monitorMs, signal: spawned.exitSignal });
        mon = await Monitor.connect(monitor, { timeoutMs: monitorMs, signal: spawned.exitSignal });
      } catch (e) {
        if (spawned.exitSignal.aborted) {
          await spawned.exited;
          throw logError('process exited while connecting to monitor', logFile, offset);
        }
        throw e;
      }
      try {
        const st = await mon.execute<{ status: string }>('query-status', undefined, { timeoutMs: monitorMs });
        if (st.status !== 'running') await mon.execute('cont', undefined, { timeoutMs: monitorMs });
      } catch (e) {
        if (e instanceof QmpDisconnectedError || spawned.exitSignal.aborted) {
          await spawned.exited;
          throw logError(`QEMU unexpectedly closed the monitor (vm='${info.name}')`, logFile, offset);
        }
        throw e;
      }
      restrictSockets(runDir);
      store.writeLiveXml(info.name, formatDomain(dom));
      store.writeStatus({ ...record, state: 'running', reason: 'booted' });
    } catch (e) {
      await mon?.close();
      if (!spawned.exitSignal.aborted) {
        spawned.child.kill('SIGKILL');
        await spawned.exited;
      }
      await recordStopped(ctx, { ...info, uuid, status: { ...record, format: 1, state: 'paused', reason: 'starting up' } }, 'failed');
      throw e;
    }
    await mon.close();
    spawned.child.unref();
    return { name: info.name, uuid, id, pid, accel, log: logFile };
  });
}

/** QEMU creates its sockets 0700 under umask 077; make them 0600 (the directory is 0700 anyway). */
function restrictSockets(runDir: string): void {
  for (const e of readdirSync(runDir, { withFileTypes: true })) {
    if (e.isSocket()) chmodSync(path.join(runDir, e.name), 0o600);
  }
}

function logError(prefix: string, logFile: string, offset: number): InternalError {
  const tail = readLogSince(logFile, offset);
  return new InternalError(tail ? `${prefix}: ${tail}` : prefix);
}

export interface ShutdownOptions {
  /** How long the guest gets to power off after the ACPI request (default 60 s; 0: do not wait). */
  timeoutMs?: number;
}

export interface StopResult {
  name: string;
  /** For shutdown with timeoutMs 0: only requested. */
  state: 'shutoff' | 'requested';
}

/**
 * ACPI power button (system_powerdown), then wait for the guest to turn off: QEMU's SHUTDOWN
 * event (or its exit), then QEMU is told to quit. A guest that ignores ACPI (no acpid,
 * firmware only) never powers off: after the deadline this fails and QEMU keeps running.
 *
 * The domain lock is held to send the request and to record the result, not while the guest
 * takes its time: meanwhile `destroy` (or anything else) may act on the domain; if it did,
 * the domain is off either way and this reports so.
 */
export async function shutdownDomain(ctx: DriverContext, ref: string, opts: ShutdownOptions = {}): Promise<StopResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const t = ctx.timeouts;
  const requested = await withDomainLock(ctx, ref, 'shutdown', async (info) => {
    if (!info.active || !info.status?.monitor || info.pid === undefined) throw new OperationInvalidError('domain is not running');
    let mon: Monitor;
    try {
      mon = await Monitor.connect(info.status.monitor, { timeoutMs: t.monitorMs, retryRefused: false });
    } catch (e) {
      throw new OperationFailedError(`cannot reach the QEMU monitor of domain '${info.name}': ${errText(e)}`, { cause: e });
    }
    try {
      const event = mon.waitEvent('SHUTDOWN', timeoutMs > 0 ? { timeoutMs } : {});
      await mon.execute('system_powerdown', undefined, { timeoutMs: t.monitorMs });
      return { info, mon, event };
    } catch (e) {
      await mon.close();
      throw e;
    }
  });
  const { info, mon, event } = requested;
  const pid = info.pid!;
  const pidStart = info.status?.pidStart;
  try {
    if (timeoutMs === 0) return { name: info.name, state: 'requested' };
    const outcome = await Promise.race([
      event.then(() => 'off' as const, () => 'timeout' as const),
      mon.onClose.then(() => 'off' as const),
    ]);
    if (outcome === 'timeout') {
      throw new OperationFailedError(
        `domain '${info.name}' did not shut down within ${Math.round(timeoutMs / 1000)} seconds: ` +
          "the guest did not act on the ACPI power button (use 'destroy' to force it off)",
      );
    }
    // The guest is off. QEMU runs with -no-shutdown (libvirt style) and stays until told to
    // quit, as libvirt does for on_poweroff=destroy; if it already left, quit just fails.
    if (mon.state === 'running') await mon.execute('quit', undefined, { timeoutMs: t.monitorMs }).catch(() => undefined);
  } finally {
    await mon.close();
  }
  const lock = await ctx.store.lockDomain(info.name, 'shutdown', { waitMs: t.termMs + t.killMs });
  try {
    // Still the QEMU we asked (not destroyed, or destroyed and started again, meanwhile)?
    const now = inspectDomain(ctx, info.name);
    if (now && now.status?.pid === pid && (now.active || now.stale)) {
      if (now.active && !(await waitForExit(pid, pidStart, { timeoutMs: t.exitAfterShutdownMs, pollIntervalMs: t.pollMs }))) {
        await terminateProcess(pid, pidStart, { termTimeoutMs: t.termMs, killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs });
      }
      await recordStopped(ctx, now, 'shutdown');
    }
    return { name: info.name, state: 'shutoff' };
  } finally {
    lock.release();
  }
}

export interface DestroyOptions {
  /** SIGTERM grace before SIGKILL (default: the driver's termMs, 10 s). */
  termTimeoutMs?: number;
}

/** SIGTERM, then SIGKILL after the grace period (libvirt's destroy); records `shut off (destroyed)`. */
export async function destroyDomain(ctx: DriverContext, ref: string, opts: DestroyOptions = {}): Promise<StopResult> {
  return withDomainLock(ctx, ref, 'destroy', async (info) => {
    if (!info.active || info.pid === undefined) throw new OperationInvalidError('domain is not running');
    const t = ctx.timeouts;
    try {
      await terminateProcess(info.pid, info.status?.pidStart, {
        termTimeoutMs: opts.termTimeoutMs ?? t.termMs,
        killTimeoutMs: t.killMs,
        pollIntervalMs: t.pollMs,
        wakeSocket: info.status?.monitor,
      });
    } catch (e) {
      if (e instanceof SystemError) throw e;
      throw new SystemError(`Failed to terminate process ${info.pid}: ${errText(e)}`, { cause: e });
    }
    await recordStopped(ctx, info, 'destroyed');
    return { name: info.name, state: 'shutoff' as const };
  });
}
