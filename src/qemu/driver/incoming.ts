// The destination's side of a migration between hosts (what `agent --stdio` drives): refuse before anything
// starts, start one incoming QEMU per attempt, and either take the domain over once the guest runs here, or
// give back everything and leave the host as it was found.
//
// prepare, under the domain lock (held until finish or abort), refuses with libvirt's messages:
//   a domain of that name or UUID running here (or defined here with another UUID / name),
//   no failover-capable QEMU (when the guest has failover pairs), the machine type missing,
//   a disk source missing (storage is shared, never copied), the --persistent definition invalid here.
// Then it claims host resources: the PCI host devices the definition names (vfio-pci, MAC/VLAN via the PF),
// as start does. A hostdev network's pool port (a free VF of that pool) is claimed at this same step
// once pools exist; release() gives back whatever it claimed.
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants as fsc, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Domain, formatDomain, parseDomainXml } from '../../conf/domain.js';
import { findEmulator } from '../../conf/emulator.js';
import { validateDomain } from '../../conf/validate.js';
import { ConfigUnsupportedError, OperationFailedError, OperationInvalidError, SystemError } from '../../util/errors.js';
import { readProcStat } from '../../util/proc.js';
import { checkFailoverSupport, findMachine, type QemuCaps } from '../caps/index.js';
import { renderShellLine } from '../command/index.js';
import { type ProcessDestination, processDestinationLauncher } from '../migration/index.js';
import { validateDomainForQemu } from '../postparse/index.js';
import { type PreparedHostdev, prepareHostdevs, releaseHostdevs, wantedHostdevs } from './hostdev.js';
import type { HeldLock } from './lock.js';
import { type Plan, buildFor, errText, failoverPrimaries } from './migrate.js';
import { appendLog, logTimestamp } from './process.js';
import { type DomainSummary, type DriverContext, type QemuCommandLine, allDomainNames, hostdevClaims, inspectDomain, normalizeUuid } from './state.js';
import type { DomainStatus } from './store.js';
import { checkSocketPath, validateDomainName } from './store-paths.js';

export interface IncomingRequest {
  name: string;
  uuid: string;
  /** The live XML the source's QEMU was built from (aliases, addresses). */
  xml: string;
  /** The accelerator the source's QEMU really uses; the destination uses the same. */
  accel: 'kvm' | 'tcg';
  /** --persistent: the definition to store here once the guest runs here. */
  persistentXml?: string;
  /** --tunnelled: listen on a unix socket in the attempt's private dir (reached through ssh) instead of TCP. */
  tunnelled?: boolean;
  /** For the log: where the guest comes from. */
  from?: string;
}

export interface IncomingOptions {
  /** TCP address QEMU listens on for the stream (this host's address on the source's path). */
  listenHost: string;
}

/** One started destination QEMU, listening for the stream. */
export interface IncomingAttempt {
  attempt: number;
  /** `tcp:HOST:PORT`, or `unix:PATH` on this host when tunnelled. */
  uri: string;
  /** When tunnelled: the socket the source's ssh forwards to. */
  socket?: string;
  handle: ProcessDestination;
  runDir: string;
  command: QemuCommandLine;
}

function uuidOf(dom: Domain, fallback: string): string {
  return normalizeUuid(dom.uuid ?? fallback);
}

/** libvirt's refusals for a name or UUID already taken here (virDomainObjListAdd with CHECK_LIVE). */
function checkNameAndUuid(ctx: DriverContext, name: string, uuid: string): void {
  for (const other of allDomainNames(ctx)) {
    const i = inspectDomain(ctx, other);
    if (!i) continue;
    if (i.uuid === uuid && other !== name) throw new OperationFailedError(`domain '${other}' is already defined with uuid ${uuid}`);
    if (other !== name) continue;
    if (i.active) throw new OperationInvalidError(`domain '${name}' is already active`);
    if (i.uuid && i.uuid !== uuid) throw new OperationFailedError(`domain '${name}' already exists with uuid ${i.uuid}`);
  }
}

/** Shared storage is assumed: every disk source must already be here (libvirt's message). */
function checkDiskSources(dom: Domain): void {
  for (const d of dom.devices) {
    if (d.kind !== 'disk') continue;
    const disk = d as { type?: string; source?: { path?: string } };
    const p = disk.source?.path;
    if ((disk.type !== 'file' && disk.type !== 'block') || !p) continue;
    try {
      accessSync(p, fsc.F_OK);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : errText(e);
      throw new SystemError(`Cannot access storage file '${p}' (as uid:${process.getuid?.() ?? 0}, gid:${process.getgid?.() ?? 0}): ${why}`);
    }
  }
}

