// Live migration of a running domain to another host (`migrate NAME ssh://HOST`): the source's side. The
// destination is anything that implements OutgoingDestination (the agent over ssh, src/qemu/remote), so
// the same failover-aware run (pre-check, unplug deadline, cancel, recovery, timeline) drives it.
//
// Under the domain lock: the same checks as a local migration (active, libvirt's hostdev rules, the running
// argv is the one the live XML gives), then the destination's own refusals (prepare: before any QEMU starts
// there), then migrateFailover. On success the destination takes the domain (finish), then the source QEMU
// is told to quit and its records say `shut off (migrated)`; --undefinesource removes the definition here.
// If the destination cannot confirm that it took the guest, the source QEMU is left paused, not killed.
import { parseDomainXml } from '../../conf/domain.js';
import { findEmulator } from '../../conf/emulator.js';
import { OperationFailedError, OperationInvalidError } from '../../util/errors.js';
import type { DestinationHandle, MigrationResult } from '../migration/index.js';
import { migrateFailover } from '../migration/index.js';
import { Monitor } from '../monitor/index.js';
import type { IncomingRequest } from './incoming.js';
import { withDomainLock } from './lifecycle.js';
import { type MigrateLocalOptions, type Plan, buildFor, checkSameCommand, errText, failoverPrimaries, migrationBlocker } from './migrate.js';
import { terminateProcess, waitForExit } from './process.js';
import { type DomainSummary, type DriverContext, inspectDomain, recordStopped } from './state.js';

/** The other host, as the source sees it. */
export interface OutgoingDestination {
  /** For messages: ssh://host */
  readonly label: string;
  /** The destination's checks and claims, before any QEMU starts there; throws its refusal. */
  prepare(req: IncomingRequest): Promise<void>;
  /** One listening destination QEMU per attempt (a DestinationLauncher). */
  start(opts?: { signal?: AbortSignal }): Promise<DestinationHandle>;
  /** After the switchover: the destination takes the domain (records; the definition with --persistent). */
  finish(): Promise<DomainSummary>;
  /** Gives up: the destination releases what it holds (no-op after finish). */
  abort(): Promise<void>;
}

/** The local migration's options (unplug deadline, --timeout, --max-downtime, --bandwidth, ...) and virsh's flags. */
export interface MigrateOutOptions extends MigrateLocalOptions {
  /** Define the domain on the destination (virsh --persistent). */
  persistent?: boolean;
  /** Remove the definition here afterwards (virsh --undefinesource). */
  undefineSource?: boolean;
  /** --tunnelled: the stream goes through the SSH connection. */
  tunnelled?: boolean;
}

export interface MigrateOutResult {
  result: MigrationResult;
  /** The domain on the destination. */
  domain: DomainSummary;
  /** What is left here: 'shutoff' (still defined) or 'undefined' (transient, or --undefinesource). */
  source: 'shutoff' | 'undefined';
}

export function migrateDomainOut(ctx: DriverContext, ref: string, dest: OutgoingDestination, opts: MigrateOutOptions = {}): Promise<MigrateOutResult> {
  return withDomainLock(ctx, ref, 'migrate', async (info) => {
    const { store } = ctx;
    const st = info.status;
    if (!info.active || info.pid === undefined || !st?.monitor || !st.runDir) throw new OperationInvalidError('domain is not running');
    const liveXml = store.readLiveXml(info.name);
    const config = store.readConfig(info.name);
    const xml = liveXml ?? config;
    if (xml === undefined) throw new OperationInvalidError('domain is not running');
    const source = liveXml !== undefined ? store.livePath(info.name) : store.configPath(info.name);
    const live = parseDomainXml(xml, { source, inactive: false });
    const blocker = migrationBlocker(live);
    if (blocker) throw blocker;
    const t = ctx.timeouts;
    let mon: Monitor;
    try {
      mon = await Monitor.connect(st.monitor, { timeoutMs: t.monitorMs, retryRefused: false });
    } catch (e) {
      throw new OperationFailedError(`cannot reach the QEMU monitor of domain '${info.name}': ${errText(e)}`, { cause: e });
    }
    let finished = false;
    try {
      const kvm = await mon.execute<{ enabled: boolean }>('query-kvm', undefined, { timeoutMs: t.monitorMs });
      const binary = findEmulator(live.devices) ?? ctx.defaultBinary;
      const plan: Plan = {
        info, name: info.name, uuid: info.uuid, xml, source, caps: await ctx.probeCaps(binary), accel: kvm.enabled ? 'kvm' : 'tcg', srcRunDir: st.runDir,
        recordDest: () => undefined, // the destination QEMU is the other host's (its agent ends it with the session)
      };
      checkSameCommand(plan, await buildFor(ctx, plan, st.runDir, false), info.pid);
      await dest.prepare({
        name: info.name,
        uuid: info.uuid,
        xml,
        accel: plan.accel,
        persistentXml: opts.persistent ? (config ?? xml) : undefined,
        tunnelled: !!opts.tunnelled,
      });
      const result = await migrateFailover({
        source: mon,
        primaries: failoverPrimaries(live),
        destination: dest,
        unplugTimeoutMs: opts.unplugTimeoutMs,
        requireFailover: opts.requireFailover,
        resume: opts.resume,
        timeoutMs: opts.timeoutMs,
        maxDowntimeMs: opts.maxDowntimeMs,
        bandwidthMiBs: opts.bandwidthMiBs,
        signal: opts.signal,
        onProgress: opts.onProgress,
      });
      let domain: DomainSummary;
      try {
        domain = await dest.finish();
      } catch (e) {
        // Did the destination take the guest? Unknown: the source QEMU stays paused ('postmigrate').
        throw new OperationFailedError(
          `the guest was migrated to ${dest.label} but the destination did not confirm that it runs it (${errText(e)}); ` +
            `domain '${info.name}' is left paused here: check ${dest.label}, then resume or destroy it here`,
          { cause: e },
        );
      }
      finished = true;
      await quitSource(ctx, info.pid, st.pidStart, mon);
      const now = inspectDomain(ctx, info.name);
      if (now) await recordStopped(ctx, { ...now, status: st }, 'migrated');
      let left: 'shutoff' | 'undefined' = store.hasConfig(info.name) ? 'shutoff' : 'undefined';
      if (opts.undefineSource && left === 'shutoff') {
        store.removeConfig(info.name);
        store.removeStatus(info.name);
        left = 'undefined';
      }
      return { result: result as MigrationResult, domain, source: left };
    } finally {
      if (!finished) await dest.abort().catch(() => undefined);
      await mon.close();
    }
  });
}

/** The source, paused in 'postmigrate', is told to quit; killed if it does not go. */
async function quitSource(ctx: DriverContext, pid: number, pidStart: string | undefined, mon: Monitor): Promise<void> {
  const t = ctx.timeouts;
  await mon.execute('quit', undefined, { timeoutMs: t.monitorMs }).catch(() => undefined);
  await Promise.race([mon.onClose, new Promise((r) => setTimeout(r, t.monitorMs).unref())]);
  const gone = await waitForExit(pid, pidStart, { timeoutMs: t.exitAfterShutdownMs, pollIntervalMs: Math.min(t.pollMs, 2) });
  if (!gone) await terminateProcess(pid, pidStart, { termTimeoutMs: t.termMs, killTimeoutMs: t.killMs, pollIntervalMs: t.pollMs });
}
