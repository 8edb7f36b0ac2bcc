// migrateFailover without QEMU: recorded event sequences (tests/data/migration/*.json, from
// shared/notes/qemu-failover-e2e.md §5 and our e2e runs) replayed into fake monitors on a virtual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  MIGRATION_PHASES,
  MigrationFailedError,
  migrateFailover,
  migrationFailureJson,
  migrationReportJson,
  PHASE_TRANSITIONS,
  PhaseMachine,
  pciQdevIds,
  processDestinationLauncher,
  phaseForQemuStatus,
  renderProgressLine,
  renderSummary,
  renderTimeline,
  type MigrationPhase,
  type MigrationProgress,
  type MigrationResult,
  type TimelineEntry,
} from '../../src/qemu/migration/migration.js';
import { InternalError, OperationFailedError, OperationInvalidError } from '../../src/util/errors.js';
import { fakePci, fakeWorld, type Scenario } from '../helpers/migration-fake.js';
import { testDataDir } from '../helpers/paths.js';

const dataDir = path.join(testDataDir, 'migration');
const scenarios: Scenario[] = readdirSync(dataDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(dataDir, f), 'utf8')) as Scenario);

const phases = (tl: readonly TimelineEntry[]): string[] => tl.filter((e) => e.event === undefined).map((e) => e.phase);

async function play(scn: Scenario, extra: Record<string, unknown> = {}) {
  const w = fakeWorld(scn);
  const progress: MigrationProgress[] = [];
  const p = migrateFailover({
    source: w.src,
    primaries: [{ id: 'primary0', standbyId: 'standby0' }],
    destination: w.destination,
    negotiated: scn.source.negotiated ? new Set(scn.source.negotiated) : undefined,
    signal: w.abort.signal,
    clock: () => w.clock.now,
    timers: w.clock.timers,
    onProgress: (ev) => progress.push(ev),
    ...(scn.options ?? {}),
    ...extra,
  });
  let result: MigrationResult | undefined;
  let error: unknown;
  try {
    result = await w.clock.drive(p);
  } catch (e) {
    error = e;
  }
  return { w, result, error, progress };
}

for (const scn of scenarios) {
  test(`replay ${scn.name}: ${scn.from}`, async () => {
    const { w, result, error, progress } = await play(scn);
    const ex = scn.expect as {
      outcome: 'ok' | 'error';
      error?: { class: string; reason?: string; message: string };
      phases: string[];
      result?: Record<string, unknown>;
      notes?: [string, number, string?][];
      commands?: Record<string, number[]>;
      notCommands?: string[];
      dstStarts?: number;
      dstKilled?: boolean;
    };
    let timeline: readonly TimelineEntry[] = [];
    if (ex.outcome === 'ok') {
      assert.equal(error, undefined, String((error as Error | undefined)?.stack));
      assert.ok(result);
      timeline = result.timeline;
      for (const [k, v] of Object.entries(ex.result ?? {})) assert.deepEqual(result[k as keyof MigrationResult], v, k);
    } else {
      assert.ok(ex.error);
      assert.equal(result, undefined, 'should have failed');
      assert.equal((error as Error).constructor.name, ex.error.class, String(error));
      assert.equal((error as Error).message, ex.error.message);
      if (error instanceof MigrationFailedError) {
        assert.equal(error.reason, ex.error.reason);
        assert.equal(error.code, 'OPERATION_FAILED');
        timeline = error.timeline;
      }
    }
    assert.deepEqual(phases(timeline), ex.phases);
    for (const [event, at, detail] of ex.notes ?? []) {
      const hit = timeline.find((e) => e.event === event && (detail === undefined || e.detail === detail));
      assert.ok(hit, `note ${event} ${detail ?? ''} in ${JSON.stringify(timeline)}`);
      assert.equal(hit.at, at, `${event} at`);
    }
    for (const [cmd, times] of Object.entries(ex.commands ?? {})) {
      assert.deepEqual(w.src.calls.filter((c) => c.cmd === cmd).map((c) => c.at), times, cmd);
    }
    for (const cmd of ex.notCommands ?? []) assert.ok(!w.src.commands().includes(cmd), `no ${cmd}`);
    if (ex.dstStarts !== undefined) assert.equal(w.dstStarts, ex.dstStarts);
    if (ex.dstKilled !== undefined) assert.equal(w.dstKilled, ex.dstKilled);
    // every transition reached onProgress, in order, and renders
    assert.deepEqual(progress.filter((p) => p.event === undefined && p.percent === undefined).map((p) => p.phase), ex.phases);
    for (const p of progress) assert.ok(renderProgressLine(p).startsWith('migration '));
    // the machine never breaks its own table
    for (let i = 1, prev: MigrationPhase = 'idle'; i <= ex.phases.length; i++) {
      const next = ex.phases[i - 1] as MigrationPhase;
      assert.ok(PHASE_TRANSITIONS[prev].includes(next), `${prev} -> ${next}`);
      prev = next;
    }
  });
}

