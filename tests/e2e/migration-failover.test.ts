// migrateFailover against real QEMU (TCG on this host): a successful migration of a failover guest,
// a cancel through the AbortSignal while RAM is copied, and a destination killed mid-migration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replugTimeoutText, watchGuestReplug } from '../../src/testbed/guest-replug.js';
import {
  guestEnabledPciIds,
  migrateFailover,
  migrationReportJson,
  MigrationFailedError,
  pciQdevIds,
  renderProgressLine,
  renderSummary,
  type MigrationProgress,
  type TimelineEntry,
} from '../../src/qemu/migration/migration.js';
import { statSync } from 'node:fs';
import path from 'node:path';
import { OperationInvalidError } from '../../src/util/errors.js';
import { checkedPid, signalProcess } from '../../src/util/proc.js';
import { expectLine, PAIR, promptPings, QEMU, waitReady, type Vm } from '../helpers/failover-vm.js';
import { qemuSkip, useVmEnv } from '../helpers/qemu-env.js';

const skip = qemuSkip(QEMU);
const env = useVmEnv('vf-e2e-mig-', skip);

const phases = (tl: readonly TimelineEntry[]): string[] => tl.filter((e) => e.event === undefined).map((e) => e.phase);
const at = (tl: readonly TimelineEntry[], pred: (e: TimelineEntry) => boolean): number => tl.find(pred)?.at ?? NaN;

/** After a failed/cancelled migration: QEMU runs, the guest still has its primary and pings. */
async function assertAliveOnSource(vm: Vm, from: number): Promise<void> {
  assert.ok(vm.alive(), 'source QEMU still runs');
  const st = await vm.monitor.execute<{ running: boolean; status: string }>('query-status');
  assert.deepEqual([st.running, st.status], [true, 'running']);
  assert.ok(pciQdevIds(await vm.monitor.execute('query-pci')).has(PAIR.id), 'query-pci lists the primary');
  const o = { from, exited: vm.exited, stderr: vm.stderr };
  await expectLine(vm.console, 'primary enslaved again', (e) => e.kind === 'state' && e.enslaved && e.link === 'up', 20_000, o);
  await promptPings(vm.console, 3, 15_000, o);
}

