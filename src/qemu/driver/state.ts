// What state a domain is really in. The records in the runtime dir say what we last did;
// the process table and QEMU itself say what is true now (QEMU may have been killed, or
// may have paused itself). Readers never need the domain lock; when they find a record whose
// QEMU is gone, they clean it up if the lock happens to be free.
import { NoDomainError } from '../../util/errors.js';
import type { QemuCaps } from '../caps/index.js';
import { Monitor } from '../monitor/index.js';
import { appendLog, isOurQemu, logTimestamp, waitForExit } from './process.js';
import { type DomainStateName, type DomainStatus, type DomainStore, peekNameUuid } from './store.js';
import { validateDomainName } from './store-paths.js';
import type { Domain } from '../../conf/domain.js';
import type { DomainSummary } from '../../conf/domain-state.js';
import { type HostdevClaim, type HostdevHostOptions, recordedHostdevs, releaseHostdevs, withoutHostdevs } from './hostdev.js';
import { recordedPorts } from './ports.js';
import type { NetworkDriver } from './network-driver.js';
import { releasePorts } from './network-ports.js';
import type { NetworkResolver } from '../command/index.js';

/** The argv to run: environment, binary, arguments (command-render.ts's QemuCommand). */
export interface QemuCommandLine {
  env: [string, string][];
  binary: string;
  args: string[];
}

export type CommandBuilder = (
  dom: Domain,
  caps: QemuCaps,
  opts: { runtimeDir: string; accel: 'kvm' | 'tcg'; networks?: NetworkResolver },
) => QemuCommandLine | Promise<QemuCommandLine>;

/**
 * libvirt's post-parse (defaults, implicit devices, PCI addresses): at define (`define`
 * true, libvirt's PARSE_ABI_UPDATE), and again on the stored definition at start, as libvirt
 * does whenever it reads a definition back (idempotent on canonical XML).
 */
export type PostParser = (dom: Domain, caps: QemuCaps, opts: { define: boolean }) => void | Promise<void>;

export interface DriverTimeouts {
  /** QMP socket + handshake at start (default 30 s). */
  monitorMs: number;
  /** Asking a running QEMU for its state in list/domstate (default 1 s; the record is used after). */
  stateQueryMs: number;
  /** SIGTERM grace (default 10 s) and SIGKILL wait (default 5 s), as libvirt. */
  termMs: number;
  killMs: number;
  /** After the guest powered off and QEMU was told to `quit`, how long it gets to exit (default 5 s). */
  exitAfterShutdownMs: number;
  /** /proc poll interval while waiting for a non-child process to exit (default 20 ms). */
  pollMs: number;
}

export const DEFAULT_TIMEOUTS: DriverTimeouts = {
  monitorMs: 30_000,
  stateQueryMs: 1_000,
  termMs: 10_000,
  killMs: 5_000,
  exitAfterShutdownMs: 5_000,
  pollMs: 20,
};

export interface DriverContext {
  store: DomainStore;
  /** QEMU binary for domains without <emulator>. */
  defaultBinary: string;
  probeCaps(binary: string): Promise<QemuCaps>;
  buildCommand: CommandBuilder | undefined;
  postParse: PostParser | undefined;
  chooseAccel(dom: Domain, binary: string): Promise<'kvm' | 'tcg'>;
  timeouts: DriverTimeouts;
  /** sysfs, ip(8) and sysfs writes for PCI hostdevs (driver-hostdev.ts); default the real host. */
  host?: HostdevHostOptions;
  /** The network driver whose ports <interface type='network'> gets at start. */
  networks?: NetworkDriver;
}

/** A domain as list/domstate report it. */
export type { DomainSummary } from '../../conf/domain-state.js';

export interface Inspected extends DomainSummary {
  status?: DomainStatus;
  /** The record says QEMU runs, but it does not (killed, crashed, pid reused). */
  stale: boolean;
}

/** QEMU's run state (query-status) -> libvirt state and reason. */
export function qmpStatusToState(status: string): { state: DomainStateName; reason: string } {
  switch (status) {
    case 'running':
      return { state: 'running', reason: 'unknown' };
    case 'paused':
      return { state: 'paused', reason: 'user' };
    case 'prelaunch':
      return { state: 'paused', reason: 'starting up' };
    case 'io-error':
      return { state: 'paused', reason: 'I/O error' };
    case 'watchdog':
      return { state: 'paused', reason: 'watchdog' };
    case 'guest-panicked':
      return { state: 'paused', reason: 'crashed' };
    case 'inmigrate':
    case 'postmigrate':
    case 'finish-migrate':
      return { state: 'paused', reason: 'migrating' };
    case 'save-vm':
      return { state: 'paused', reason: 'saving' };
    case 'shutdown':
      return { state: 'paused', reason: 'shutting down' };
    case 'suspended':
      return { state: 'pmsuspended', reason: 'unknown' };
    default:
      return { state: 'paused', reason: 'unknown' };
  }
}

