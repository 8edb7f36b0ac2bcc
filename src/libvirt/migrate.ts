// `migrate NAME DEST_URI --connect SRC_URI`: libvirt's own live migration, with our failover layer around
// it. The migration code (src/qemu/migration) runs unchanged over two adapters:
// - the source: QMP queries through `virsh qemu-monitor-command` (read-only), events through
//   `virsh qemu-monitor-event`; `migrate` starts `virsh migrate` (libvirt drives QEMU), `migrate_cancel`
//   is `virsh domjobabort`, `cont` is `virsh resume`, progress and final numbers come from `domjobinfo`;
// - the destination: the same domain name on DEST_URI, its events seen from before libvirt creates it.
// So the pre-checks (negotiated, primary plugged, MAC, paused guest, --require-failover), the deadline on
// the guest's unplug (QEMU and libvirt have none) and the check that the primary is back after a cancel
// are the embedded driver's, and so are the timeline and the --json report.
import type { ChildProcess } from 'node:child_process';
import type { DomainSummary } from '../conf/domain-state.js';
import { parseDomainXml } from '../conf/domain.js';
import { failoverPrimaries } from '../qemu/command/index.js';
import {
  type DestinationHandle,
  type MigrationMonitor,
  type MigrationProgress,
  type MigrationResult,
  migrateFailover,
  negotiatedStandbys,
} from '../qemu/migration/index.js';
import { InvalidArgError, type VirtFailoverError } from '../util/errors.js';
import { parseDominfo } from './parse.js';
import { VirshEventStream, VirshMonitor } from './monitor.js';
import { Virsh } from './virsh.js';

export interface LibvirtMigrateOptions {
  unplugTimeoutMs?: number;
  /** The embedded driver's own tuning: refused here (libvirt takes virsh's flags, libvirtFlags). */
  timeoutMs?: number;
  maxDowntimeMs?: number;
  bandwidthMiBs?: number;
  requireFailover?: boolean;
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (ev: MigrationProgress) => void;
  /** virsh migrate flags instead of the default `--live --persistent --undefinesource`. */
  libvirtFlags?: readonly string[];
  /** Where QEMU sends the stream (virsh migrate --migrateuri), when the destination's hostname does not do. */
  migrateUri?: string;
}

export interface LibvirtMigrateResult {
  result: MigrationResult;
  domain: DomainSummary;
}

export const DEFAULT_LIBVIRT_FLAGS: readonly string[] = ['--live', '--persistent', '--undefinesource'];

/** Flags the user may not pass: they would change what we follow or where the domain goes. */
const FORBIDDEN_FLAGS = new Set(['--p2p', '--tunnelled', '--offline', '--suspend', '--postcopy', '--postcopy-after-precopy', '--desturi', '--migrateuri', '--domain']);

/** `--libvirt-flags "--live --compressed"`: whitespace-separated virsh migrate flags. */
export function parseLibvirtFlags(raw: string): string[] {
  const flags = raw.split(/\s+/).filter((f) => f !== '');
  for (const f of flags) {
    if (!/^--[a-z][a-z0-9-]*(=\S+)?$/.test(f)) throw new InvalidArgError(`'${f}' is not a virsh migrate flag (--name or --name=value)`);
    if (FORBIDDEN_FLAGS.has(f.split('=')[0]!)) throw new InvalidArgError(`virsh migrate flag '${f}' is not supported here`);
  }
  return flags;
}

const MIB = 1024 * 1024;

/** A `domjobinfo` size ("105.512 MiB") in bytes, a duration ("1234 ms") in ms, a rate ("30.5 MiB/s") in bytes/s. */
export function parseJobValue(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|ms|B\/s|KiB\/s|MiB\/s|GiB\/s)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').replace('/s', '');
  const mult: Record<string, number> = { '': 1, B: 1, ms: 1, KiB: 1024, MiB: MIB, GiB: 1024 * MIB, TiB: 1024 * 1024 * MIB };
  return Math.round(n * (mult[unit] ?? 1));
}