const byName = (n: string): Scenario => {
  const s = scenarios.find((x) => x.name === n);
  assert.ok(s, n);
  return structuredClone(s);
};

test('success: progress while active has percent and MB/s from query-migrate', async () => {
  const { progress } = await play(byName('success'));
  const active = progress.filter((p) => p.percent !== undefined);
  assert.deepEqual(active.map((p) => p.at), [354, 454, 554, 654, 754]);
  assert.equal(active[0].percent, 50);
  assert.equal(active[0].mbPerSec, 156.3); // first poll: QEMU's mbps / 8
  assert.equal(active[1].mbPerSec, 0); // same transferred bytes 100 ms later
  assert.equal(renderProgressLine(active[0]), 'migration   0.354 s  active   50%  156.3 MB/s  46.4 MB sent');
});

test('success: the report (summary, --json, timeline lines)', async () => {
  const { result } = await play(byName('success'));
  assert.ok(result);
  const json = migrationReportJson(result);
  assert.ok(!('handle' in json.destination));
  assert.deepEqual(json.destination, { uri: 'tcp:127.0.0.1:49152', resumedAt: 806, negotiated: ['standby0'], replugged: ['primary0'] });
  assert.deepEqual(JSON.parse(JSON.stringify(json)).timeline[0], { phase: 'negotiated', at: 0, detail: 'failover primaries plugged: primary0' });
  const summary = renderSummary(result);
  assert.match(summary, /^Migration completed in 0\.83 s \(QEMU: total 800 ms, setup 251 ms, downtime 46 ms\)\n/);
  assert.match(summary, /\n {2}wait-unplug 251 ms, RAM transferred 92\.8 MB\n/);
  assert.match(summary, /\n {2}primary0 \(standby standby0\): unplugged on the source, re-plugged on the destination\n/);
  assert.ok(renderTimeline(result.timeline).includes('      1.8 ms     setup: UNPLUG_PRIMARY primary0'));
  assert.ok(renderTimeline(result.timeline).includes('    254.0 ms  -> active'));
});

test('paused guest with resume: cont first, then the migration succeeds', async () => {
  const scn = byName('success');
  scn.source.status = { running: false, status: 'paused' };
  const { w, result, error } = await play(scn, { resume: true });
  assert.equal(error, undefined);
  assert.ok(result?.precheck.resumed);
  const cmds = w.src.commands();
  assert.ok(cmds.indexOf('cont') < cmds.indexOf('migrate'));
  assert.ok(result.timeline.some((e) => e.event === 'cont' && e.phase === 'negotiated'));
});