/** Asks QEMU for its run state; undefined when it does not answer in time (busy monitor). */
export async function queryRunStatus(monitorPath: string, timeoutMs: number): Promise<string | undefined> {
  let mon: Monitor | undefined;
  try {
    mon = await Monitor.connect(monitorPath, { timeoutMs, retryRefused: false });
    const r = await mon.execute<{ status: string }>('query-status', undefined, { timeoutMs });
    return r.status;
  } catch {
    return undefined;
  } finally {
    await mon?.close();
  }
}

/** The domain's state from its records and the process table (no QMP). */
export function inspectDomain(ctx: DriverContext, name: string): Inspected | undefined {
  const { store } = ctx;
  const xml = store.readConfig(name);
  let uuid: string | undefined;
  if (xml !== undefined) {
    try {
      uuid = peekNameUuid(xml).uuid;
    } catch {
      uuid = undefined;
    }
  }
  const status = store.readStatus(name);
  const persistent = xml !== undefined;
  const recordActive = !!status && status.state !== 'shutoff' && status.pid !== undefined;
  if (!persistent && !recordActive) return undefined;
  const base = { name, uuid: status?.uuid ?? uuid ?? '', persistent };
  if (recordActive && status) {
    if (isOurQemu(status.pid, status.pidStart, status.uuid)) {
      return { ...base, id: status.id, state: status.state, reason: status.reason, active: true, pid: status.pid, status, stale: false };
    }
    return { ...base, uuid: uuid ?? status.uuid, state: 'shutoff', reason: 'crashed', active: false, status, stale: true };
  }
  return { ...base, state: 'shutoff', reason: status?.reason ?? 'unknown', active: false, status, stale: false };
}

/** inspectDomain, refined by asking QEMU (a paused or powered-off guest), and stale records reaped. */
export async function observeDomain(ctx: DriverContext, name: string): Promise<Inspected | undefined> {
  const info = inspectDomain(ctx, name);
  if (!info) return undefined;
  if (info.stale) {
    await reapIfFree(ctx, name);
    return info;
  }
  if (info.active && info.status?.monitor) {
    const qs = await queryRunStatus(info.status.monitor, ctx.timeouts.stateQueryMs);
    if (qs === 'shutdown' && (await reapPoweredOff(ctx, name))) {
      return { ...info, id: undefined, pid: undefined, active: false, state: 'shutoff', reason: 'shutdown' };
    }
    if (qs !== undefined) {
      const live = qmpStatusToState(qs);
      if (live.state !== info.state || (live.state !== 'running' && live.reason !== info.reason)) {
        return { ...info, state: live.state, reason: live.state === 'running' ? 'unpaused' : live.reason };
      }
    }
  }
  return info;
}

/**
 * The guest powered itself off; QEMU (-no-shutdown) waits in state 'shutdown' for someone to
 * end it, as libvirtd would. Done here when the domain lock is free; true when it is off now.
 */
async function reapPoweredOff(ctx: DriverContext, name: string): Promise<boolean> {
  const lock = await ctx.store.tryLockDomain(name, 'reap').catch(() => undefined);
  if (!lock) return false;
  let mon: Monitor | undefined;
  try {
    const info = inspectDomain(ctx, name);
    if (!info?.active || !info.status?.monitor || info.pid === undefined) return false;
    const t = ctx.timeouts;
    mon = await Monitor.connect(info.status.monitor, { timeoutMs: t.stateQueryMs, retryRefused: false });
    const st = await mon.execute<{ status: string }>('query-status', undefined, { timeoutMs: t.stateQueryMs });
    if (st.status !== 'shutdown') return false;
    await mon.execute('quit', undefined, { timeoutMs: t.stateQueryMs }).catch(() => undefined);
    if (!(await waitForExit(info.pid, info.status.pidStart, { timeoutMs: t.exitAfterShutdownMs, pollIntervalMs: t.pollMs }))) return false;
    await recordStopped(ctx, info, 'shutdown');
    return true;
  } catch {
    return false;
  } finally {
    await mon?.close();
    lock.release();
  }
}

/** Cleans up a stale record when nobody holds the domain lock; otherwise leaves it to them. */
export async function reapIfFree(ctx: DriverContext, name: string): Promise<void> {
  let lock;
  try {
    lock = await ctx.store.tryLockDomain(name, 'reap');
  } catch {
    return;
  }
  if (!lock) return;
  try {
    const again = inspectDomain(ctx, name);
    if (again?.stale) await recordStopped(ctx, again, 'crashed');
    else if (again && !again.active) await releaseLeftoverHostdevs(ctx, again);
  } finally {
    lock.release();
  }
}

