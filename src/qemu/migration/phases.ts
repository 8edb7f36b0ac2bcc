// The migration phase machine: one transition table, one timeline. Every transition and every
// noteworthy event is appended to the timeline with its time (ms since the machine started, on the
// injected clock); the timeline feeds --json, the live progress line and the benches.
//
// Phases (source side, plus the destination's part after the switchover):
//   negotiated   pre-check done: the failover state of every pair is known
//   setup        `migrate` issued; QEMU asks the guest to unplug each plugged primary (UNPLUG_PRIMARY)
//   wait-unplug  QEMU waits (no limit of its own) for the guest to eject the primaries
//   active       the unplug finished (no DEVICE_DELETED ever comes for a primary): RAM is copied
//   device       QEMU >= 10 reports the device-state phase between active and completed
//   completed    the source finished; the destination loads and resumes
//   replugged    the destination runs and its primaries are plugged again (final success)
//   cancelling   migrate_cancel sent (QEMU may stay here up to ~30 s while an unplug is in flight)
//   cancelled    final: the source keeps the guest; QEMU re-plugged the primaries there
//   failed       final: as cancelled, but QEMU (or we) gave up on an error
import { InternalError, OperationFailedError } from '../../util/errors.js';

export const MIGRATION_PHASES = [
  'idle',
  'negotiated',
  'setup',
  'wait-unplug',
  'active',
  'device',
  'completed',
  'replugged',
  'cancelling',
  'cancelled',
  'failed',
] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

/** Allowed transitions; anything else is a bug (ours or QEMU's) and throws InternalError. */
export const PHASE_TRANSITIONS: Readonly<Record<MigrationPhase, readonly MigrationPhase[]>> = {
  idle: ['negotiated', 'failed'],
  negotiated: ['setup', 'cancelled', 'failed'],
  setup: ['wait-unplug', 'active', 'cancelling', 'cancelled', 'failed'],
  'wait-unplug': ['active', 'cancelling', 'cancelled', 'failed'],
  active: ['device', 'completed', 'cancelling', 'cancelled', 'failed'],
  device: ['completed', 'cancelling', 'cancelled', 'failed'],
  completed: ['replugged', 'failed'],
  replugged: [],
  cancelling: ['cancelled', 'failed'],
  cancelled: [],
  failed: [],
};

export const FINAL_PHASES: readonly MigrationPhase[] = ['replugged', 'cancelled', 'failed'];

/** QEMU MigrationStatus values that map onto one of our phases (the rest are only noted). */
const QEMU_STATUS_PHASE: Readonly<Record<string, MigrationPhase>> = {
  setup: 'setup',
  'wait-unplug': 'wait-unplug',
  active: 'active',
  device: 'device',
  completed: 'completed',
  cancelling: 'cancelling',
  cancelled: 'cancelled',
  failed: 'failed',
};

export function phaseForQemuStatus(status: string): MigrationPhase | undefined {
  return Object.hasOwn(QEMU_STATUS_PHASE, status) ? QEMU_STATUS_PHASE[status] : undefined;
}

export interface TimelineEntry {
  /** The phase entered (transition) or current when the event was seen (note). */
  phase: MigrationPhase;
  /** ms since the migration started, on the injected clock. */
  at: number;
  /** Absent for a transition; else what happened: a QMP event (`UNPLUG_PRIMARY`, `dst:RESUME`) or an action. */
  event?: string;
  detail?: string;
}

/** Progress for the live line: every transition and note, and the stats polled while active. */
export interface MigrationProgress {
  phase: MigrationPhase;
  at: number;
  event?: string;
  detail?: string;
  /** While active: RAM copied so far, 0..100. */
  percent?: number;
  /** While active: throughput in MB/s (10^6 bytes). */
  mbPerSec?: number;
  transferredBytes?: number;
  remainingBytes?: number;
  totalBytes?: number;
  /** QEMU's dirty-sync count (RAM pass). */
  pass?: number;
}

export function isTransition(e: TimelineEntry): boolean {
  return e.event === undefined;
}

export class PhaseMachine {
  readonly timeline: TimelineEntry[] = [];
  readonly #clock: () => number;
  readonly #t0: number;
  #phase: MigrationPhase = 'idle';
  readonly #entered = new Map<MigrationPhase, number>();
  readonly #onEntry: ((e: TimelineEntry) => void) | undefined;

  constructor(clock: () => number, onEntry?: (e: TimelineEntry) => void) {
    this.#clock = clock;
    this.#t0 = clock();
    this.#onEntry = onEntry;
  }

  get phase(): MigrationPhase {
    return this.#phase;
  }

  get final(): boolean {
    return FINAL_PHASES.includes(this.#phase);
  }

  /** ms since start, now. */
  now(): number {
    return Math.round((this.#clock() - this.#t0) * 1000) / 1000;
  }

  /** ms since start at which `phase` was (last) entered. */
  enteredAt(phase: MigrationPhase): number | undefined {
    return this.#entered.get(phase);
  }

  canGo(to: MigrationPhase): boolean {
    return PHASE_TRANSITIONS[this.#phase].includes(to);
  }

  /**
   * Enters `to`. Re-entering the current phase is a no-op (returns false); a transition the
   * table does not allow throws InternalError.
   */
  to(to: MigrationPhase, detail?: string): boolean {
    if (to === this.#phase) return false;
    if (!this.canGo(to)) {
      throw new InternalError(`invalid migration phase transition '${this.#phase}' -> '${to}'`);
    }
    this.#phase = to;
    const at = this.now();
    this.#entered.set(to, at);
    this.#push(detail === undefined ? { phase: to, at } : { phase: to, at, detail });
    return true;
  }

  /** Records an event within the current phase. */
  note(event: string, detail?: string): TimelineEntry {
    const e: TimelineEntry = { phase: this.#phase, at: this.now(), event };
    if (detail !== undefined) e.detail = detail;
    this.#push(e);
    return e;
  }

  #push(e: TimelineEntry): void {
    this.timeline.push(e);
    this.#onEntry?.(e);
  }
}

export const MIGRATION_FAILURE_REASONS = [
  'unplug-timeout',
  'aborted',
  'destination-died',
  'destination-start',
  'source-died',
  'failed',
  'cancelled',
  'cancel-timeout',
  'switchover',
] as const;
export type MigrationFailureReason = (typeof MIGRATION_FAILURE_REASONS)[number];

/**
 * A migration that did not complete (code OPERATION_FAILED, like libvirt's). `reason` says why,
 * `timeline` what happened; the source keeps the guest unless reason is 'source-died'.
 */
export class MigrationFailedError extends OperationFailedError {
  constructor(
    detail: string,
    readonly reason: MigrationFailureReason,
    readonly timeline: readonly TimelineEntry[],
    readonly warnings: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

/** A QMP event as the migration code reads it (Monitor's QmpEvent has more). */
export interface MigrationEvent {
  event: string;
  data: Record<string, unknown>;
}

/** What migrateFailover needs from a QMP connection; `Monitor` satisfies it, and fakes are small. */
export interface MigrationMonitor {
  execute<T = unknown>(cmd: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
  /** Subscribes at call time; iteration ends on close(), throws when the connection is lost. */
  events(names?: string[] | null): AsyncIterable<MigrationEvent> & { close(): void };
}
