// What the test guest saw during a live migration: its ping replies (busybox ping to the slirp gateway,
// one line per reply on the serial console, stamped with the host time at which the line arrived) cut
// into the phases of docs/replug.md, using marks from the migration (migrate, STOP, RESUME,
// destination re-plug). Pure functions: the demo, the bench and the unit tests feed them recorded lines.
//
// Phases and their numbers (all ms on the host clock; "lost" = ICMP sequence numbers never answered):
//   unplug         consecutive replies on the source whose later reply arrived in (migrate, STOP]:
//                  the guest switches its traffic from the primary to the standby
//   stop-and-copy  the last source reply before RESUME -> the first destination reply (VM stopped:
//                  requests are delayed, normally not lost)
//   re-plug        consecutive replies on the destination (both at/after RESUME): with an emulated
//                  e1000e primary, ~2 s of RX black hole until its link is up (docs/replug.md)
// Each phase reports its longest gap and the sequence numbers lost in it. The total is the sum of the three
// longest gaps, and every sequence number lost from the last reply before `migrate` to the last one seen.
import { parseGuestLine } from './guest-init.js';
import type { TimelineEntry } from '../qemu/migration/index.js';

/** A serial console line with the host time it arrived (GuestConsole's ConsoleLine fits). */
export interface ObservedLine {
  t: number;
  line: string;
}

/** Host times (same clock as the lines) of the migration's steps; null/absent when it did not happen. */
export interface MigrationMarks {
  /** `migrate` sent to the source. */
  migrate: number;
  /** Source STOP: stop-and-copy begins. */
  stop?: number | null;
  /** Destination RESUME. */
  resume?: number | null;
  /** Destination re-plug of the primary (its FAILOVER_NEGOTIATED, during the load). */
  replug?: number | null;
  /** End of the observation (default: the last line). */
  end?: number | null;
}

/** One ping reply; `at` is relative to the `migrate` mark. */
export interface ReplyPoint {
  seq: number;
  at: number;
}

export interface Gap {
  ms: number;
  /** Sequence numbers missing between the two replies. */
  lost: number;
  from: ReplyPoint;
  /** Null for a gap still open at the end of the observation. */
  to: ReplyPoint | null;
}

export interface PhaseOutage {
  /** Replies that ended a gap in this phase. */
  replies: number;
  /** The longest gap, null when the phase saw no pair of replies. */
  longest: Gap | null;
  /** Sequence numbers lost in the whole phase (all its gaps). */
  lost: number;
}

export interface GuestOutage {
  /** Median gap between the last 20 replies before `migrate` (the ping interval plus jitter), null if < 2 replies. */
  baselineMs: number | null;
  replies: { beforeMigrate: number; source: number; destination: number };
  unplug: PhaseOutage;
  stopAndCopy: PhaseOutage;
  replug: PhaseOutage & {
    /** No reply since this long before the end of the observation, longer than every closed gap. */
    open: Gap | null;
  };
  total: {
    /** Sum of the three phases' longest gaps (an open re-plug gap counts if longer). */
    ms: number;
    /** All sequence numbers lost from the last reply before `migrate` to the last reply seen. */
    lost: number;
    /** Lost sequence numbers as inclusive ranges. */
    lostRanges: [number, number][];
  };
  /** busybox ping restarted (sequence numbers went backwards): losses across a restart are unknown. */
  pingRestarts: number;
  /** What the guest's VFSTATE lines said, ms relative to `migrate` (null: not seen). */
  guest: {
    /** Source: first state after `migrate` without the primary enslaved. */
    primaryReleasedAt: number | null;
    /** Destination: first state after RESUME with the primary enslaved again. */
    primaryEnslavedAt: number | null;
    /** Destination: first state after RESUME with the primary enslaved and its link up. */
    linkUpAt: number | null;
  };
}

interface Reply {
  t: number;
  seq: number;
  /** Index of the ping process (a VFPING restart line, or seq far below the highest seen, starts a new one). */
  run: number;
}

/** The baseline (ping interval plus jitter) is the median gap of the last this many replies before `migrate`. */
const BASELINE_REPLIES = 20;

/** Sequence numbers this far below the highest seen mean a new ping process, not reordering (~1 s). */
const RESTART_BACKWARDS = 100;