/**
 * After QEMU is gone: gives its PCI host devices back (driver-hostdev.ts), removes pidfile, live XML
 * and sockets, notes it in the log and records `shut off (reason)`; a transient domain disappears.
 * Call with the domain lock held.
 */
export async function recordStopped(ctx: DriverContext, info: Inspected, reason: string): Promise<void> {
  const { store } = ctx;
  await releaseRecordedHostdevs(ctx, info);
  await releaseRecordedPorts(ctx, info);
  store.removeRunFiles(info.name, info.status?.runDir);
  appendLog(store.logPath(info.name), `${logTimestamp()}: shutting down, reason=${reason}`);
  if (store.hasConfig(info.name)) {
    store.writeStatus({ name: info.name, uuid: info.uuid, state: 'shutoff', reason });
  } else {
    store.removeStatus(info.name);
  }
}

/** Releases the PCI host devices the record of `info` lists (nothing when none); problems go to the log. */
async function releaseRecordedHostdevs(ctx: DriverContext, info: Inspected): Promise<boolean> {
  const hostdevs = recordedHostdevs(info.status);
  if (hostdevs.length === 0) return false;
  const problems = await releaseHostdevs(ctx.host ?? {}, hostdevs);
  const log = ctx.store.logPath(info.name);
  for (const p of problems) appendLog(log, `${logTimestamp()}: ${p}`);
  return true;
}

/** Releases the network ports the record of `info` lists (nothing when none). */
async function releaseRecordedPorts(ctx: DriverContext, info: Inspected): Promise<boolean> {
  const ports = recordedPorts(info.status);
  if (ports.length === 0) return false;
  if (ctx.networks) await releasePorts(ctx.networks, ports);
  return true;
}

/**
 * A domain that is not running but whose record still lists PCI host devices or network ports (we
 * died between preparing them and starting QEMU): give them back and drop the lists. Call with its
 * lock held.
 */
export async function releaseLeftoverHostdevs(ctx: DriverContext, info: Inspected): Promise<void> {
  if (info.active || info.stale || !info.status) return;
  const hostdevs = await releaseRecordedHostdevs(ctx, info);
  const ports = await releaseRecordedPorts(ctx, info);
  if (hostdevs || ports) {
    const rest = withoutHostdevs(info.status);
    delete rest.ports;
    ctx.store.writeStatus(rest);
  }
}

/**
 * The PCI host devices other domains hold (for the in-use check of a start). A record left by a
 * QEMU that is gone, or by a start that died, is cleaned up first when its domain lock is free; a
 * domain whose lock is held (being started or stopped) keeps what its record lists.
 */
export async function hostdevClaims(ctx: DriverContext, except: string): Promise<HostdevClaim[]> {
  const claims: HostdevClaim[] = [];
  for (const name of allDomainNames(ctx)) {
    if (name === except) continue;
    let info = inspectDomain(ctx, name);
    if (recordedHostdevs(info?.status).length === 0) continue;
    if (!info?.active) {
      await reapIfFree(ctx, name);
      info = inspectDomain(ctx, name);
    }
    const hostdevs = recordedHostdevs(info?.status);
    if (hostdevs.length) claims.push({ domain: name, hostdevs });
  }
  return claims;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A domain reference as virsh takes it: an id (active domains), a UUID, or a name.
 * Throws NoDomainError like libvirt's lookups.
 */
export function lookupDomain(ctx: DriverContext, ref: string): Inspected {
  const { store } = ctx;
  const names = new Set([...store.configNames(), ...store.statusNames()]);
  if (/^\d+$/.test(ref)) {
    const id = Number(ref);
    for (const n of names) {
      const i = inspectDomain(ctx, n);
      if (i?.active && i.id === id) return i;
    }
  }
  if (UUID_RE.test(ref) || /^[0-9a-f]{32}$/i.test(ref)) {
    const want = normalizeUuid(ref);
    for (const n of names) {
      const i = inspectDomain(ctx, n);
      if (i && i.uuid === want) return i;
    }
  }
  let valid = true;
  try {
    validateDomainName(ref);
  } catch {
    valid = false;
  }
  const byName = valid ? inspectDomain(ctx, ref) : undefined;
  if (byName) return byName;
  if (/^\d+$/.test(ref)) throw new NoDomainError(`no domain with matching id ${ref}`);
  if (UUID_RE.test(ref)) throw new NoDomainError(`no domain with matching uuid '${normalizeUuid(ref)}'`);
  throw new NoDomainError(`no domain with matching name '${ref}'`);
}

/** libvirt's UUID form: 32 hex digits, dashes optional on input, lowercase 8-4-4-4-12 out. */
export function normalizeUuid(raw: string): string {
  const hex = raw.trim().replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return raw.trim();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Every known domain name (definitions and started transient ones). */
export function allDomainNames(ctx: DriverContext): string[] {
  return [...new Set([...ctx.store.configNames(), ...ctx.store.statusNames()])].sort();
}
