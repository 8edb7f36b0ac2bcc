// Did the guest take its re-plugged primary back? replugOutcome on the recorded guest-observer traces,
// the plain statements for a guest left on the standby, and the QEMU-side check (BARs mapped) on
// recorded query-pci replies (tests/data/guest-replug).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { recoveryProblem } from '../../src/cli/demo.js';
import { guestNotUpText, parseGuestTimeout } from '../../src/cli/migrate.js';
import type { ConsoleLine } from '../../src/testbed/guest-image.js';
import { parseGuestLine } from '../../src/testbed/guest-init.js';
import { describeGuestState, replugOutcome, replugTimeoutText } from '../../src/testbed/guest-replug.js';
import type { MigrationMarks } from '../../src/testbed/guest-observer.js';
import { guestEnabledPciIds, pciQdevIds, type MigrationResult } from '../../src/qemu/migration/index.js';
import { testDataDir } from '../helpers/paths.js';

function trace(name: string): { marks: MigrationMarks & { end?: number }; lines: ConsoleLine[] } {
  const d = JSON.parse(readFileSync(path.join(testDataDir, 'guest-observer', `${name}.json`), 'utf8')) as {
    marks: MigrationMarks & { end?: number };
    lines: { t: number; line: string }[];
  };
  return { marks: d.marks, lines: d.lines.map((l) => ({ ...l, event: parseGuestLine(l.line) })) };
}

test('recorded demo run: enslaved 384 ms and link up 2686 ms after RESUME, on the primary', () => {
  const { marks, lines } = trace('recorded-demo-tcg');
  const end = Math.max(...lines.map((l) => l.t));
  const w = replugOutcome(lines, marks.resume!, end, true);
  assert.equal(w.onPrimary, true);
  assert.equal(Math.round(w.enslavedAt! - marks.resume!), 384); // 9203.1 - 8819.4
  assert.equal(Math.round(w.linkUpAt! - marks.resume!), 2686); // 11505.8 - 8819.4
  assert.deepEqual([w.lastState?.enslaved, w.lastState?.link], [true, 'up']);
  // a watch that ended before the link-up line: not on the primary, enslaved with the link down
  const early = replugOutcome(lines, marks.resume!, 11_000, false);
  assert.equal(early.onPrimary, false);
  assert.equal(early.linkUpAt, null);
  assert.equal(describeGuestState(early.lastState), 'netdev eth2 enslaved, link down');
  // state lines from before RESUME (the source) never count
  assert.equal(replugOutcome(lines, marks.resume!, marks.resume! - 1, true).lastState, null);
});

test('a watch cannot claim the primary without a link-up line', () => {
  const { marks, lines } = trace('open-replug-gap');
  const w = replugOutcome(lines, marks.resume!, marks.end!, true);
  assert.equal(w.onPrimary, false);
  assert.equal(w.waitedMs, 1250);
  assert.equal(
    replugTimeoutText({ ...w, waitedMs: 20_000 }, ['ua-primary0']),
    "the migration completed and QEMU has the failover primary 'ua-primary0' plugged on the destination, but the guest " +
      'has not brought it up after 20 s (netdev eth2 enslaved, link down); its traffic stays on the standby',
  );
});

test('no state since the switchover, no primary, a primary not enslaved: said plainly', () => {
  const { marks, lines } = trace('nofailover');
  const w = replugOutcome(lines, marks.resume!, marks.resume! + 20_000, false);
  assert.equal(w.lastState, null);
  assert.match(replugTimeoutText(w, []), /^the migration completed and QEMU lists no failover primary on the destination, but .*\(no network state reported since the switchover\)/);
  const s = parseGuestLine('VFSTATE t=1 master=eth0 standby=eth1 primary=- enslaved=0 link=- ifs=eth0,eth1');
  assert.ok(s?.kind === 'state');
  assert.equal(describeGuestState(s), 'no PCI netdev (still on the standby eth1)');
  const stray = parseGuestLine('VFSTATE t=1 master=eth0 standby=eth1 primary=eth2 enslaved=0 link=down ifs=eth0,eth1,eth2');
  assert.ok(stray?.kind === 'state');
  assert.equal(describeGuestState(stray), 'netdev eth2 present but not enslaved by eth0');
});

// Recorded from QEMU 7.2 (q35, TCG): the primary right after its hot-plug, and after the guest's e1000e probed it.
const pci = (name: string): unknown => JSON.parse(readFileSync(path.join(testDataDir, 'guest-replug', name), 'utf8'));

test('query-pci: a BAR at -1 is not enabled by the guest; mapped BARs are', () => {
  const before = pci('query-pci-plugged.json');
  const after = pci('query-pci-enabled.json');
  assert.ok(pciQdevIds(before).has('ua-primary0') && pciQdevIds(after).has('ua-primary0'));
  assert.equal(guestEnabledPciIds(before).has('ua-primary0'), false);
  assert.equal(guestEnabledPciIds(after).has('ua-primary0'), true);
  assert.ok(guestEnabledPciIds(after).has('ua-standby0'), 'the standby behind its root port is found too');
  assert.deepEqual([...guestEnabledPciIds(null)], []);
});

