// Guest-observed outage per migration phase: each tests/data/guest-observer/NAME.json (serial lines with
// host arrival times, plus the migration's marks) -> NAME.expected.json (VIRT_FAILOVER_REGENERATE=1 writes it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeGuestOutage, marksFromTimeline, phaseTimes, type MigrationMarks, type ObservedLine } from '../../src/testbed/guest-observer.js';
import type { TimelineEntry } from '../../src/qemu/migration/phases.js';
import { assertGolden } from '../helpers/golden.js';
import { testDataDir } from '../helpers/paths.js';

const dir = path.join(testDataDir, 'guest-observer');
const cases = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json')).sort();

test('there are guest-observer cases', () => {
  assert.ok(cases.length >= 6, `found ${cases.join(', ')}`);
});

for (const file of cases) {
  test(`guest outage: ${file}`, () => {
    const input = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { marks: MigrationMarks; lines: ObservedLine[] };
    const out = analyzeGuestOutage(input.lines, input.marks);
    assertGolden(`${JSON.stringify(out, null, 2)}\n`, path.join(dir, file.replace(/\.json$/, '.expected.json')));
    // invariants that hold for every case
    const phases = [out.unplug, out.stopAndCopy, out.replug];
    assert.ok(phases.every((p) => p.longest === null || p.longest.ms >= 0));
    assert.ok(phases.reduce((n, p) => n + p.lost, 0) <= out.total.lost);
    assert.equal(out.total.lostRanges.reduce((n, [a, b]) => n + b - a + 1, 0), out.total.lost);
  });
}

test('the analysis does not depend on the order of the lines', () => {
  const input = JSON.parse(readFileSync(path.join(dir, 'success-e1000e.json'), 'utf8')) as { marks: MigrationMarks; lines: ObservedLine[] };
  assert.deepEqual(analyzeGuestOutage([...input.lines].reverse(), input.marks), analyzeGuestOutage(input.lines, input.marks));
});

test('no lines at all: empty phases, no baseline', () => {
  const out = analyzeGuestOutage([], { migrate: 100, stop: 200, resume: 250 });
  assert.deepEqual([out.baselineMs, out.unplug.longest, out.stopAndCopy.longest, out.replug.longest, out.total.ms], [null, null, null, null, 0]);
});

// A timeline as migrateFailover records it (ms since its start); the host clock started at 1000.
const timeline: TimelineEntry[] = [
  { phase: 'negotiated', at: 2.1, detail: 'failover primaries plugged: ua-primary0' },
  { phase: 'negotiated', at: 40.2, event: 'dst:listening', detail: 'tcp:127.0.0.1:4444' },
  { phase: 'negotiated', at: 41, event: 'migrate', detail: 'tcp:127.0.0.1:4444' },
  { phase: 'setup', at: 42.5 },
  { phase: 'setup', at: 43, event: 'UNPLUG_PRIMARY', detail: 'ua-primary0' },
  { phase: 'wait-unplug', at: 45 },
  { phase: 'active', at: 295 },
  { phase: 'device', at: 780 },
  { phase: 'device', at: 790, event: 'STOP' },
  { phase: 'completed', at: 830 },
  { phase: 'completed', at: 833, event: 'dst:FAILOVER_NEGOTIATED', detail: 'ua-standby0' },
  { phase: 'completed', at: 835, event: 'dst:RESUME' },
  { phase: 'replugged', at: 850 },
];

test('marksFromTimeline: host times of migrate, STOP, RESUME and the destination re-plug', () => {
  assert.deepEqual(marksFromTimeline(timeline, 1000), { migrate: 1041, stop: 1790, resume: 1835, replug: 1833 });
  assert.deepEqual(marksFromTimeline(timeline.slice(0, 7), 0), { migrate: 41, stop: null, resume: null, replug: null });
});

test('phaseTimes: setup, wait-unplug, active (device included), switchover, total', () => {
  assert.deepEqual(phaseTimes(timeline), { setup: 4, waitUnplug: 250, active: 535, switchover: 5, total: 794 });
  const cancelled: TimelineEntry[] = [
    ...timeline.slice(0, 6),
    { phase: 'wait-unplug', at: 2041, event: 'unplug-timeout', detail: '2000 ms' },
    { phase: 'cancelling', at: 2042 },
    { phase: 'cancelled', at: 31000 },
  ];
  assert.deepEqual(phaseTimes(cancelled), { setup: 4, waitUnplug: 1997, active: null, switchover: null, total: 30959 });
});