const round1 = (v: number): number => Math.round(v * 10) / 10;

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The ping replies among `lines` in arrival order, each tagged with its ping run. */
function replies(lines: readonly ObservedLine[]): { replies: Reply[]; restarts: number } {
  const events = lines
    .map((l) => ({ t: l.t, ev: parseGuestLine(l.line) }))
    .filter((x) => x.ev?.kind === 'ping' || x.ev?.kind === 'ping-restart')
    .sort((a, b) => a.t - b.t);
  const out: Reply[] = [];
  let run = 0;
  let max = -1;
  let pendingRestart = false;
  for (const { t, ev } of events) {
    if (ev?.kind === 'ping-restart') {
      pendingRestart = max >= 0;
      continue;
    }
    if (ev?.kind !== 'ping') continue;
    if (pendingRestart || ev.seq < max - RESTART_BACKWARDS) {
      run++;
      max = -1;
    }
    pendingRestart = false;
    max = Math.max(max, ev.seq);
    out.push({ t, seq: ev.seq, run });
  }
  return { replies: out, restarts: run };
}

function emptyPhase(): PhaseOutage {
  return { replies: 0, longest: null, lost: 0 };
}

/**
 * Cuts the guest's ping replies into the migration's phases (see the file comment). Lines that are
 * not ping replies, ping restarts or VFSTATE lines are ignored; the lines need not be sorted.
 * Replies arriving out of order are not losses; a sequence number counts as lost when no reply for it
 * arrived at all. Without a STOP mark (a cancelled or failed migration) every gap after `migrate`
 * counts as unplug.
 */
export function analyzeGuestOutage(lines: readonly ObservedLine[], marks: MigrationMarks): GuestOutage {
  const t0 = marks.migrate;
  const resume = marks.resume ?? null;
  const stop = marks.stop ?? resume;
  const rel = (t: number): number => round1(t - t0);
  const point = (r: Reply): ReplyPoint => ({ seq: r.seq, at: rel(r.t) });
  const { replies: all, restarts } = replies(lines);
  const end = marks.end ?? (lines.length ? Math.max(...lines.map((l) => l.t)) : t0);

  const before = all.filter((r) => r.t <= t0);
  const after = all.filter((r) => r.t > t0);
  const isDst = (r: Reply): boolean => resume !== null && r.t >= resume;
  const baselineGaps: number[] = [];
  const recent = before.slice(-(BASELINE_REPLIES + 1));
  for (let i = 1; i < recent.length; i++) baselineGaps.push(recent[i].t - recent[i - 1].t);

  const chain = before.length ? [before[before.length - 1], ...after] : after;
  const seen = new Set(chain.map((r) => `${r.run}:${r.seq}`));
  /** Sequence numbers above the run's highest so far and below b's that never got a reply. */
  const lostBetween = (high: number, b: Reply): number[] => {
    const out: number[] = [];
    for (let s = high + 1; s < b.seq; s++) if (!seen.has(`${b.run}:${s}`)) out.push(s);
    return out;
  };

  const unplug = emptyPhase();
  const sac = emptyPhase();
  const replug = { ...emptyPhase(), open: null as Gap | null };
  const lostSeqs: number[] = [];
  let high = chain.length ? chain[0].seq : -1;
  for (let i = 1; i < chain.length; i++) {
    const a = chain[i - 1];
    const b = chain[i];
    if (b.run !== a.run) high = -1;
    const lost = high < 0 ? [] : lostBetween(high, b); // across a restart the losses are unknown
    high = Math.max(high, b.seq);
    lostSeqs.push(...lost);
    let phase: PhaseOutage | undefined;
    if (isDst(a)) phase = replug;
    else if (isDst(b)) phase = sac;
    else if (stop === null || b.t <= stop) phase = unplug;
    else if (resume !== null) phase = sac; // a source straggler after STOP, before RESUME
    if (!phase) continue;
    phase.replies++;
    phase.lost += lost.length;
    const gap: Gap = { ms: round1(b.t - a.t), lost: lost.length, from: point(a), to: point(b) };
    if (!phase.longest || gap.ms > phase.longest.ms) phase.longest = gap;
  }

  // A re-plug gap the observation ended in: no destination reply for longer than every closed gap
  // (and clearly longer than the ping interval, so that an observation ending between two replies is not one).
  const baseline = median(baselineGaps);
  if (resume !== null && end > resume) {
    const lastDst = [...after].reverse().find(isDst);
    const from = lastDst ?? chain.at(-1);
    const openMs = round1(end - (lastDst ? lastDst.t : resume));
    if (from && openMs > (replug.longest?.ms ?? 0) && openMs > 2 * (baseline ?? 10) + 100) {
      replug.open = { ms: openMs, lost: 0, from: point(from), to: null };
    }
  }

  const longest = (p: PhaseOutage): number => p.longest?.ms ?? 0;
  const replugMs = Math.max(longest(replug), replug.open?.ms ?? 0);
  const states = stateMarks(lines, t0, resume);
  return {
    baselineMs: baseline === null ? null : round1(baseline),
    replies: {
      beforeMigrate: before.length,
      source: after.filter((r) => !isDst(r)).length,
      destination: after.filter(isDst).length,
    },
    unplug,
    stopAndCopy: sac,
    replug,
    total: { ms: round1(longest(unplug) + longest(sac) + replugMs), lost: lostSeqs.length, lostRanges: ranges(lostSeqs) },
    pingRestarts: restarts,
    guest: {
      primaryReleasedAt: states.released === null ? null : rel(states.released),
      primaryEnslavedAt: states.enslaved === null ? null : rel(states.enslaved),
      linkUpAt: states.linkUp === null ? null : rel(states.linkUp),
    },
  };
}