export class IncomingMigration {
  readonly name: string;
  readonly uuid: string;
  #ctx: DriverContext;
  #req: IncomingRequest;
  #opts: IncomingOptions;
  #lock: HeldLock;
  #plan: Plan;
  #id: number;
  #definition: string | undefined;
  #hostdevs: PreparedHostdev[] = [];
  #priorStatus: DomainStatus | undefined;
  #attempt: IncomingAttempt | undefined;
  #attempts = 0;
  #done: 'finished' | 'aborted' | undefined;

  private constructor(ctx: DriverContext, req: IncomingRequest, opts: IncomingOptions, lock: HeldLock, plan: Plan, id: number) {
    this.#ctx = ctx;
    this.#req = req;
    this.#opts = opts;
    this.#lock = lock;
    this.#plan = plan;
    this.#id = id;
    this.name = plan.name;
    this.uuid = plan.uuid;
  }

  /** Checks everything that can be checked before a QEMU starts; see the file comment. */
  static async prepare(ctx: DriverContext, req: IncomingRequest, opts: IncomingOptions): Promise<IncomingMigration> {
    const dom = parseDomainXml(req.xml, { inactive: false });
    validateDomainName(dom.name);
    const uuid = uuidOf(dom, req.uuid);
    const lock = await ctx.store.lockDomain(dom.name, 'incoming migration');
    let claimed: IncomingMigration | undefined;
    try {
      checkNameAndUuid(ctx, dom.name, uuid);
      const binary = findEmulator(dom.devices) ?? ctx.defaultBinary;
      const caps: QemuCaps = await ctx.probeCaps(binary);
      if (failoverPrimaries(dom).length) checkFailoverSupport(caps);
      const machine = dom.os.machine;
      if (machine && !findMachine(caps, req.accel, machine)) {
        throw new ConfigUnsupportedError(`Emulator '${caps.binary}' does not support machine type '${machine}'`);
      }
      checkDiskSources(dom);
      let definition: string | undefined;
      if (req.persistentXml !== undefined) definition = await canonicalDefinition(ctx, req.persistentXml, uuid);
      const info = { name: dom.name, uuid, state: 'shutoff' as const, reason: 'migrating', persistent: false, active: false, stale: false };
      const id = await ctx.store.allocateId();
      const plan: Plan = { info: { ...info, id }, name: dom.name, uuid, xml: req.xml, source: `${dom.name} (incoming)`, caps, accel: req.accel, srcRunDir: '',
        // (no record: the agent holds the lock until finish or abort, and gives everything back itself)
        recordDest: () => undefined,
      };
      // The argv once, with a placeholder dir: a definition this host cannot run is refused now.
      await buildFor(ctx, plan, path.join(ctx.store.runtimeDir, `${uuid}.check`), true);
      claimed = new IncomingMigration(ctx, req, opts, lock, plan, id);
      claimed.#definition = definition;
      claimed.#priorStatus = ctx.store.readStatus(dom.name);
      await claimed.#claimHostResources(dom);
      return claimed;
    } catch (e) {
      if (claimed) await claimed.abort();
      else lock.release();
      throw e;
    }
  }

