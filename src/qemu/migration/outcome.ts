// How a migration ends: success (the destination resumed; check that it has the primaries again and
// build the result), a failed switchover (resume the source), or cancelled/failed on the source (check
// that the source runs and lists its primaries, kill the destination, say why).
import type { DestinationHandle } from './dest.js';
import type { MigrationFailureReason } from './phases.js';
import { pciQdevIds } from './precheck.js';
import { describeExit, MigrationRunBase, quoteList, type MigrateStats } from './run.js';
import type { MigrationResult, PairOutcome } from './types.js';

export class MigrationRun<D extends DestinationHandle> extends MigrationRunBase<D> {
  /**
   * query-migrate after completion. QEMU emits MIGRATION completed before its migration thread fills
   * in total-time and downtime, and no event marks that: re-query at statsRetryMs, a few times.
   */
  async finalStats(): Promise<MigrateStats | undefined> {
    const every = this.o.statsRetryMs ?? 20;
    let st: MigrateStats | undefined;
    for (let i = 0; i < 25; i++) {
      st = await this.o.source.execute<MigrateStats>('query-migrate', undefined, this.cmd).catch(() => undefined);
      if (!st || st.status !== 'completed' || (st['total-time'] ?? 0) > 0 || every <= 0) return st;
      await new Promise<void>((resolve) => this.timers.setTimeout(resolve, every));
    }
    return st;
  }

  /** Success once the source completed and the destination resumed: check the re-plug there. */
  override async maybeDone(): Promise<MigrationResult<D> | undefined> {
    if (this.m.phase !== 'completed' || this.dstResumedAt === undefined || !this.dst || !this.pre) return undefined;
    this.disarm('switchover');
    const dstPci = pciQdevIds(await this.dst.monitor.execute('query-pci', undefined, this.cmd).catch(() => []));
    const pairs: PairOutcome[] = this.pre.pairs.map((p) => ({
      id: p.id,
      standbyId: p.standbyId,
      failover: p.failover,
      unplugRequested: this.unplugRequested.has(p.id),
      replugged: p.failover && this.dstNegotiated.has(p.standbyId) && dstPci.has(p.id),
    }));
    for (const p of pairs) {
      if (p.failover && !p.replugged) {
        this.warnings.push(
          `failover primary '${p.id}' was not plugged again on the destination` +
            (this.dstNegotiated.has(p.standbyId) ? ' (query-pci does not list it: is it defined there?)' : ' (no FAILOVER_NEGOTIATED there)'),
        );
      }
      if (p.failover && !p.unplugRequested) this.warnings.push(`QEMU sent no UNPLUG_PRIMARY for failover primary '${p.id}'`);
    }
    const replugged = pairs.filter((p) => p.replugged).map((p) => p.id);
    if (replugged.length) {
      this.m.note('dst:query-pci', `plugged: ${replugged.join(',')}`);
      this.m.to('replugged', replugged.join(','));
    }
    this.succeeded = true;
    const waitAt = this.m.enteredAt('wait-unplug');
    const activeAt = this.m.enteredAt('active');
    const s = await this.finalStats();
    return {
      timeline: this.m.timeline,
      downtimeMs: s?.downtime ?? null,
      totalTimeMs: s?.['total-time'] ?? null,
      setupTimeMs: s?.['setup-time'] ?? null,
      unplugMs: waitAt !== undefined && activeAt !== undefined ? Math.round((activeAt - waitAt) * 10) / 10 : null,
      ramTransferredBytes: s?.ram?.transferred ?? null,
      elapsedMs: this.m.now(),
      warnings: this.warnings,
      pairs,
      precheck: this.pre,
      destination: {
        handle: this.dst,
        uri: this.dst.uri,
        resumedAt: this.dstResumedAt,
        negotiated: [...this.dstNegotiated],
        replugged,
      },
    };
  }

  /** The source completed but the destination did not take over: resume the source, kill the destination. */
  override async switchoverFailed(reason: MigrationFailureReason, why: string): Promise<never> {
    this.disarm('switchover');
    this.m.to('failed', why);
    await this.killDestination();
    let resumed = false;
    if (this.pre?.running) {
      resumed = await this.o.source.execute('cont', undefined, this.cmd).then(() => true, () => false);
      this.m.note('cont', resumed ? 'source resumed' : 'source could not be resumed');
    }
    const fo = this.pre?.pairs.filter((p) => p.failover).map((p) => p.id) ?? [];
    throw this.fail(
      reason,
      `migration failed after the switchover: ${why}; ` +
        (resumed ? 'the guest was resumed on the source' : 'the guest is paused on the source') +
        (fo.length ? `, without its failover ${fo.length > 1 ? 'primaries' : 'primary'} ${quoteList(fo)} (QEMU does not re-plug after a completed migration)` : ''),
    );
  }