test('pre-check: primary negotiated but not plugged (pcie.0) and MAC mismatch are warnings, refusals with requireFailover', async () => {
  const pcie0 = byName('no-negotiation');
  pcie0.source.negotiated = ['standby0'];
  const a = await play(pcie0);
  assert.deepEqual(a.result?.warnings, [
    "failover primary 'primary0' is not plugged although the guest negotiated failover on standby 'standby0': " +
      'it must sit alone (function 0) on a hotpluggable PCIe root port; the guest migrates over the standby only',
  ]);
  const mac = byName('success');
  mac.source.macs = { primary0: '52:54:00:AA:BB:DD', standby0: '52:54:00:aa:bb:cc' };
  const b = await play(mac);
  assert.deepEqual(b.result?.warnings, [
    "failover primary 'primary0' has MAC 52:54:00:aa:bb:dd but its standby 'standby0' has 52:54:00:aa:bb:cc: " +
      'the guest does not pair them, so the primary carries no failover traffic',
  ]);
  const c = await play(mac, { requireFailover: true });
  assert.ok(c.error instanceof OperationInvalidError);
  assert.equal(c.w.dstStarts, 0);
});

test('pre-check: a plugged primary without a recorded negotiation is inferred as negotiated, with a warning', async () => {
  const scn = byName('success');
  scn.source.negotiated = [];
  const { result } = await play(scn);
  assert.deepEqual(result?.warnings, [
    "failover primary 'primary0' is plugged but no FAILOVER_NEGOTIATED was recorded for standby 'standby0' (was the primary created before its standby?)",
  ]);
  delete scn.source.negotiated; // nothing recorded at all: inferred from query-pci, silently
  const again = await play(scn);
  assert.deepEqual(again.result?.warnings, []);
  assert.equal(again.result?.precheck.pairs[0].negotiatedSource, 'inferred');
});

test('pre-check: a source in postmigrate is refused', async () => {
  const scn = byName('success');
  scn.source.status = { running: false, status: 'postmigrate' };
  const { error } = await play(scn);
  assert.ok(error instanceof OperationInvalidError);
  assert.match(error.message, /QEMU is in state 'postmigrate'/);
});

test('an abort before the start throws at once, without touching QEMU', async () => {
  const w = fakeWorld(byName('success'));
  w.abort.abort();
  await assert.rejects(
    migrateFailover({ source: w.src, primaries: [{ id: 'primary0', standbyId: 'standby0' }], destination: w.destination, signal: w.abort.signal }),
    (e: unknown) => e instanceof MigrationFailedError && e.reason === 'aborted' && e.message === 'operation failed: migration not started: aborted by the caller',
  );
  assert.deepEqual(w.src.calls, []);
});

test('a destination that does not start: destination-start, nothing migrated', async () => {
  const scn = byName('success');
  scn.destination = { startFails: 'cannot bind 127.0.0.1:49152' };
  const { w, error } = await play(scn);
  assert.ok(error instanceof MigrationFailedError);
  assert.equal(error.reason, 'destination-start');
  assert.equal(error.message, 'operation failed: cannot bind 127.0.0.1:49152');
  assert.ok(!w.src.commands().includes('migrate'));
});

test('an abort after the source completed is ignored: the switchover already happened', async () => {
  const scn = byName('success');
  scn.script.migrate.push({ at: 802, abort: 'SIGINT' });
  const { result, w } = await play(scn);
  assert.ok(result);
  assert.deepEqual(result.warnings, ['abort requested after the switchover: ignored']);
  assert.ok(!w.src.commands().includes('migrate_cancel'));
});

// ---- the phase machine --------------------------------------------------------------------------

test('phase table: every phase is reachable from idle, finals lead nowhere', () => {
  const seen = new Set<MigrationPhase>(['idle']);
  const todo: MigrationPhase[] = ['idle'];
  while (todo.length) for (const n of PHASE_TRANSITIONS[todo.pop()!]) if (!seen.has(n) && seen.add(n)) todo.push(n);
  assert.deepEqual([...seen].sort(), [...MIGRATION_PHASES].sort());
  for (const f of ['replugged', 'cancelled', 'failed'] as const) assert.deepEqual(PHASE_TRANSITIONS[f], []);
});