  /** PCI host devices as start claims them (pool ports will be claimed here too). */
  async #claimHostResources(dom: Domain): Promise<void> {
    const ctx = this.#ctx;
    const wanted = wantedHostdevs(dom);
    if (!wanted.length) return;
    this.#hostdevs = await prepareHostdevs(ctx.host ?? {}, wanted, {
      domain: this.name,
      lockFile: path.join(ctx.store.runtimeDir, 'locks', '.hostdev.lock'),
      claims: () => hostdevClaims(ctx, this.name),
      persist: (done) => {
        this.#hostdevs = done;
        ctx.store.writeStatus({ name: this.name, uuid: this.uuid, state: 'shutoff', reason: 'migrating', ...(done.length ? { hostdevs: done } : {}) });
      },
      log: (line) => this.#log(line),
    });
  }

  #log(line: string): void {
    appendLog(this.#ctx.store.logPath(this.name), `${logTimestamp()}: ${line}`);
  }

  /** A fresh destination QEMU listening for the stream (a failed attempt's QEMU cannot be reused). */
  async start(signal?: AbortSignal): Promise<IncomingAttempt> {
    if (this.#done) throw new OperationInvalidError(`the incoming migration of '${this.name}' is over`);
    await this.killAttempt();
    const { store, timeouts } = this.#ctx;
    const runDir = mkdtempSync(path.join(store.runtimeDir, `${this.uuid}.`));
    try {
      chmodSync(runDir, 0o700);
      checkSocketPath(path.join(runDir, 'monitor.sock'));
      writeFileSync(path.join(runDir, 'master-key.aes'), randomBytes(32), { mode: 0o600 });
      const command = await buildFor(this.#ctx, this.#plan, runDir, true);
      const logFile = store.logPath(this.name);
      appendLog(logFile, `${logTimestamp()}: starting up (incoming migration${this.#req.from ? ` from ${this.#req.from}` : ''})\n${renderShellLine(command)} -incoming defer`);
      const handle = await processDestinationLauncher({
        binary: command.binary,
        args: command.args,
        env: Object.fromEntries(command.env),
        runtimeDir: store.runtimeDir,
        logFile,
        // tunnelled: the launcher's private unix socket (DIR/migrate.sock), which the source's ssh forwards to
        ...(this.#req.tunnelled ? {} : { host: this.#opts.listenHost }),
        startTimeoutMs: timeouts.monitorMs,
      }).start({ signal });
      for (const e of readdirSync(runDir, { withFileTypes: true })) if (e.isSocket()) chmodSync(path.join(runDir, e.name), 0o600);
      const socket = handle.uri.startsWith('unix:') ? handle.uri.slice('unix:'.length) : undefined;
      this.#attempt = { attempt: ++this.#attempts, uri: handle.uri, socket, handle, runDir, command };
      return this.#attempt;
    } catch (e) {
      rmSync(runDir, { recursive: true, force: true });
      throw e;
    }
  }

  get attempt(): IncomingAttempt | undefined {
    return this.#attempt;
  }

  /** Kills the current attempt's QEMU (if any) and removes its dirs. */
  async killAttempt(): Promise<void> {
    const a = this.#attempt;
    if (!a) return;
    this.#attempt = undefined;
    await a.handle.kill();
    rmSync(a.runDir, { recursive: true, force: true });
  }

  /**
   * The guest runs here now: the QEMU becomes the domain (records as start writes them, reason
   * 'migrated'), the definition is stored with --persistent, the lock is released.
   */
  async finish(): Promise<DomainSummary> {
    const a = this.#attempt;
    if (this.#done || !a) throw new OperationInvalidError(`no incoming migration of '${this.name}' to finish`);
    const st = await a.handle.monitor.execute<{ status: string; running: boolean }>('query-status', undefined, { timeoutMs: this.#ctx.timeouts.monitorMs });
    if (!st.running) throw new OperationFailedError(`the incoming guest '${this.name}' is not running here (QEMU state '${st.status}')`);
    const { store } = this.#ctx;
    const live = parseDomainXml(this.#req.xml, { inactive: false });
    live.id = this.#id;
    store.writePidfile(this.name, a.handle.pid);
    store.writeStatus({
      name: this.name,
      uuid: this.uuid,
      id: this.#id,
      pid: a.handle.pid,
      pidStart: readProcStat(a.handle.pid)?.startTime,
      binary: a.command.binary,
      runDir: a.runDir,
      monitor: path.join(a.runDir, 'monitor.sock'),
      startedAt: new Date().toISOString(),
      state: 'running',
      reason: 'migrated',
      ...(this.#hostdevs.length ? { hostdevs: this.#hostdevs } : {}),
    });
    store.writeLiveXml(this.name, formatDomain(live));
    this.#done = 'finished';
    this.#attempt = undefined;
    await a.handle.monitor.close();
    a.handle.detach();
    rmSync(a.handle.dir, { recursive: true, force: true });
    this.#log(`incoming migration finished: pid ${a.handle.pid}`);
    try {
      if (this.#definition !== undefined) await store.defineConfig(this.name, this.uuid, this.#definition);
    } finally {
      this.#lock.release();
    }
    return { name: this.name, uuid: this.uuid, id: this.#id, state: 'running', reason: 'migrated', persistent: store.hasConfig(this.name), active: true, pid: a.handle.pid };
  }

  /** Gives back everything (QEMU, dirs, host devices, records as they were, the lock). Idempotent. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = 'aborted';
    try {
      await this.killAttempt();
      if (this.#hostdevs.length) for (const line of await releaseHostdevs(this.#ctx.host ?? {}, this.#hostdevs)) this.#log(line);
      const { store } = this.#ctx;
      if (this.#hostdevs.length || (store.readStatus(this.name) && !this.#priorStatus)) {
        if (this.#priorStatus) store.writeStatus(this.#priorStatus);
        else store.removeStatus(this.name);
      }
      this.#hostdevs = [];
    } finally {
      this.#lock.release();
    }
  }
}

/** What define stores for `xml` on this host (parse, post-parse, validate, canonical form). */
export async function canonicalDefinition(ctx: DriverContext, xml: string, uuid?: string): Promise<string> {
  const dom = parseDomainXml(xml, { inactive: true });
  validateDomainName(dom.name);
  if (uuid !== undefined) dom.uuid = uuid;
  let caps: QemuCaps | undefined;
  if (ctx.postParse) {
    caps = await ctx.probeCaps(findEmulator(dom.devices) ?? ctx.defaultBinary);
    await ctx.postParse(dom, caps, { define: true });
  }
  validateDomain(dom);
  validateDomainForQemu(dom, caps);
  return formatDomain(dom);
}