/** `virsh domjobinfo` as query-migrate's shape (what the migration code reads), or undefined without a job. */
export function jobInfoAsQueryMigrate(out: string): Record<string, unknown> | undefined {
  const info = parseDominfo(out);
  const type = info.get('Job type');
  const status = ({ Unbounded: 'active', Bounded: 'active', Completed: 'completed', Failed: 'failed', Cancelled: 'cancelled' } as Record<string, string>)[type ?? ''];
  if (!status) return undefined;
  const bw = parseJobValue(info.get('Memory bandwidth'));
  const ram: Record<string, number> = {};
  const put = (k: string, v: number | undefined): void => {
    if (v !== undefined) ram[k] = v;
  };
  put('transferred', parseJobValue(info.get('Memory processed')) ?? parseJobValue(info.get('Data processed')));
  put('remaining', parseJobValue(info.get('Memory remaining')) ?? parseJobValue(info.get('Data remaining')));
  put('total', parseJobValue(info.get('Memory total')) ?? parseJobValue(info.get('Data total')));
  if (bw !== undefined) ram.mbps = (bw * 8) / 1_000_000;
  put('dirty-sync-count', parseJobValue(info.get('Iteration')));
  const st: Record<string, unknown> = { status, ram };
  const total = parseJobValue(info.get('Time elapsed'));
  const downtime = parseJobValue(info.get('Total downtime'));
  const setup = parseJobValue(info.get('Setup time'));
  if (total !== undefined) st['total-time'] = total;
  if (downtime !== undefined) st.downtime = downtime;
  if (setup !== undefined) st['setup-time'] = setup;
  return st;
}

/** The source side: see the file comment. */
class LibvirtSource implements MigrationMonitor {
  readonly qmp: VirshMonitor;
  migration: ChildProcess | undefined;
  /** Settles with virsh migrate's error (or undefined on success) once it ends. */
  finished: Promise<VirtFailoverError | undefined> | undefined;
  readonly #streams: VirshEventStream[] = [];

  constructor(
    readonly src: Virsh,
    readonly dst: Virsh,
    readonly name: string,
    readonly argsFor: (name: string) => string[],
  ) {
    this.qmp = new VirshMonitor(src, name);
  }

  events(names?: string[] | null): VirshEventStream {
    const s = this.qmp.events(names);
    this.#streams.push(s);
    return s;
  }

  async execute<T = unknown>(cmd: string, args?: Record<string, unknown>, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    switch (cmd) {
      case 'migrate-set-capabilities':
        return {} as T; // libvirt sets the capabilities it migrates with (events included)
      case 'migrate':
        return (await this.#startMigration()) as T;
      case 'migrate_cancel':
        await this.src.run(['domjobabort', this.name], opts);
        return {} as T;
      case 'cont':
        await this.src.run(['resume', this.name], opts); // libvirt must know the guest runs again
        return {} as T;
      case 'query-migrate':
        return (await this.#jobStats(opts)) as T;
      default:
        return this.qmp.execute<T>(cmd, args, opts);
    }
  }

  /**
   * `virsh migrate`; resolves once QEMU's migration has started (MIGRATION setup), rejects if libvirt fails
   * first. virsh gives no signal when its event subscription is in place; it takes tens of ms, while libvirt
   * first prepares the destination (starts its QEMU: 0.5 s measured under TCG) before the source QEMU
   * migrates, so the subscription is in place before the first event.
   */
  async #startMigration(): Promise<Record<string, never>> {
    const started = this.qmp.events(['MIGRATION']);
    const args = this.argsFor(this.name);
    const child = this.src.spawn(args);
    this.migration = child;
    this.finished = Virsh.finished(child, args, this.src.binary).then(() => undefined, (e: VirtFailoverError) => e);
    void this.finished.then((err) => {
      if (err) void this.#libvirtFailed(err);
    });
    try {
      const first = (async () => {
        for await (const ev of started) if (ev.data.status === 'setup' || ev.data.status === 'wait-unplug' || ev.data.status === 'active') return;
      })();
      const failed = this.finished.then((err) => {
        if (err) throw err;
      });
      await Promise.race([first, failed]);
      return {};
    } finally {
      started.close();
    }
  }

  /** libvirt gave up (virsh migrate failed): make sure the run sees a final MIGRATION status. */
  async #libvirtFailed(err: VirtFailoverError): Promise<void> {
    this.lastError = err.message;
    const st = await this.qmp.execute<{ status?: string }>('query-migrate').catch(() => undefined);
    const status = st?.status === 'cancelled' ? 'cancelled' : st?.status === 'completed' ? undefined : 'failed';
    if (status) for (const s of this.#streams) s.inject({ event: 'MIGRATION', data: { status } });
  }

  lastError: string | undefined;

  /** domjobinfo (libvirt's view) while the job runs, its completed stats after; QMP query-migrate otherwise. */
  async #jobStats(opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<Record<string, unknown>> {
    const live = await this.src.run(['domjobinfo', this.name], opts).then(jobInfoAsQueryMigrate, () => undefined);
    if (live) return live;
    for (const v of [this.src, this.dst]) {
      const done = await v.run(['domjobinfo', '--completed', this.name], opts).then(jobInfoAsQueryMigrate, () => undefined);
      if (done?.status === 'completed') return done;
    }
    const st = await this.qmp.execute<Record<string, unknown>>('query-migrate', undefined, opts);
    if (this.lastError && st['error-desc'] === undefined && st.status !== 'completed') st['error-desc'] = this.lastError;
    return st;
  }
}