  /**
   * The source may report the broken stream before the destination's exit reaches us (under load the
   * child's exit notice lags): wait up to destinationGraceMs for it. A destination killed by a signal
   * is the cause; one that exits with a code after the stream broke is a consequence and is not taken.
   */
  async noticeKilledDestination(): Promise<void> {
    if (this.cancel || this.dstExit || !this.dst) return;
    let timer: unknown;
    const exit = await Promise.race([
      this.dst.exited.then((x) => describeExit(x)),
      new Promise<undefined>((resolve) => (timer = this.timers.setTimeout(() => resolve(undefined), this.o.destinationGraceMs ?? 1000))),
    ]);
    this.timers.clearTimeout(timer);
    if (!exit?.startsWith('signal ')) return;
    this.dstExit = exit;
    // the phase it died in: the last one before the source's 'failed'
    this.dstExitPhase = this.m.timeline.filter((e) => e.event === undefined && e.phase !== 'failed').at(-1)?.phase;
    this.m.note('dst:exit', exit);
  }

  /** Source reached cancelled/failed: confirm it runs and has its primaries back, kill the destination, throw. */
  override async recover(final: 'cancelled' | 'failed'): Promise<never> {
    this.disarm('cancel');
    this.disarm('poll');
    const src = this.o.source;
    const info = final === 'failed' ? await src.execute<MigrateStats>('query-migrate', undefined, this.cmd).catch(() => undefined) : undefined;
    if (final === 'failed') await this.noticeKilledDestination();
    await this.killDestination();
    const fo = this.pre?.pairs.filter((p) => p.failover).map((p) => p.id) ?? [];
    const pci = pciQdevIds(await src.execute('query-pci', undefined, this.cmd).catch(() => []));
    const back = fo.filter((id) => pci.has(id));
    const missing = fo.filter((id) => !pci.has(id));
    if (fo.length) this.m.note('query-pci', `source: ${back.length ? `plugged ${back.join(',')}` : ''}${missing.length ? ` missing ${missing.join(',')}` : ''}`.trim());
    const st = await src.execute<{ running: boolean; status: string }>('query-status', undefined, this.cmd).catch(() => undefined);
    let running = st?.running ?? false;
    if (!running && this.pre?.running) {
      running = await src.execute('cont', undefined, this.cmd).then(() => true, () => false);
      this.m.note('cont', running ? 'source resumed' : 'source could not be resumed');
    }
    const where =
      (running ? 'the guest keeps running on the source' : `the guest stays on the source (QEMU state '${st?.status ?? '?'}')`) +
      (back.length ? `; failover ${back.length > 1 ? 'primaries' : 'primary'} ${quoteList(back)} re-plugged there` : '') +
      (missing.length ? `; failover ${quoteList(missing)} NOT listed by query-pci on the source` : '');
    const c = this.cancel;
    const verb = final === 'cancelled' ? 'migration cancelled' : 'migration failed';
    let reason: MigrationFailureReason;
    let why: string;
    if (c?.reason === 'unplug-timeout') {
      const ids = [...this.unplugRequested].length ? [...this.unplugRequested] : fo;
      reason = c.reason;
      why =
        `the guest did not complete the unplug of failover ${ids.length > 1 ? 'primaries' : 'primary'} ${quoteList(ids)} ` +
        `within ${this.o.unplugTimeoutMs ?? 30_000} ms`;
    } else if (c) {
      reason = c.reason;
      why = c.detail;
    } else if (this.dstExit) {
      reason = 'destination-died';
      why = `the destination QEMU exited (${this.dstExit}) during '${this.dstExitPhase}'`;
    } else {
      reason = final === 'cancelled' ? 'cancelled' : 'failed';
      why = final === 'cancelled' ? 'cancelled by another QMP client' : (info?.['error-desc'] ?? 'QEMU reported failed');
    }
    if (reason === 'destination-died' && this.dst && 'stderr' in this.dst && typeof this.dst.stderr === 'function') {
      const said = String((this.dst.stderr as () => string)())
        .split('\n')
        .filter((l) => l.trim() && !/\bwarning: /.test(l)) // e.g. the usual 'netdev hostnet1 has no peer'
        .slice(-2)
        .join(' / ');
      if (said) why += `: ${said}`;
    }
    if (final === 'failed' && info?.['error-desc'] && !why.includes(info['error-desc'])) why += ` (source: ${info['error-desc']})`;
    throw this.fail(reason, `${verb}: ${why}; ${where}`);
  }
}