test('phase machine: allowed transitions are taken and timed, impossible ones throw InternalError', () => {
  for (const from of MIGRATION_PHASES) {
    for (const to of MIGRATION_PHASES) {
      if (from === to) continue;
      let t = 0;
      const m = new PhaseMachine(() => t);
      const path = shortestPath(from);
      for (const p of path) m.to(p);
      assert.equal(m.phase, from);
      t = 12.5;
      if (PHASE_TRANSITIONS[from].includes(to)) {
        assert.equal(m.to(to, 'x'), true);
        assert.deepEqual(m.timeline.at(-1), { phase: to, at: 12.5, detail: 'x' });
        assert.equal(m.enteredAt(to), 12.5);
      } else {
        assert.throws(
          () => m.to(to),
          (e: unknown) => e instanceof InternalError && e.message === `internal error: invalid migration phase transition '${from}' -> '${to}'`,
        );
        assert.equal(m.phase, from);
      }
    }
  }
  const m = new PhaseMachine(() => 0);
  m.to('negotiated');
  assert.equal(m.to('negotiated'), false, 're-entering is a no-op');
  assert.equal(m.timeline.length, 1);
  assert.deepEqual(m.note('UNPLUG_PRIMARY', 'primary0'), { phase: 'negotiated', at: 0, event: 'UNPLUG_PRIMARY', detail: 'primary0' });
});

function shortestPath(target: MigrationPhase): MigrationPhase[] {
  const prev = new Map<MigrationPhase, MigrationPhase>();
  const q: MigrationPhase[] = ['idle'];
  while (q.length) {
    const p = q.shift()!;
    for (const n of PHASE_TRANSITIONS[p]) {
      if (prev.has(n) || n === 'idle') continue;
      prev.set(n, p);
      q.push(n);
    }
  }
  const out: MigrationPhase[] = [];
  for (let p = target; p !== 'idle'; p = prev.get(p)!) out.unshift(p);
  return out;
}

test('QEMU statuses map onto phases; the rest are only noted', () => {
  assert.equal(phaseForQemuStatus('wait-unplug'), 'wait-unplug');
  assert.equal(phaseForQemuStatus('device'), 'device');
  assert.equal(phaseForQemuStatus('pre-switchover'), undefined);
  assert.equal(phaseForQemuStatus('toString'), undefined);
});

test('pciQdevIds walks bridges', () => {
  assert.deepEqual([...pciQdevIds(fakePci({ rp1: ['standby0'], rp2: ['primary0'], vga: null }))].sort(), [
    'primary0',
    'rp1',
    'rp2',
    'standby0',
    'vga',
  ]);
  assert.deepEqual([...pciQdevIds([{ bus: 0, devices: [{ qdev_id: '' }, {}] }])], []);
  assert.deepEqual([...pciQdevIds(null)], []);
});

test('a failure as --json: code, reason, message and the timeline up to it', async () => {
  const { error } = await play(byName('unplug-timeout'));
  assert.ok(error instanceof MigrationFailedError);
  const j = JSON.parse(JSON.stringify(migrationFailureJson(error)));
  assert.deepEqual(j.error, { code: 'OPERATION_FAILED', reason: 'unplug-timeout', message: error.message });
  assert.deepEqual(j.timeline.filter((e: TimelineEntry) => e.event === undefined).at(-1), { phase: 'cancelled', at: 32000 });
});

test('processDestinationLauncher: a QEMU that cannot start is an OperationFailedError, its runtime dir is removed', async () => {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'vf-dst-unit-'));
  try {
    const launcher = processDestinationLauncher({ binary: path.join(parent, 'no-such-qemu'), args: [], runtimeDir: parent, startTimeoutMs: 5000 });
    await assert.rejects(
      launcher.start(),
      (e: unknown) => e instanceof OperationFailedError && /^operation failed: cannot start the migration destination: .*ENOENT/.test(e.message),
    );
    assert.deepEqual(await readdir(parent), []);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});