/** The destination: the domain that libvirt creates on DEST_URI under the same name. */
function libvirtDestination(dst: Virsh, name: string): DestinationHandle {
  const qmp = new VirshMonitor(dst, name);
  return {
    uri: dst.uri,
    monitor: {
      execute: (cmd, args, opts) => qmp.execute(cmd, args, opts),
      // the domain does not exist there yet: listen on the whole connection, keep its events
      events: (names) => qmp.events(names, { wholeConnection: true }),
    },
    kill: () => Promise.resolve(), // libvirt removes a destination whose migration failed
    exited: new Promise(() => undefined),
  };
}

export interface LibvirtBackendLike {
  readonly uri: string;
  readonly virsh: Virsh;
  getXml(ref: string, opts: { inactive?: boolean }): Promise<string>;
}

export async function migrateThroughLibvirt(
  backend: LibvirtBackendLike,
  name: string,
  destUri: string,
  opts: LibvirtMigrateOptions,
  getDestState: (dst: Virsh, name: string) => Promise<DomainSummary>,
): Promise<LibvirtMigrateResult> {
  const dst = new Virsh(destUri, backend.virsh.binary);
  const live = parseDomainXml(await backend.getXml(name, {}), { source: name, inactive: false });
  const primaries = failoverPrimaries(live);
  const flags = opts.libvirtFlags ?? DEFAULT_LIBVIRT_FLAGS;
  const argsFor = (n: string): string[] => ['migrate', ...flags, n, destUri, ...(opts.migrateUri ? ['--migrateuri', opts.migrateUri] : [])];
  const source = new LibvirtSource(backend.virsh, dst, name, argsFor);
  const negotiated = await negotiatedStandbys(source.qmp, primaries);
  const result = await migrateFailover({
    source,
    primaries,
    negotiated,
    destination: {
      start: async (o) => {
        await dst.run(['uri'], { signal: o?.signal, timeoutMs: 30_000 }); // reachable before anything moves
        return libvirtDestination(dst, name);
      },
    },
    unplugTimeoutMs: opts.unplugTimeoutMs,
    requireFailover: opts.requireFailover,
    resume: opts.resume,
    signal: opts.signal,
    onProgress: opts.onProgress,
    statsRetryMs: 200,
  });
  // libvirt finishes on its own (confirm on the source, undefine there): wait for virsh migrate to end
  const err = await source.finished;
  if (err) result.warnings.push(`virsh migrate reported an error after the guest resumed on the destination: ${err.message}`);
  return { result, domain: await getDestState(dst, name) };
}