test('migrate: the plain warning and --guest-timeout', () => {
  assert.equal(
    guestNotUpText(['ua-primary0'], 20_000),
    "the migration completed and QEMU has the failover primary 'ua-primary0' plugged on the destination, but the guest " +
      'has not brought it up after 20 s (its driver has not enabled the device): its traffic stays on the standby (see docs/replug.md)',
  );
  assert.match(guestNotUpText(['a', 'b'], 5000), /failover primaries 'a', 'b' plugged .* brought them up after 5 s/);
  assert.equal(parseGuestTimeout('2.5'), 2500);
  assert.throws(() => parseGuestTimeout('-1'), /Numeric value '-1' for <guest-timeout> option is malformed or out of range$/);
});

test('recorded crash after RESUME (bench/replug): the rebooted guest enslaving its primary is not a take-back', () => {
  const d = JSON.parse(readFileSync(path.join(testDataDir, 'guest-replug', 'crash-after-resume.json'), 'utf8')) as {
    marks: { resume: number };
    lines: { t: number; line: string }[];
  };
  const lines: ConsoleLine[] = d.lines.map((l) => ({ ...l, event: parseGuestLine(l.line) }));
  const end = Math.max(...lines.map((l) => l.t));
  // the trace ends with the rebooted guest on its primary: a naive watch for "enslaved, link up" would pass
  assert.ok(lines.some((l) => l.t > d.marks.resume && l.event?.kind === 'state' && l.event.enslaved && l.event.link === 'up'));
  const w = replugOutcome(lines, d.marks.resume, end, true);
  assert.equal(w.onPrimary, false);
  assert.deepEqual(w.crash, { at: 2632.3, text: 'kernel BUG at lib/list_debug.c:27!' });
  assert.deepEqual([w.enslavedAt, w.linkUpAt, w.lastState], [null, null, null], 'nothing after the crash counts');
  assert.equal(
    replugTimeoutText(w, ['ua-primary0']),
    'the migration completed, but the guest kernel crashed (kernel BUG at lib/list_debug.c:27!) on the destination after the switchover, before it took its primary back',
  );
});

test('demo/bench: recoveryProblem says what the guest did not do, null when it is back', () => {
  const { marks, lines } = trace('recorded-demo-tcg');
  const result = { destination: { replugged: ['ua-primary0'] } } as unknown as MigrationResult;
  const end = Math.max(...lines.map((l) => l.t));
  const back = replugOutcome(lines, marks.resume!, end, true);
  assert.equal(recoveryProblem({ result, recovery: { replug: back, prompt: true, end, timeoutMs: 20_000 } }), null);
  assert.equal(
    recoveryProblem({ result, recovery: { replug: back, prompt: false, end, timeoutMs: 20_000 } }),
    'the guest brought its primary up on the destination but did not answer pings promptly within 20 s of the switchover',
  );
  const stuck = { ...replugOutcome(lines, marks.resume!, 11_000, false), waitedMs: 20_000 };
  assert.equal(
    recoveryProblem({ result, recovery: { replug: stuck, prompt: false, end: 11_000, timeoutMs: 20_000 } }),
    "the migration completed and QEMU has the failover primary 'ua-primary0' plugged on the destination, but the guest " +
      'has not brought it up after 20 s (netdev eth2 enslaved, link down); its traffic stays on the standby',
  );
});

test('crash lines: a panic or BUG counts from RESUME on, a soft lockup report does not', () => {
  const at = (t: number, line: string): ConsoleLine => ({ t, line, event: parseGuestLine(line) });
  const lines = [
    at(50, '[   10.1] BUG: unable to handle page fault for address: 0000000000001000'),
    at(150, '[   12.0] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [ping:100]'),
    at(160, 'VFSTATE t=12100 master=eth0 standby=eth1 primary=eth2 enslaved=1 link=up ifs=eth0,eth1,eth2'),
  ];
  const w = replugOutcome(lines, 100, 200, true);
  assert.deepEqual([w.crash, w.onPrimary], [null, true], 'before RESUME: the source, not ours to judge here');
  const panic = replugOutcome([...lines, at(170, '[   12.2] Kernel panic - not syncing: Fatal exception in interrupt')], 100, 200, true);
  assert.deepEqual(panic.crash, { at: 170, text: 'Kernel panic - not syncing: Fatal exception in interrupt' });
  assert.equal(panic.onPrimary, false);
  const reboot = replugOutcome([...lines, at(180, 'VFINIT t=900 mode=failover')], 100, 200, true);
  assert.deepEqual(reboot.crash, { at: 180, text: 'rebooted' });
});
