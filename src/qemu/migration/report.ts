// Rendering a migration for people (a live line on a TTY, a summary at the end) and for --json
// (the timeline with ms timestamps, no live handles). Pure functions: the CLI picks one.
import type { MigrationFailedError, MigrationProgress, TimelineEntry } from './phases.js';
import type { MigrationResult } from './types.js';

const MB = 1_000_000;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).padStart(7)} s`;
}

function ms(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${Math.round(v)} ms`;
}

function describe(e: { phase: string; event?: string; detail?: string }): string {
  if (e.event === undefined) return e.detail ? `${e.phase} (${e.detail})` : e.phase;
  return `${e.phase}: ${e.event}${e.detail ? ` ${e.detail}` : ''}`;
}

/**
 * One line for a live display (rewrite it in place on a TTY): elapsed time, phase and, while
 * RAM is copied, percent, MB/s and the pass; otherwise the transition or the event seen.
 */
export function renderProgressLine(ev: MigrationProgress): string {
  const head = `migration ${seconds(ev.at)}`;
  if (ev.percent !== undefined || ev.mbPerSec !== undefined) {
    const parts: string[] = [ev.phase];
    if (ev.percent !== undefined) parts.push(`${ev.percent.toFixed(0).padStart(3)}%`);
    if (ev.mbPerSec !== undefined) parts.push(`${ev.mbPerSec.toFixed(1)} MB/s`);
    if (ev.transferredBytes !== undefined) parts.push(`${(ev.transferredBytes / MB).toFixed(1)} MB sent`);
    if (ev.pass !== undefined) parts.push(`pass ${ev.pass}`);
    return `${head}  ${parts.join('  ')}`;
  }
  return `${head}  ${describe(ev)}`;
}

/** The timeline as aligned text lines (also used to show a failed migration's timeline). */
export function renderTimeline(timeline: readonly TimelineEntry[]): string[] {
  return timeline.map((e) => `${e.at.toFixed(1).padStart(9)} ms  ${e.event === undefined ? '->' : '  '} ${describe(e)}`);
}

/** The end-of-migration summary for people. */
export function renderSummary(result: MigrationResult): string {
  const lines: string[] = [];
  const fo = result.pairs.filter((p) => p.failover);
  lines.push(
    `Migration completed in ${(result.elapsedMs / 1000).toFixed(2)} s ` +
      `(QEMU: total ${ms(result.totalTimeMs)}, setup ${ms(result.setupTimeMs)}, downtime ${ms(result.downtimeMs)})`,
  );
  const ram = result.ramTransferredBytes === null ? '-' : `${(result.ramTransferredBytes / MB).toFixed(1)} MB`;
  lines.push(`  wait-unplug ${result.unplugMs === null ? 'not needed' : ms(result.unplugMs)}, RAM transferred ${ram}`);
  for (const p of result.pairs) {
    const state = !p.failover
      ? 'did not fail over (never plugged on the source)'
      : `unplugged on the source, ${p.replugged ? 're-plugged on the destination' : 'NOT re-plugged on the destination'}`;
    lines.push(`  ${p.id} (standby ${p.standbyId}): ${state}`);
  }
  if (fo.length) {
    lines.push('  note: the guest may need ~2 s after the re-plug before traffic uses the primary again (link-up)');
  }
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  lines.push('Timeline:');
  for (const l of renderTimeline(result.timeline)) lines.push(`  ${l}`);
  return lines.join('\n');
}

/** The result as JSON: everything but the pre-check details and the live destination handle. */
export type MigrationReportJson = Omit<MigrationResult, 'precheck' | 'destination'> & {
  destination: Omit<MigrationResult['destination'], 'handle'>;
};

/** The result as plain data for --json (the destination's live handle left out). */
export function migrationReportJson(result: MigrationResult): MigrationReportJson {
  const { handle: _handle, ...destination } = result.destination;
  return {
    timeline: result.timeline.map((e) => ({ ...e })),
    downtimeMs: result.downtimeMs,
    totalTimeMs: result.totalTimeMs,
    setupTimeMs: result.setupTimeMs,
    unplugMs: result.unplugMs,
    ramTransferredBytes: result.ramTransferredBytes,
    elapsedMs: result.elapsedMs,
    warnings: [...result.warnings],
    pairs: result.pairs.map((p) => ({ ...p })),
    destination,
  };
}

export interface MigrationFailureJson {
  error: { code: string; reason: string; message: string };
  timeline: TimelineEntry[];
  warnings: string[];
}

/** A failed migration as plain data for --json: the error and the timeline up to the failure. */
export function migrationFailureJson(err: MigrationFailedError): MigrationFailureJson {
  return {
    error: { code: err.code, reason: err.reason, message: err.message },
    timeline: err.timeline.map((e) => ({ ...e })),
    warnings: [...err.warnings],
  };
}
