// The migration's run loop: event pumps (source and destination QMP), timers and the abort signal feed
// one inbox; each input moves the phase machine. What happens at the end (success checks, recovery of
// the source) is in migration-outcome.ts.
import { performance } from 'node:perf_hooks';
import type { DestinationHandle } from './dest.js';
import {
  MigrationFailedError,
  PhaseMachine,
  phaseForQemuStatus,
  type MigrationEvent,
  type MigrationFailureReason,
  type MigrationPhase,
  type MigrationProgress,
} from './phases.js';
import { precheckFailover, type PrecheckResult } from './precheck.js';
import type { MigrateFailoverOptions, MigrationResult, MigrationTimers } from './types.js';

const REAL_TIMERS: MigrationTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface MigrateStats {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  'setup-time'?: number;
  'error-desc'?: string;
  ram?: { transferred?: number; total?: number; remaining?: number; mbps?: number; 'dirty-sync-count'?: number };
}

export type Input =
  | { kind: 'src' | 'dst'; ev: MigrationEvent }
  | { kind: 'src-lost' | 'dst-lost'; error: unknown }
  | { kind: 'dst-exit'; detail: string }
  | { kind: 'timer'; name: TimerName }
  | { kind: 'abort' };

export type TimerName = 'unplug' | 'cancel' | 'switchover' | 'grace' | 'poll' | 'timeout';