test('success: unplug, wait-unplug, active, completed, primary re-plugged and enslaved on the destination', { skip }, async (t) => {
  const vm = await env.pool.boot({ image: env.image, accel: env.accel, mode: 'failover' }, 'ok');
  await waitReady(vm);
  assert.ok(vm.negotiated.has(PAIR.standbyId), 'FAILOVER_NEGOTIATED recorded at boot');

  // a paused guest with a plugged primary would sit in wait-unplug forever: refused, then resumed on request
  await vm.monitor.execute('stop');
  const launcher = env.pool.destinationFor(vm);
  await assert.rejects(
    migrateFailover({ source: vm.monitor, primaries: [PAIR], destination: launcher, negotiated: vm.negotiated }),
    (e: unknown) =>
      e instanceof OperationInvalidError &&
      e.message ===
        "Requested operation is not valid: cannot migrate a paused guest whose failover primary 'primary0' is plugged: " +
          'it would wait for the unplug forever; resume it first (--resume)',
  );
  assert.equal(env.pool.destinations.length, 0, 'refused before a destination was started');

  const progress: MigrationProgress[] = [];
  let resumeAt = NaN;
  const fromLine = vm.console.lines.length;
  const res = await migrateFailover({
    source: vm.monitor,
    primaries: [PAIR],
    destination: launcher,
    negotiated: vm.negotiated,
    resume: true,
    unplugTimeoutMs: 10_000,
    progressIntervalMs: 100,
    onProgress: (ev) => {
      progress.push(ev);
      if (ev.event === 'dst:RESUME') resumeAt = performance.now();
    },
  });
  const tl = res.timeline;
  assert.deepEqual(phases(tl), ['negotiated', 'setup', 'wait-unplug', 'active', 'completed', 'replugged']);
  assert.ok(tl.some((e) => e.event === 'UNPLUG_PRIMARY' && e.detail === PAIR.id));
  assert.ok(tl.some((e) => e.event === 'cont'), 'the paused guest was resumed first');
  assert.ok(at(tl, (e) => e.event === 'UNPLUG_PRIMARY') < at(tl, (e) => e.phase === 'wait-unplug' && !e.event));
  assert.ok(tl.some((e) => e.event === 'dst:FAILOVER_NEGOTIATED' && e.detail === PAIR.standbyId));
  assert.ok(tl.some((e) => e.event === 'dst:RESUME'));
  assert.deepEqual(res.pairs, [{ ...PAIR, failover: true, unplugRequested: true, replugged: true }]);
  assert.deepEqual(res.destination.replugged, [PAIR.id]);
  assert.deepEqual(res.warnings, []);
  assert.ok(res.unplugMs !== null && res.unplugMs >= 100 && res.unplugMs < 10_000, `unplugMs ${res.unplugMs}`);
  assert.ok(res.downtimeMs !== null && res.downtimeMs < 5000);
  assert.ok(res.ramTransferredBytes !== null && res.ramTransferredBytes > 1_000_000);
  assert.ok(progress.some((p) => p.phase === 'wait-unplug'));
  for (const p of progress) assert.equal(typeof renderProgressLine(p), 'string');

  // the source is paused after the switchover; quitting it is the caller's job
  const src = await vm.monitor.execute<{ running: boolean; status: string }>('query-status');
  assert.deepEqual([src.running, src.status], [false, 'postmigrate']);
  assert.ok(vm.alive(), 'migrateFailover does not kill the source');
  await vm.monitor.execute('quit').catch(() => undefined);
  await vm.exited;

  const dst = env.pool.destinations.at(-1);
  assert.ok(dst);
  // the stream came over a unix socket in the destination's private directory, not a TCP port
  assert.equal(res.destination.uri, `unix:${path.join(dst.handle.dir, 'migrate.sock')}`);
  assert.equal(statSync(dst.handle.dir).mode & 0o777, 0o700);
  const dstStatus = await dst.handle.monitor.execute<{ running: boolean }>('query-status');
  assert.equal(dstStatus.running, true);
  assert.ok(pciQdevIds(await dst.handle.monitor.execute('query-pci')).has(PAIR.id));
  // guest view: pings before on the source, primary enslaved and pings again on the destination
  assert.ok(vm.console.lines.slice(0, fromLine).some((l) => l.event?.kind === 'ping'));
  // The product's promise: the guest is back on the primary (enslaved, link up) within 20 s of RESUME.
  // 30 migrations in a row never missed it (docs/replug.md; bench/replug.ts repeats the experiment).
  const w = await watchGuestReplug(dst.console, resumeAt, { timeoutMs: 20_000 });
  const tail = (): string => dst.console.lines.filter((l) => l.event?.kind !== 'ping').slice(-12).map((l) => l.line).join('\n');
  assert.ok(w.onPrimary, `${replugTimeoutText(w, [PAIR.id])}\n--- destination console (no pings):\n${tail()}`);
  assert.ok(w.enslavedAt !== null && w.linkUpAt !== null && w.enslavedAt <= w.linkUpAt);
  const enabled = guestEnabledPciIds(await dst.handle.monitor.execute('query-pci'));
  assert.ok(enabled.has(PAIR.id), 'QEMU sees the guest driver enable the primary (BARs mapped)');
  const o = { exited: dst.handle.exited, stderr: dst.handle.stderr };
  const enslaved = dst.console.lines.find((l) => l.t === w.enslavedAt)!;
  const pings = await promptPings(dst.console, 3, 15_000, o);
  const json = migrationReportJson(res);
  assert.ok(!('handle' in json.destination));
  assert.doesNotThrow(() => JSON.stringify(json));
  t.diagnostic(renderSummary(res));
  t.diagnostic(
    `unplug ${res.unplugMs} ms, downtime ${res.downtimeMs} ms, QEMU total ${res.totalTimeMs} ms, setup ${res.setupTimeMs} ms, ` +
      `elapsed ${Math.round(res.elapsedMs)} ms; dst guest: ${enslaved.line.trim()}, enslaved +${Math.round(w.enslavedAt - resumeAt)} ms, ` +
      `link up +${Math.round(w.linkUpAt - resumeAt)} ms after RESUME; 3rd prompt ping ${pings.line.trim()}`,
  );
});

