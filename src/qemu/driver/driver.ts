// The library API for domains: define / undefine / list / XML / state, start / shutdown /
// destroy. One QemuDriver per state directory; no daemon: every call reads the records,
// checks the process table, and changes a domain only under its lock (lock.ts).
//
// Undefine of a running domain follows libvirt: the definition is removed and the domain
// keeps running as a transient one, which disappears when it stops.
import { randomUUID } from 'node:crypto';
import { type Domain, formatDomain, parseDomainXml } from '../../conf/domain.js';
import { findEmulator } from '../../conf/emulator.js';
import { validateDomain } from '../../conf/validate.js';
import { OperationInvalidError, XmlError } from '../../util/errors.js';
import { probeQemuCaps } from '../caps/index.js';
import type { QemuCaps } from '../caps/index.js';
import {
  type DestroyOptions,
  type ShutdownOptions,
  type StartResult,
  type StopResult,
  destroyDomain,
  shutdownDomain,
  startDomain,
  withDomainLock,
} from './lifecycle.js';
import {
  type CommandBuilder,
  DEFAULT_TIMEOUTS,
  type DomainSummary,
  type DriverContext,
  type DriverTimeouts,
  type Inspected,
  type PostParser,
  allDomainNames,
  lookupDomain,
  normalizeUuid,
  observeDomain,
} from './state.js';
import { type MigrateLocalOptions, type MigrateLocalResult, migrateDomainLocal } from './migrate.js';
import { type PrimaryUptake, waitPrimariesEnabled } from './guest.js';
import { failoverPrimaries } from '../command/index.js';
import { type FailoverPairState, inspectFailoverPairs } from '../migration/index.js';
import { Monitor } from '../monitor/index.js';
import type { HostdevHostOptions } from './hostdev.js';
import { type MigrateOutOptions, type MigrateOutResult, type OutgoingDestination, migrateDomainOut } from './migrate-out.js';
import { type IncomingOptions, type IncomingRequest, IncomingMigration } from './incoming.js';
import { DomainStore } from './store.js';
import { NetworkDriver } from './network-driver.js';
import { NetworkStore } from './network-store.js';
import { type ResolveDirsOptions, validateDomainName } from './store-paths.js';
import { validateDomainForQemu } from '../postparse/index.js';
import { resolveExecutable } from './process.js';
import { reconcileIfFree } from './reconcile.js';
import { defaultBuildCommand, defaultChooseAccel, defaultPostParse } from './wiring.js';

export type { CommandBuilder, DomainSummary, DriverTimeouts, PostParser } from './state.js';
export type { DestroyOptions, ShutdownOptions, StartResult, StopResult } from './lifecycle.js';
export type { MigrateLocalOptions, MigrateLocalResult } from './migrate.js';
export type { PrimaryUptake } from './guest.js';
export type { HostdevHostOptions } from './hostdev.js';
export { NetworkDriver, type NetworkSummary, type DefineNetworkResult } from './network-driver.js';
export type { MigrateOutOptions, MigrateOutResult, OutgoingDestination } from './migrate-out.js';
export { IncomingMigration, type IncomingAttempt, type IncomingOptions, type IncomingRequest } from './incoming.js';
export { DOMAIN_STATE_TEXT, DomainStore, type DomainStateName, type DomainStatus } from './store.js';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface DriverOptions extends ResolveDirsOptions {
  /** QEMU for domains without <emulator> (default $VIRT_FAILOVER_QEMU or qemu-system-x86_64). */
  qemuBinary?: string;
  probeCaps?: (binary: string) => Promise<QemuCaps>;
  /** Override the argv builder (default: buildCommandLine, profile 'default'). */
  buildCommand?: CommandBuilder;
  /** Override post-parse (default: postParseDomain). */
  postParse?: PostParser;
  /** Accelerator for a domain (default: type='kvm' -> probeAccel(), else tcg). */
  chooseAccel?: (dom: Domain, binary: string) => Promise<'kvm' | 'tcg'>;
  timeouts?: Partial<DriverTimeouts>;
  /**
   * How PCI hostdevs reach the host at start/stop (vfio-pci binding, VF MAC/VLAN through the PF):
   * sysfs root, ip(8) runner, sysfs writer, deadlines. Default: the real /sys and ip.
   */
  host?: HostdevHostOptions;
}

export interface DefineResult {
  name: string;
  uuid: string;
  /** False when an existing definition was replaced. */
  created: boolean;
}

