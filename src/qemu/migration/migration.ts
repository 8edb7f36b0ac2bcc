// Live migration of a guest with virtio-net failover pairs, followed by QMP events (never by sleeping):
// pre-check -> migrate -> UNPLUG_PRIMARY / wait-unplug (bounded by our own deadline: QEMU has none)
// -> active -> completed -> destination RESUME with its primaries plugged again.
// Every failure ends the same way: migrate_cancel if the source is still migrating, wait (bounded) for
// QEMU to report cancelled/failed (it re-plugs the primaries on the source then), check that the source
// runs and still has its primaries, kill the destination, throw MigrationFailedError with the timeline.
// On success the source is left paused in 'postmigrate'; telling it to quit is the caller's job.
import type { DestinationHandle } from './dest.js';
import { MigrationRun } from './outcome.js';
import type { MigrateFailoverOptions, MigrationResult } from './types.js';

export * from './phases.js';
export * from './precheck.js';
export * from './dest.js';
export * from './report.js';
export type { MigrateFailoverOptions, MigrationResult, MigrationTimers, PairOutcome } from './types.js';

/** Migrates the guest behind `source` into a fresh destination; see the file comment. */
export async function migrateFailover<D extends DestinationHandle>(opts: MigrateFailoverOptions<D>): Promise<MigrationResult<D>> {
  return new MigrationRun(opts).run();
}
export * from './inspect.js';