/** [1,2,3,7,8] -> [[1,3],[7,8]] (input in ascending runs; a new run may restart low). */
function ranges(seqs: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of seqs) {
    const last = out.at(-1);
    if (last && s === last[1] + 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}

function stateMarks(
  lines: readonly ObservedLine[],
  t0: number,
  resume: number | null,
): { released: number | null; enslaved: number | null; linkUp: number | null } {
  let released: number | null = null;
  let enslaved: number | null = null;
  let linkUp: number | null = null;
  const sorted = [...lines].sort((a, b) => a.t - b.t);
  for (const l of sorted) {
    if (l.t <= t0) continue;
    const ev = parseGuestLine(l.line);
    if (ev?.kind !== 'state') continue;
    const onDst = resume !== null && l.t >= resume;
    if (!onDst) {
      if (released === null && !ev.enslaved) released = l.t;
      continue;
    }
    if (enslaved === null && ev.enslaved) enslaved = l.t;
    if (linkUp === null && ev.enslaved && ev.link === 'up') linkUp = l.t;
  }
  return { released, enslaved, linkUp };
}

// ---- the migration's own timeline -----------------------------------------------------------------

/**
 * Host-clock marks from a migration timeline (TimelineEntry.at is ms since the migration started;
 * `offset` is the host time of that start, e.g. performance.now() - entry.at in an onProgress callback).
 */
export function marksFromTimeline(timeline: readonly TimelineEntry[], offset: number): MigrationMarks {
  const find = (pred: (e: TimelineEntry) => boolean): number | null => {
    const e = timeline.find(pred);
    return e ? e.at + offset : null;
  };
  const migrate = find((e) => e.event === 'migrate') ?? find((e) => e.event === undefined && e.phase === 'setup') ?? offset;
  return {
    migrate,
    stop: find((e) => e.event === 'STOP'),
    resume: find((e) => e.event === 'dst:RESUME'),
    replug: find((e) => e.event === 'dst:FAILOVER_NEGOTIATED'),
  };
}

/** How long the source spent in each phase (ms, from the timeline's transitions); null: not entered. */
export interface PhaseTimes {
  /** `migrate` -> setup left (to wait-unplug or active). */
  setup: number | null;
  waitUnplug: number | null;
  /** RAM copy, up to completed (including a `device` phase). */
  active: number | null;
  /** Source completed -> destination RESUME. */
  switchover: number | null;
  /** `migrate` -> destination RESUME (or the final phase when there was none). */
  total: number | null;
}

export function phaseTimes(timeline: readonly TimelineEntry[]): PhaseTimes {
  const transitions = timeline.filter((e) => e.event === undefined);
  const entered = (p: string): number | null => transitions.find((e) => e.phase === p)?.at ?? null;
  /** ms from entering `p` to the next transition (a `device` phase counts as part of active). */
  const spent = (p: string): number | null => {
    const i = transitions.findIndex((e) => e.phase === p);
    if (i < 0) return null;
    const next = transitions.slice(i + 1).find((e) => !(p === 'active' && e.phase === 'device'));
    return next ? round1(next.at - transitions[i].at) : null;
  };
  const migrate = timeline.find((e) => e.event === 'migrate')?.at ?? entered('setup');
  const resume = timeline.find((e) => e.event === 'dst:RESUME')?.at ?? null;
  const setupEnd = transitions.find((e) => e.phase !== 'negotiated' && e.phase !== 'setup')?.at ?? null;
  const completed = entered('completed');
  const end = resume ?? transitions.at(-1)?.at ?? null;
  const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round1(b - a));
  return {
    setup: entered('setup') === null ? null : diff(migrate, setupEnd),
    waitUnplug: spent('wait-unplug'),
    active: spent('active'),
    switchover: diff(completed, resume),
    total: diff(migrate, end),
  };
}