/** A FIFO the event pumps, timers and the abort signal feed and the run loop drains. */
export class Inbox {
  #queue: Input[] = [];
  #waiter: ((x: Input) => void) | undefined;
  push(x: Input): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w(x);
    } else this.#queue.push(x);
  }
  next(): Promise<Input> {
    const x = this.#queue.shift();
    if (x) return Promise.resolve(x);
    return new Promise((resolve) => (this.#waiter = resolve));
  }
}

const SRC_EVENTS = ['MIGRATION', 'UNPLUG_PRIMARY', 'MIGRATION_PASS', 'STOP', 'RESUME', 'DEVICE_DELETED'];
const DST_EVENTS = ['MIGRATION', 'FAILOVER_NEGOTIATED', 'RESUME', 'STOP', 'DEVICE_DELETED'];
const EVENTS_ON = { capabilities: [{ capability: 'events', state: true }] };

export function text(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : String(e);
}

export function quoteList(ids: readonly string[]): string {
  const q = ids.map((i) => `'${i}'`);
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} and ${q.at(-1)}`;
}

export abstract class MigrationRunBase<D extends DestinationHandle> {
  readonly o: MigrateFailoverOptions<D>;
  readonly m: PhaseMachine;
  readonly timers: MigrationTimers;
  readonly inbox = new Inbox();
  readonly warnings: string[] = [];
  readonly cmd: { timeoutMs: number };
  readonly #armed = new Map<TimerName, unknown>();
  pre: PrecheckResult | undefined;
  dst: D | undefined;
  streams: { close(): void }[] = [];
  cancel: { reason: MigrationFailureReason; detail: string } | undefined;
  dstExit: string | undefined;
  dstExitPhase: MigrationPhase | undefined;
  dstResumedAt: number | undefined;
  readonly dstNegotiated = new Set<string>();
  readonly unplugRequested = new Set<string>();
  lastPoll: { at: number; transferred: number } | undefined;
  succeeded = false;
  /** --timeout passed while the guest was unplugging: suspend it once RAM copying starts. */
  timeoutDue = false;
  /** We suspended the source for --timeout: the destination needs a `cont` once loaded. */
  suspended = false;
  /** Migration parameters before --max-downtime/--bandwidth changed them, put back when the migration fails. */
  oldParameters: Record<string, number> | undefined;
  #dstKilled: Promise<void> | undefined;

  constructor(o: MigrateFailoverOptions<D>) {
    this.o = o;
    this.timers = o.timers ?? REAL_TIMERS;
    this.cmd = { timeoutMs: o.commandTimeoutMs ?? 10_000 };
    this.m = new PhaseMachine(o.clock ?? (() => performance.now()), (e) => this.progress({ ...e }));
  }

  /** The caller's callback; what it throws must not break the migration. */
  progress(ev: MigrationProgress): void {
    try {
      this.o.onProgress?.(ev);
    } catch {
      // ignored
    }
  }

  fail(reason: MigrationFailureReason, detail: string, cause?: unknown): MigrationFailedError {
    return new MigrationFailedError(detail, reason, this.m.timeline, this.warnings, cause ? { cause } : undefined);
  }

  abortText(): string {
    const r: unknown = this.o.signal?.reason;
    return r === undefined || (r instanceof Error && r.name === 'AbortError') ? 'aborted by the caller' : `aborted by the caller (${text(r)})`;
  }

  async run(): Promise<MigrationResult<D>> {
    const { signal } = this.o;
    if (signal?.aborted) throw this.fail('aborted', `migration not started: ${this.abortText()}`);
    try {
      this.pre = await precheckFailover(this.o.source, this.o.primaries, {
        negotiated: this.o.negotiated,
        requireFailover: this.o.requireFailover,
        resume: this.o.resume,
        signal,
        commandTimeoutMs: this.cmd.timeoutMs,
      });
    } catch (err) {
      if (signal?.aborted) throw this.fail('aborted', `migration not started: ${this.abortText()}`, err);
      throw err;
    }
    this.warnings.push(...this.pre.warnings);
    const fo = this.pre.pairs.filter((p) => p.failover).map((p) => p.id);
    this.m.to('negotiated', fo.length ? `failover primaries plugged: ${fo.join(',')}` : 'no failover primary plugged');
    if (this.pre.resumed) this.m.note('cont', 'resumed the paused guest');

    const onAbort = (): void => this.inbox.push({ kind: 'abort' });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.pump(this.o.source.events(SRC_EVENTS), 'src');
      try {
        this.dst = await this.o.destination.start({ signal });
      } catch (err) {
        if (signal?.aborted) {
          this.m.to('cancelled', this.abortText());
          throw this.fail('aborted', `migration not started: ${this.abortText()}`, err);
        }
        this.m.to('failed', 'destination did not start');
        throw this.fail('destination-start', (err as { detail?: string }).detail ?? text(err), err);
      }
      const dst = this.dst;
      this.m.note('dst:listening', dst.uri);
      this.pump(dst.monitor.events(DST_EVENTS), 'dst');
      void dst.exited.then((x) => this.inbox.push({ kind: 'dst-exit', detail: describeExit(x) }));
      try {
        await this.o.source.execute('migrate-set-capabilities', EVENTS_ON, this.cmd);
        await this.setParameters();
        if (signal?.aborted) {
          this.m.to('cancelled', this.abortText());
          throw this.fail('aborted', `migration not started: ${this.abortText()}`);
        }
        this.m.note('migrate', dst.uri);
        await this.o.source.execute('migrate', { uri: dst.uri }, this.cmd);
      } catch (err) {
        if (err instanceof MigrationFailedError) throw err;
        this.m.to('failed', 'migrate refused');
        throw this.fail('failed', `migration did not start: ${text(err)}`, err);
      }
      this.m.to('setup');
      if (this.pre.pairs.some((p) => p.failover)) this.arm('unplug', this.o.unplugTimeoutMs ?? 30_000);
      if (this.o.timeoutMs !== undefined) this.arm('timeout', this.o.timeoutMs);
      for (;;) {
        const done = await this.handle(await this.inbox.next());
        if (done) return done;
      }
    } catch (err) {
      if (!this.succeeded) {
        await this.killDestination();
        if (this.oldParameters) await this.o.source.execute('migrate-set-parameters', this.oldParameters, this.cmd).catch(() => undefined);
      }
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const name of [...this.#armed.keys()]) this.disarm(name);
      for (const s of this.streams) s.close();
    }
  }

  /** --max-downtime, --bandwidth: QEMU's parameters for this migration; the old values are kept to put back. */
  async setParameters(): Promise<void> {
    const want: Record<string, number> = {};
    if (this.o.maxDowntimeMs !== undefined) want['downtime-limit'] = this.o.maxDowntimeMs;
    if (this.o.bandwidthMiBs !== undefined) want['max-bandwidth'] = this.o.bandwidthMiBs * 1024 * 1024;
    const keys = Object.keys(want);
    if (keys.length === 0) return;
    const now = await this.o.source.execute<Record<string, unknown>>('query-migrate-parameters', undefined, this.cmd);
    await this.o.source.execute('migrate-set-parameters', want, this.cmd);
    this.oldParameters = Object.fromEntries(keys.filter((k) => typeof now[k] === 'number').map((k) => [k, now[k] as number]));
    if (want['downtime-limit'] !== undefined) this.m.note('downtime-limit', `${want['downtime-limit']} ms`);
    if (this.o.bandwidthMiBs !== undefined) this.m.note('max-bandwidth', `${this.o.bandwidthMiBs} MiB/s`);
  }

  /** --timeout passed: suspend the guest on the source so that the migration converges (virsh's --timeout-suspend). */
  async suspendForTimeout(): Promise<void> {
    this.timeoutDue = false;
    if (this.suspended || this.cancel || this.m.final) return;
    try {
      await this.o.source.execute('stop', undefined, this.cmd);
      this.suspended = true;
      this.m.note('suspend', `--timeout ${(this.o.timeoutMs ?? 0) / 1000} s: the guest is suspended so the migration converges`);
    } catch (err) {
      this.m.note('suspend-error', text(err));
    }
  }

  /** Kills the destination once (whatever the launcher's kill() does when called twice). */
  killDestination(): Promise<void> {
    if (!this.dst) return Promise.resolve();
    return (this.#dstKilled ??= this.dst.kill().catch(() => undefined));
  }

  pump(stream: AsyncIterable<MigrationEvent> & { close(): void }, side: 'src' | 'dst'): void {
    this.streams.push(stream);
    void (async () => {
      try {
        for await (const ev of stream) this.inbox.push({ kind: side, ev });
      } catch (error) {
        this.inbox.push({ kind: side === 'src' ? 'src-lost' : 'dst-lost', error });
      }
    })();
  }

  arm(name: TimerName, ms: number): void {
    this.disarm(name);
    this.#armed.set(name, this.timers.setTimeout(() => {
      this.#armed.delete(name);
      this.inbox.push({ kind: 'timer', name });
    }, ms));
  }

  disarm(name: TimerName): void {
    if (!this.#armed.has(name)) return;
    this.timers.clearTimeout(this.#armed.get(name));
    this.#armed.delete(name);
  }

  /** Enters a phase QEMU reported; an order the table forbids is noted, not fatal. */
  enter(phase: MigrationPhase, detail?: string): boolean {
    if (phase === this.m.phase) return false;
    if (!this.m.canGo(phase)) {
      this.m.note('unexpected', `QEMU reported '${phase}' in phase '${this.m.phase}'`);
      return false;
    }
    return this.m.to(phase, detail);
  }

  /** One input; returns the result once the migration succeeded, throws when it ended otherwise. */
  async handle(x: Input): Promise<MigrationResult<D> | undefined> {
    switch (x.kind) {
      case 'src':
        return this.onSource(x.ev);
      case 'dst':
        return this.onDestination(x.ev);
      case 'src-lost':
        if (this.succeeded) return undefined;
        this.enter('failed', 'source monitor lost');
        throw this.fail('source-died', `migration failed: lost the source QEMU monitor (${text(x.error)})`, x.error);
      case 'dst-lost':
        this.m.note('dst:monitor-closed', text(x.error));
        return undefined;
      case 'dst-exit':
        return this.onDestinationExit(x.detail);
      case 'abort':
        if (this.m.phase === 'completed') {
          this.m.note('abort', 'ignored: the source already completed the switchover');
          this.warnings.push('abort requested after the switchover: ignored');
          return undefined;
        }
        await this.requestCancel('aborted', this.abortText());
        return undefined;
      case 'timer':
        return this.onTimer(x.name);
    }
  }

  async onSource(ev: MigrationEvent): Promise<MigrationResult<D> | undefined> {
    const d = ev.data;
    if (ev.event === 'UNPLUG_PRIMARY') {
      const id = String(d['device-id']);
      this.unplugRequested.add(id);
      this.m.note('UNPLUG_PRIMARY', id);
      return undefined;
    }
    if (ev.event !== 'MIGRATION') {
      this.m.note(ev.event, ev.event === 'MIGRATION_PASS' ? `pass ${String(d.pass)}` : undefined);
      return undefined;
    }
    const status = String(d.status);
    const phase = phaseForQemuStatus(status);
    if (!phase) {
      this.m.note('MIGRATION', status);
      return undefined;
    }
    if (!this.enter(phase)) return undefined;
    switch (phase) {
      case 'wait-unplug':
        if (!this.#armed.has('unplug')) this.arm('unplug', this.o.unplugTimeoutMs ?? 30_000);
        break;
      case 'active':
        this.disarm('unplug');
        this.schedulePoll();
        if (this.timeoutDue) await this.suspendForTimeout();
        break;
      case 'completed':
        this.disarm('poll');
        if (this.dstExit) return this.switchoverFailed('destination-died', `the destination QEMU exited (${this.dstExit})`);
        this.arm('switchover', this.o.switchoverTimeoutMs ?? 30_000);
        return this.maybeDone();
      case 'cancelled':
      case 'failed':
        return this.recover(phase);
    }
    return undefined;
  }

  async onDestination(ev: MigrationEvent): Promise<MigrationResult<D> | undefined> {
    const d = ev.data;
    if (ev.event === 'FAILOVER_NEGOTIATED') {
      const id = String(d['device-id']);
      this.dstNegotiated.add(id);
      this.m.note('dst:FAILOVER_NEGOTIATED', id);
      return undefined;
    }
    this.m.note(`dst:${ev.event}`, ev.event === 'MIGRATION' ? String(d.status) : undefined);
    if (ev.event === 'MIGRATION' && d.status === 'completed' && this.suspended && this.dst) {
      // The source was paused at the switchover, so QEMU leaves the destination paused: resume it.
      await this.dst.monitor.execute('cont', undefined, this.cmd).then(
        () => this.m.note('dst:cont', 'resuming the guest suspended for --timeout'),
        (err: unknown) => this.m.note('dst:cont-error', text(err)),
      );
      return undefined;
    }
    if (ev.event === 'RESUME' && this.dstResumedAt === undefined) {
      this.dstResumedAt = this.m.now();
      return this.maybeDone();
    }
    return undefined;
  }

  async onDestinationExit(detail: string): Promise<MigrationResult<D> | undefined> {
    if (this.succeeded) return undefined;
    this.dstExit = detail;
    this.dstExitPhase = this.m.phase;
    this.m.note('dst:exit', detail);
    if (this.m.phase === 'completed') {
      return this.switchoverFailed('destination-died', `the destination QEMU exited (${detail})`);
    }
    if (this.cancel || this.m.final) return undefined;
    if (this.m.phase === 'active' || this.m.phase === 'device') {
      this.arm('grace', this.o.destinationGraceMs ?? 1000); // the source sees the broken stream itself
      return undefined;
    }
    await this.requestCancel('destination-died', `the destination QEMU exited (${detail})`);
    return undefined;
  }

  async onTimer(name: TimerName): Promise<MigrationResult<D> | undefined> {
    switch (name) {
      case 'unplug': {
        if (this.m.phase !== 'setup' && this.m.phase !== 'wait-unplug') return undefined;
        const ms = this.o.unplugTimeoutMs ?? 30_000;
        this.m.note('unplug-timeout', `${ms} ms`);
        await this.requestCancel('unplug-timeout', `the guest did not complete the unplug within ${ms} ms`);
        return undefined;
      }
      case 'grace':
        if (!this.cancel && !this.m.final) await this.requestCancel('destination-died', `the destination QEMU exited (${this.dstExit})`);
        return undefined;
      case 'poll':
        await this.poll();
        return undefined;
      case 'timeout':
        if (this.m.phase === 'active' || this.m.phase === 'device') await this.suspendForTimeout();
        else if (this.m.phase === 'setup' || this.m.phase === 'wait-unplug') {
          this.timeoutDue = true;
          this.m.note('timeout', 'the guest is still unplugging: suspended once that is done');
        }
        return undefined;
      case 'cancel': {
        const st = await this.o.source.execute<MigrateStats>('query-migrate', undefined, this.cmd).catch(() => undefined);
        const ms = this.o.cancelTimeoutMs ?? 40_000;
        this.m.note('cancel-timeout', `${ms} ms, QEMU status '${st?.status ?? '?'}'`);
        await this.killDestination();
        throw this.fail(
          'cancel-timeout',
          `migration could not be cancelled: QEMU still reports '${st?.status ?? '?'}' ${ms} ms after migrate_cancel ` +
            `(${this.cancel?.detail ?? ''}); the destination was killed, the source keeps the guest`,
        );
      }
      case 'switchover':
        if (this.dstResumedAt === undefined) {
          const ms = this.o.switchoverTimeoutMs ?? 30_000;
          return this.switchoverFailed('switchover', `the destination did not resume within ${ms} ms`);
        }
        return undefined;
    }
  }

  async requestCancel(reason: MigrationFailureReason, detail: string): Promise<void> {
    if (this.cancel || this.m.final || this.m.phase === 'completed') return;
    this.cancel = { reason, detail };
    this.disarm('unplug');
    this.disarm('grace');
    this.disarm('poll');
    this.m.note('migrate_cancel', `${reason}: ${detail}`);
    this.arm('cancel', this.o.cancelTimeoutMs ?? 40_000);
    try {
      await this.o.source.execute('migrate_cancel', undefined, this.cmd);
    } catch (err) {
      this.m.note('migrate_cancel-error', text(err));
    }
  }

  schedulePoll(): void {
    const every = this.o.progressIntervalMs ?? (this.o.onProgress ? 500 : 0);
    if (every > 0) this.arm('poll', every);
  }

  async poll(): Promise<void> {
    if (this.m.phase !== 'active' && this.m.phase !== 'device') return;
    const st = await this.o.source.execute<MigrateStats>('query-migrate', undefined, this.cmd).catch(() => undefined);
    const ram = st?.ram;
    if (ram && (this.m.phase === 'active' || this.m.phase === 'device')) {
      const at = this.m.now();
      const transferred = ram.transferred ?? 0;
      let mbPerSec = (ram.mbps ?? 0) / 8;
      if (this.lastPoll && at > this.lastPoll.at) mbPerSec = (transferred - this.lastPoll.transferred) / 1000 / (at - this.lastPoll.at);
      this.lastPoll = { at, transferred };
      const total = ram.total ?? 0;
      const percent = total > 0 ? Math.min(100, Math.max(0, (100 * (total - (ram.remaining ?? total))) / total)) : undefined;
      this.progress({
        phase: this.m.phase,
        at,
        percent,
        mbPerSec: Math.round(mbPerSec * 10) / 10,
        transferredBytes: transferred,
        remainingBytes: ram.remaining,
        totalBytes: ram.total,
        pass: ram['dirty-sync-count'],
      });
    }
    this.schedulePoll();
  }

  /** Success once the source completed and the destination resumed (checks the re-plug there). */
  abstract maybeDone(): Promise<MigrationResult<D> | undefined>;
  /** The source completed but the destination did not take over. */
  abstract switchoverFailed(reason: MigrationFailureReason, why: string): Promise<never>;
  /** The source reached cancelled/failed. */
  abstract recover(final: 'cancelled' | 'failed'): Promise<never>;
}

export function describeExit(x: unknown): string {
  const e = x as { code?: number | null; signal?: string | null; detail?: string } | undefined;
  if (e && typeof e === 'object') {
    if (typeof e.detail === 'string') return e.detail;
    if (e.signal) return `signal ${e.signal}`;
    if (typeof e.code === 'number') return `code ${e.code}`;
  }
  return 'exited';
}
