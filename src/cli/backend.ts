// The one interface the domain verbs call, so a verb does not know which engine runs the domain: the
// embedded driver (our own store and QEMU processes, the default) or a libvirt daemon (`--connect URI`).
// Results are the verbs' own shapes; each backend fills them in from what its engine reports.
import type { Command } from 'commander';
import type { DomainSummary } from '../conf/domain-state.js';
import {
  type DefineNetworkResult, type MigrateLocalOptions, type NetworkDriver, type NetworkSummary, type PrimaryUptake, QemuDriver, createPortFromXml, deletePort, getPortXml, listPorts,
} from '../qemu/driver/index.js';
import type { FailoverPairState, MigrationResult } from '../qemu/migration/index.js';
import { LibvirtBackend } from '../libvirt/index.js';
export { parseLibvirtFlags } from '../libvirt/index.js';
import { InvalidArgError, OperationUnsupportedError } from '../util/errors.js';
import { probeAccel } from '../testbed/index.js';

export interface BackendDefineResult {
  name: string;
  uuid: string;
  /** False when an existing definition was replaced. */
  created: boolean;
}

export interface BackendUndefineResult {
  name: string;
  uuid: string;
  /** The domain was running and goes on as a transient domain. */
  stillRunning: boolean;
}

export interface BackendStartResult {
  name: string;
  uuid: string;
  id?: number;
  pid?: number;
}

export interface BackendStopResult {
  name: string;
  /** For shutdown with timeoutMs 0: only requested. */
  state: 'shutoff' | 'requested';
}

export interface BackendMigrateOptions extends MigrateLocalOptions {
  /** libvirt only: virsh migrate flags instead of `--live --persistent --undefinesource`. */
  libvirtFlags?: readonly string[];
  /** libvirt only: where QEMU sends the stream (virsh migrate --migrateuri). */
  migrateUri?: string;
}

/** `domfailover`: every failover pair of a running domain as its QEMU reports it. */
export interface BackendFailoverStatus {
  name: string;
  /** The live XML the pairs were taken from. */
  xml: string;
  /** The definition (what lint reads: the live XML carries aliases libvirt assigned); absent for a transient domain. */
  definition?: string;
  /** How QEMU was asked (its QMP socket, or virsh qemu-monitor-command on a libvirt URI). */
  via: string;
  pairs: FailoverPairState[];
}

export interface BackendMigrateResult {
  result: MigrationResult;
  /** The domain afterwards, where it runs now. */
  domain: DomainSummary;
}

export interface DomainBackend {
  /** 'embedded' (our own driver) or 'libvirt'. */
  readonly kind: 'embedded' | 'libvirt';
  /** What the user connected to: the state dir for the embedded driver, the libvirt URI otherwise. */
  readonly uri: string;
  define(xml: Uint8Array, opts: { source?: string }): Promise<BackendDefineResult>;
  undefine(ref: string): Promise<BackendUndefineResult>;
  list(opts: { all?: boolean }): Promise<DomainSummary[]>;
  getState(ref: string): Promise<DomainSummary>;
  /** The live XML while running (unless inactive), else the definition. */
  getXml(ref: string, opts: { inactive?: boolean }): Promise<string>;
  start(ref: string): Promise<BackendStartResult>;
  shutdown(ref: string, opts: { timeoutMs?: number }): Promise<BackendStopResult>;
  destroy(ref: string): Promise<BackendStopResult>;
  /** Failover-aware live migration to `destination` ('local', or what the backend understands). */
  migrate(ref: string, destination: string, opts: BackendMigrateOptions): Promise<BackendMigrateResult>;
  /**
   * After a migration: waits (at most `timeoutMs`) until the guest's driver has enabled each failover
   * primary in `ids` again, as QEMU sees it (BARs mapped; docs/replug.md).
   */
  waitPrimariesEnabled(name: string, ids: readonly string[], opts: { timeoutMs: number }): Promise<PrimaryUptake[]>;
  /** Read-only: the failover pairs of a running domain (domfailover). */
  failoverStatus(ref: string): Promise<BackendFailoverStatus>;
  /** libvirt's daemon version (lint names its known failover bugs); undefined for the embedded driver. */
  daemonVersion(): Promise<[number, number, number] | undefined>;
}

/** The embedded driver behind the backend interface. */
export class EmbeddedBackend implements DomainBackend {
  readonly kind = 'embedded' as const;
  readonly uri: string;
  readonly driver: QemuDriver;

  constructor(driver: QemuDriver) {
    this.driver = driver;
    this.uri = driver.store.stateDir;
  }