export interface UndefineResult {
  name: string;
  uuid: string;
  /** The domain was running and goes on as a transient domain. */
  stillRunning: boolean;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export { formatState } from '../../conf/domain-state.js';

function summary(i: Inspected): DomainSummary {
  const out: DomainSummary = { name: i.name, uuid: i.uuid, state: i.state, reason: i.reason, persistent: i.persistent, active: i.active };
  if (i.active) {
    if (i.id !== undefined) out.id = i.id;
    if (i.pid !== undefined) out.pid = i.pid;
  }
  return out;
}

export class QemuDriver {
  readonly store: DomainStore;
  /** The networks (hostdev VF pools) and their ports, beside the domains. */
  readonly networks: NetworkDriver;
  readonly #ctx: DriverContext;

  private constructor(ctx: DriverContext & { networks: NetworkDriver }) {
    this.#ctx = ctx;
    this.store = ctx.store;
    this.networks = ctx.networks;
  }

  /** Opens (creating if needed) the state and runtime directories. */
  static open(opts: DriverOptions = {}): QemuDriver {
    const env = opts.env ?? process.env;
    const store = DomainStore.open(opts);
    const host = opts.host ?? {};
    const networks = new NetworkDriver(new NetworkStore(store), host.sysfsRoot !== undefined ? { sysfsRoot: host.sysfsRoot } : {});
    return new QemuDriver({
      store,
      networks,
      defaultBinary: opts.qemuBinary ?? (env.VIRT_FAILOVER_QEMU || DEFAULT_QEMU_BINARY),
      probeCaps: opts.probeCaps ?? ((b) => probeQemuCaps(resolveExecutable(b, env))),
      buildCommand: opts.buildCommand ?? defaultBuildCommand,
      postParse: opts.postParse ?? defaultPostParse,
      chooseAccel: opts.chooseAccel ?? ((dom) => defaultChooseAccel(dom)),
      timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts },
      host,
    });
  }

  /**
   * virsh define: parse, post-parse (defaults, PCI addresses), validate (conf, then QEMU),
   * and store the canonical XML atomically. A missing UUID is generated, as libvirt does.
   */
  async define(xml: string | Uint8Array, opts: { source?: string } = {}): Promise<DefineResult> {
    const dom = parseDomainXml(xml, { source: opts.source, inactive: true });
    validateDomainName(dom.name);
    if (dom.uuid === undefined) dom.uuid = randomUUID();
    else if (!UUID_RE.test(dom.uuid)) throw new XmlError('malformed uuid element');
    else dom.uuid = normalizeUuid(dom.uuid);
    const ctx = this.#ctx;
    let caps: QemuCaps | undefined;
    if (ctx.postParse) {
      caps = await ctx.probeCaps(findEmulator(dom.devices) ?? ctx.defaultBinary);
      await ctx.postParse(dom, caps, { define: true });
    }
    validateDomain(dom);
    validateDomainForQemu(dom, caps);
    const canonical = formatDomain(dom);
    const uuid = dom.uuid;
    const lock = await this.store.lockDomain(dom.name, 'define');
    try {
      const r = await this.store.defineConfig(dom.name, uuid, canonical);
      // A stale "shut off (...)" record of an earlier domain with this name must not leak in.
      const st = this.store.readStatus(dom.name);
      if (st && st.state === 'shutoff' && st.uuid !== uuid) this.store.removeStatus(dom.name);
      return { name: dom.name, uuid, created: r.created };
    } finally {
      lock.release();
    }
  }

