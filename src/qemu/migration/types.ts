// The migration's options and result, in their own module so that the run, its outcome and the report
// depend on them rather than on migration.ts, which ties them together.
import type { DestinationHandle } from './dest.js';
import type { MigrationMonitor, MigrationProgress, TimelineEntry } from './phases.js';
import type { FailoverPairRef, PrecheckResult } from './precheck.js';

export interface MigrationTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface MigrateFailoverOptions<D extends DestinationHandle = DestinationHandle> {
  source: MigrationMonitor;
  primaries: readonly FailoverPairRef[];
  destination: { start(opts?: { signal?: AbortSignal }): Promise<D> };
  /** Deadline for the guest to finish unplugging the primaries, from `migrate` on (default 30 000). */
  unplugTimeoutMs?: number;
  /** Refuse (OperationInvalidError) a migration in which some pair would not fail over. */
  requireFailover?: boolean;
  /** `cont` a paused guest whose primary is plugged (otherwise refused: it would never unplug). */
  resume?: boolean;
  /** Standby ids for which the caller saw FAILOVER_NEGOTIATED since QEMU started. */
  negotiated?: ReadonlySet<string>;
  /**
   * virsh's --timeout: when the live migration runs longer than this (from `migrate` on), the guest
   * is suspended so that it converges (virsh's --timeout-suspend); the destination is resumed once it
   * has loaded. A guest still unplugging its primaries is suspended once that is done (a paused guest
   * cannot unplug); the unplug has its own deadline.
   */
  timeoutMs?: number;
  /** QEMU's downtime-limit for this migration, ms (migrate-set-parameters; old values are put back on failure). */
  maxDowntimeMs?: number;
  /** QEMU's max-bandwidth for this migration, MiB/s (virsh's --bandwidth). */
  bandwidthMiBs?: number;
  /** Abort (Ctrl-C, SIGTERM): cancels the migration; the guest stays on the source. */
  signal?: AbortSignal;
  onProgress?: (ev: MigrationProgress) => void;
  /** ms clock (default performance.now). */
  clock?: () => number;
  timers?: MigrationTimers;
  /** query-migrate interval while active, for percent and MB/s (default 500 with onProgress, else off; 0 = off). */
  progressIntervalMs?: number;
  /** Re-query interval while QEMU has not yet filled in the final stats (default 20; 0 = take what comes). */
  statsRetryMs?: number;
  /** How long to wait for 'cancelled' after migrate_cancel (default 40 000: QEMU may wait 30 s for an unplug). */
  cancelTimeoutMs?: number;
  /** After the source completed: deadline for the destination's RESUME (default 30 000). */
  switchoverTimeoutMs?: number;
  /** The destination died while RAM was flowing: time for the source to fail by itself before we cancel (1000). */
  destinationGraceMs?: number;
  /** Per QMP command (default 10 000). */
  commandTimeoutMs?: number;
}

export interface PairOutcome extends FailoverPairRef {
  /** The pair went through unplug on the source (the guest had negotiated failover, primary plugged). */
  failover: boolean;
  unplugRequested: boolean;
  /** Destination: FAILOVER_NEGOTIATED for the standby, and query-pci lists the primary. */
  replugged: boolean;
}

export interface MigrationResult<D extends DestinationHandle = DestinationHandle> {
  timeline: TimelineEntry[];
  /** QEMU's numbers (query-migrate on the source after completion), ms. */
  downtimeMs: number | null;
  totalTimeMs: number | null;
  setupTimeMs: number | null;
  /** How long QEMU sat in wait-unplug; null when it never did. */
  unplugMs: number | null;
  ramTransferredBytes: number | null;
  /** Our clock, from the call to the destination's re-plug. */
  elapsedMs: number;
  warnings: string[];
  pairs: PairOutcome[];
  precheck: PrecheckResult;
  destination: { handle: D; uri: string; resumedAt: number; negotiated: string[]; replugged: string[] };
}