let throttled: Vm | undefined;
/** One failover guest, bandwidth capped to 2 MiB/s so that 'active' lasts ~45 s; shared by the next tests. */
async function throttledVm(): Promise<Vm> {
  if (!throttled?.alive()) {
    throttled = await env.pool.boot({ image: env.image, accel: env.accel, mode: 'failover' }, `slow${env.pool.vms.length}`);
    await waitReady(throttled);
  }
  await throttled.monitor.execute('migrate-set-parameters', { 'max-bandwidth': 2 * 1024 * 1024 });
  return throttled;
}

/** Calls `fn` `ms` after the first progress report in phase 'active'. */
function whenActive(ms: number, fn: () => void): (ev: MigrationProgress) => void {
  let armed = false;
  return (ev) => {
    if (ev.phase === 'active' && !armed) {
      armed = true;
      setTimeout(fn, ms);
    }
  };
}

test('abort through the AbortSignal while active: cancelled, the guest keeps running on the source', { skip }, async (t) => {
  const vm = await throttledVm();
  const from = vm.console.lines.length;
  const ac = new AbortController();
  const err = await migrateFailover({
    source: vm.monitor,
    primaries: [PAIR],
    destination: env.pool.destinationFor(vm),
    negotiated: vm.negotiated,
    signal: ac.signal,
    onProgress: whenActive(1000, () => ac.abort('SIGINT')),
  }).then(
    () => assert.fail('migration should have been cancelled'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MigrationFailedError, String(err));
  assert.equal(err.reason, 'aborted');
  assert.equal(err.code, 'OPERATION_FAILED');
  assert.match(
    err.message,
    /^operation failed: migration cancelled: aborted by the caller \(SIGINT\); the guest keeps running on the source; failover primary 'primary0' re-plugged there$/,
  );
  assert.deepEqual(phases(err.timeline), ['negotiated', 'setup', 'wait-unplug', 'active', 'cancelling', 'cancelled']);
  const dst = env.pool.destinations.at(-1);
  assert.ok(dst && dst.handle.monitor.state === 'idle');
  await dst.handle.exited;
  await assertAliveOnSource(vm, from);
  const c = at(err.timeline, (e) => e.event === 'migrate_cancel');
  t.diagnostic(`cancel sent at ${c} ms, cancelled at ${at(err.timeline, (e) => e.phase === 'cancelled' && !e.event)} ms`);
});

test('destination killed while active: failed, the guest keeps running on the source with its primary', { skip }, async (t) => {
  const vm = await throttledVm();
  const from = vm.console.lines.length;
  const err = await migrateFailover({
    source: vm.monitor,
    primaries: [PAIR],
    destination: env.pool.destinationFor(vm),
    negotiated: vm.negotiated,
    onProgress: whenActive(500, () => signalProcess(checkedPid(env.pool.destinations.at(-1)?.handle.pid, 'the destination'), 'SIGKILL')),
  }).then(
    () => assert.fail('migration should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MigrationFailedError, String(err));
  assert.equal(err.reason, 'destination-died');
  assert.match(err.message, /^operation failed: migration (failed|cancelled): the destination QEMU exited \(signal SIGKILL\)/);
  assert.match(err.message, /the guest keeps running on the source; failover primary 'primary0' re-plugged there/);
  assert.equal(phases(err.timeline).at(-1), 'failed', 'the source noticed the broken stream itself');
  assert.ok(err.timeline.some((e) => e.event === 'dst:exit'));
  await assertAliveOnSource(vm, from);
  t.diagnostic(err.message);
  t.diagnostic(`dst exit seen at ${at(err.timeline, (e) => e.event === 'dst:exit')} ms, failed at ${at(err.timeline, (e) => e.phase === 'failed' && !e.event)} ms`);
});