  define(xml: Uint8Array, opts: { source?: string }): Promise<BackendDefineResult> {
    return this.driver.define(xml, opts);
  }
  undefine(ref: string): Promise<BackendUndefineResult> {
    return this.driver.undefine(ref);
  }
  list(opts: { all?: boolean }): Promise<DomainSummary[]> {
    return this.driver.list(opts);
  }
  getState(ref: string): Promise<DomainSummary> {
    return this.driver.getState(ref);
  }
  getXml(ref: string, opts: { inactive?: boolean }): Promise<string> {
    return this.driver.getXml(ref, opts);
  }
  start(ref: string): Promise<BackendStartResult> {
    return this.driver.start(ref);
  }
  shutdown(ref: string, opts: { timeoutMs?: number }): Promise<BackendStopResult> {
    return this.driver.shutdown(ref, opts);
  }
  destroy(ref: string): Promise<BackendStopResult> {
    return this.driver.destroy(ref);
  }
  failoverStatus(ref: string): Promise<BackendFailoverStatus> {
    return this.driver.failoverStatus(ref);
  }
  daemonVersion(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  migrate(ref: string, destination: string, opts: BackendMigrateOptions): Promise<BackendMigrateResult> {
    if (opts.libvirtFlags || opts.migrateUri) {
      throw new InvalidArgError('--libvirt-flags and --migrateuri need a libvirt source (--connect URI)');
    }
    if (destination !== 'local') {
      throw new OperationUnsupportedError(`migration destination '${destination}' is not supported: use 'local' (a second QEMU on this host) or ssh://[USER@]HOST[:PORT]`);
    }
    return this.driver.migrateLocal(ref, opts);
  }
  waitPrimariesEnabled(name: string, ids: readonly string[], opts: { timeoutMs: number }): Promise<PrimaryUptake[]> {
    return this.driver.waitPrimariesEnabled(name, ids, opts);
  }
}

/** The embedded driver for the --state-dir in effect. */
export function openDriver(program: Command): QemuDriver {
  const { stateDir } = program.opts<{ stateDir?: string }>();
  // <domain type='kvm'> runs under KVM only when a probe guest really boots with it (nested hosts can open
  // /dev/kvm and still hang), else under TCG, as the demo and tests need on such hosts.
  return QemuDriver.open({
    stateDir,
    chooseAccel: async (dom, binary) => (dom.type === 'kvm' ? (await probeAccel({ qemuBinary: binary })).accel : 'tcg'),
  });
}

/**
 * The libvirt URI the user chose: --connect, else VIRT_FAILOVER_DEFAULT_URI, else libvirt's own
 * LIBVIRT_DEFAULT_URI; undefined selects the embedded driver.
 */
export function connectUri(program: Command, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { connect, stateDir } = program.opts<{ connect?: string; stateDir?: string }>();
  if (connect !== undefined && stateDir !== undefined) {
    throw new InvalidArgError('--state-dir belongs to the embedded driver; it cannot be combined with --connect');
  }
  // an explicit --state-dir wins over a URI from the environment
  const uri = connect ?? (stateDir === undefined ? env.VIRT_FAILOVER_DEFAULT_URI || env.LIBVIRT_DEFAULT_URI || undefined : undefined);
  if (uri !== undefined && uri.trim() === '') throw new InvalidArgError('--connect needs a libvirt URI, e.g. qemu:///system');
  return uri;
}

/** The backend the global options select: libvirt for a URI (connectUri), else the embedded driver. */
export function openBackend(program: Command): DomainBackend {
  const uri = connectUri(program);
  if (uri !== undefined) return new LibvirtBackend(uri);
  return new EmbeddedBackend(openDriver(program));
}

export type { NetworkSummary, DefineNetworkResult } from '../qemu/driver/index.js';

/** The network verbs (net-*, net-port-*): libvirt's network driver API. */
export interface NetworkBackend {
  define(xml: Uint8Array, opts: { source?: string }): Promise<DefineNetworkResult>;
  undefine(ref: string): Promise<NetworkSummary>;
  start(ref: string): Promise<NetworkSummary>;
  destroy(ref: string): Promise<NetworkSummary>;
  /** Every network, sorted by name. */
  list(): Promise<NetworkSummary[]>;
  /** The live XML while active (unless inactive), else the definition. */
  getXml(ref: string, opts: { inactive?: boolean }): Promise<string>;
  setAutostart(ref: string, on: boolean): Promise<NetworkSummary>;
  /** A port from its XML (allocated from the network when it has no <plug>); returns its UUID. */
  createPort(ref: string, xml: Uint8Array, opts: { source?: string }): Promise<string>;
  listPorts(ref: string): Promise<string[]>;
  getPortXml(ref: string, port: string): Promise<string>;
  deletePort(ref: string, port: string): Promise<string>;
}

/** The embedded driver's networks behind the network backend interface. */
export class EmbeddedNetworkBackend implements NetworkBackend {
  constructor(readonly networks: NetworkDriver) {}

  define(xml: Uint8Array, opts: { source?: string }): Promise<DefineNetworkResult> {
    return this.networks.define(xml, opts);
  }
  undefine(ref: string): Promise<NetworkSummary> {
    return this.networks.undefine(ref);
  }
  start(ref: string): Promise<NetworkSummary> {
    return this.networks.start(ref);
  }
  destroy(ref: string): Promise<NetworkSummary> {
    return this.networks.destroy(ref);
  }
  async list(): Promise<NetworkSummary[]> {
    return this.networks.list();
  }
  async getXml(ref: string, opts: { inactive?: boolean }): Promise<string> {
    return this.networks.getXml(ref, opts);
  }
  setAutostart(ref: string, on: boolean): Promise<NetworkSummary> {
    return this.networks.setAutostart(ref, on);
  }
  async createPort(ref: string, xml: Uint8Array, opts: { source?: string }): Promise<string> {
    return (await createPortFromXml(this.networks, ref, xml, opts.source)).uuid;
  }
  async listPorts(ref: string): Promise<string[]> {
    return listPorts(this.networks, ref);
  }
  async getPortXml(ref: string, port: string): Promise<string> {
    return getPortXml(this.networks, ref, port);
  }
  deletePort(ref: string, port: string): Promise<string> {
    return deletePort(this.networks, ref, port);
  }
}

/** The network backend the global options select. */
export function openNetworkBackend(program: Command): NetworkBackend {
  if (connectUri(program) !== undefined) {
    throw new OperationUnsupportedError("the net-* verbs work on the embedded driver only: on a libvirt daemon use its own 'virsh net-*'");
  }
  return new EmbeddedNetworkBackend(openDriver(program).networks);
}