  /** virsh undefine: removes the definition; a running domain stays up as a transient one. */
  undefine(ref: string): Promise<UndefineResult> {
    return withDomainLock(this.#ctx, ref, 'undefine', async (info) => {
      if (!info.persistent) throw new OperationInvalidError('cannot undefine transient domain');
      this.store.removeConfig(info.name);
      if (!info.active) {
        this.store.removeStatus(info.name);
        this.store.removeRunFiles(info.name, info.status?.runDir);
      }
      return { name: info.name, uuid: info.uuid, stillRunning: info.active };
    });
  }

  /** The domain `ref` (name, UUID or id) with its true state. Throws NoDomainError. */
  async getState(ref: string): Promise<DomainSummary> {
    const name = lookupDomain(this.#ctx, ref).name;
    await reconcileIfFree(this.#ctx, name);
    const i = await observeDomain(this.#ctx, name);
    if (!i) lookupDomain(this.#ctx, name); // gone meanwhile: throws
    return summary(i!);
  }

  /** virsh list [--all]: active domains by id, then (with all) inactive ones by name. */
  async list(opts: { all?: boolean } = {}): Promise<DomainSummary[]> {
    const infos = await Promise.all(
      allDomainNames(this.#ctx).map(async (n) => {
        await reconcileIfFree(this.#ctx, n);
        return observeDomain(this.#ctx, n);
      }),
    );
    const shown = infos.filter((i): i is Inspected => !!i && (opts.all || i.active)).map(summary);
    return shown.sort((a, b) => {
      if (a.active && b.active) return (a.id ?? 0) - (b.id ?? 0);
      if (a.active !== b.active) return a.active ? -1 : 1;
      return a.name.toLowerCase().localeCompare(b.name.toLowerCase()) || a.name.localeCompare(b.name);
    });
  }

  /**
   * virsh dumpxml: the live XML (id, aliases, addresses) while running, else the definition;
   * `inactive` asks for the definition (a transient domain has only the live one).
   */
  async getXml(ref: string, opts: { inactive?: boolean } = {}): Promise<string> {
    const name = lookupDomain(this.#ctx, ref).name;
    await reconcileIfFree(this.#ctx, name);
    const i = (await observeDomain(this.#ctx, name)) ?? lookupDomain(this.#ctx, name);
    const config = this.store.readConfig(name);
    if (i.active && !opts.inactive) {
      const live = this.store.readLiveXml(name);
      if (live !== undefined) return live;
    }
    if (config !== undefined) return config;
    const live = this.store.readLiveXml(name);
    if (live !== undefined) return live;
    lookupDomain(this.#ctx, name);
    throw new OperationInvalidError('domain is not running');
  }

  start(ref: string): Promise<StartResult> {
    return startDomain(this.#ctx, ref);
  }

  shutdown(ref: string, opts: ShutdownOptions = {}): Promise<StopResult> {
    return shutdownDomain(this.#ctx, ref, opts);
  }

  destroy(ref: string, opts: DestroyOptions = {}): Promise<StopResult> {
    return destroyDomain(this.#ctx, ref, opts);
  }

  /**
   * The failover pairs of a running domain as QEMU sees them (read-only QMP queries on its monitor):
   * what `domfailover` shows.
   */
  async failoverStatus(ref: string): Promise<{ name: string; xml: string; definition?: string; via: string; pairs: FailoverPairState[] }> {
    const name = lookupDomain(this.#ctx, ref).name;
    const i = await observeDomain(this.#ctx, name);
    const xml = this.store.readLiveXml(name);
    if (!i?.active || !i.status?.monitor || xml === undefined) throw new OperationInvalidError('domain is not running');
    const pairs = failoverPrimaries(parseDomainXml(xml, { source: name, inactive: false }));
    const mon = await Monitor.connect(i.status.monitor, { timeoutMs: this.#ctx.timeouts.monitorMs, retryRefused: false });
    try {
      const definition = this.store.readConfig(name);
      return { name, xml, ...(definition !== undefined ? { definition } : {}), via: `QMP monitor ${i.status.monitor}`, pairs: await inspectFailoverPairs(mon, pairs, { timeoutMs: this.#ctx.timeouts.monitorMs }) };
    } finally {
      await mon.close();
    }
  }

  /**
   * Live migration into a second QEMU on this host (`-incoming defer`), failover primaries unplugged
   * and re-plugged by QEMU; on success that QEMU is the domain (see driver-migrate.ts).
   */
  migrateLocal(ref: string, opts: MigrateLocalOptions = {}): Promise<MigrateLocalResult> {
    return migrateDomainLocal(this.#ctx, ref, opts);
  }

  /**
   * After a migration: waits (at most `timeoutMs`) until the guest's driver has enabled each failover
   * primary in `ids` again, as QEMU sees it (BARs mapped); see driver-guest.ts.
   */
  waitPrimariesEnabled(name: string, ids: readonly string[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<PrimaryUptake[]> {
    return waitPrimariesEnabled(this.#ctx, name, ids, opts);
  }

  /**
   * Live migration to another host (`migrate NAME ssh://HOST`): `dest` is the other host's agent
   * (src/qemu/remote); see migrate-out.ts.
   */
  migrateTo(ref: string, dest: OutgoingDestination, opts: MigrateOutOptions = {}): Promise<MigrateOutResult> {
    return migrateDomainOut(this.#ctx, ref, dest, opts);
  }

  /** The destination's side of a migration between hosts (what the agent drives); see incoming.ts. */
  prepareIncoming(req: IncomingRequest, opts: IncomingOptions): Promise<IncomingMigration> {
    return IncomingMigration.prepare(this.#ctx, req, opts);
  }
}
