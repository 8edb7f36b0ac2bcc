// migrateFailover's pre-check against real QEMU (TCG on this host): a guest without the failover
// driver, and two misconfigured pairs QEMU accepts silently (primary on pcie.0, MAC mismatch).
// Each is a warning, or a refusal before any destination starts with requireFailover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateFailover, pciQdevIds, type TimelineEntry } from '../../src/qemu/migration/migration.js';
import { OperationInvalidError } from '../../src/util/errors.js';
import { PAIR, QEMU, waitReady, type Vm } from '../helpers/failover-vm.js';
import { qemuSkip, useVmEnv } from '../helpers/qemu-env.js';

const skip = qemuSkip(QEMU);
const env = useVmEnv('vf-e2e-precheck-', skip);

const phases = (tl: readonly TimelineEntry[]): string[] => tl.filter((e) => e.event === undefined).map((e) => e.phase);

/** requireFailover refuses before starting a destination; then a plain migration completes with `warning`. */
async function refuseThenMigrate(vm: Vm, warning: RegExp): Promise<Awaited<ReturnType<typeof migrateFailover>>> {
  const launcher = env.pool.destinationFor(vm);
  const before = env.pool.destinations.length;
  await assert.rejects(
    migrateFailover({ source: vm.monitor, primaries: [PAIR], destination: launcher, negotiated: vm.negotiated, requireFailover: true }),
    (e: unknown) => e instanceof OperationInvalidError && /^Requested operation is not valid: failover is required but /.test(e.message) && warning.test(e.message),
  );
  assert.equal(env.pool.destinations.length, before, 'no destination started');
  assert.equal((await vm.monitor.execute<{ status: string }>('query-migrate')).status, undefined, 'no migration attempted');
  const res = await migrateFailover({ source: vm.monitor, primaries: [PAIR], destination: launcher, negotiated: vm.negotiated });
  assert.equal(res.warnings.length, 1, res.warnings.join('\n'));
  assert.match(res.warnings[0], warning);
  await vm.monitor.execute('quit').catch(() => undefined);
  return res;
}

test('guest without the failover driver: warning, no wait-unplug, completes; refused with requireFailover', { skip }, async (t) => {
  const vm = await env.pool.boot({ image: env.image, accel: env.accel, mode: 'nofailover' }, 'nofo');
  await waitReady(vm);
  assert.equal(vm.negotiated.size, 0);
  const res = await refuseThenMigrate(vm, /the guest has not negotiated failover on standby 'standby0' \(no failover driver loaded\)/);
  assert.deepEqual(phases(res.timeline), ['negotiated', 'setup', 'active', 'completed']);
  assert.ok(!res.timeline.some((e) => e.event === 'UNPLUG_PRIMARY'));
  assert.equal(res.unplugMs, null);
  assert.deepEqual(res.pairs, [{ ...PAIR, failover: false, unplugRequested: false, replugged: false }]);
  assert.ok(!pciQdevIds(await env.pool.destinations.at(-1)!.handle.monitor.execute('query-pci')).has(PAIR.id));
  t.diagnostic(`${res.warnings[0]}; total ${res.totalTimeMs} ms, downtime ${res.downtimeMs} ms, ram ${res.ramTransferredBytes}`);
});

test('primary on pcie.0: negotiated but never plugged, found before migrating', { skip }, async (t) => {
  const vm = await env.pool.boot({ image: env.image, accel: env.accel, mode: 'failover', variant: 'pcie0' }, 'pcie0');
  await waitReady(vm);
  assert.ok(vm.negotiated.has(PAIR.standbyId));
  assert.match(vm.stderr(), /Bus 'pcie\.0' does not support hotplugging/);
  const res = await refuseThenMigrate(vm, /failover primary 'primary0' is not plugged although the guest negotiated failover on standby 'standby0'/);
  assert.deepEqual(phases(res.timeline), ['negotiated', 'setup', 'active', 'completed']);
  t.diagnostic(res.warnings[0]);
});

test('primary MAC differs from the standby: found before migrating (qom-get), migration itself unplugs', { skip }, async (t) => {
  const vm = await env.pool.boot({ image: env.image, accel: env.accel, mode: 'failover', variant: 'mac-mismatch' }, 'mac');
  await waitReady(vm);
  const res = await refuseThenMigrate(vm, /failover primary 'primary0' has MAC 52:54:00:aa:bb:dd but its standby 'standby0' has 52:54:00:aa:bb:cc/);
  assert.deepEqual(phases(res.timeline), ['negotiated', 'setup', 'wait-unplug', 'active', 'completed', 'replugged']);
  assert.deepEqual(res.precheck.pairs[0].mac, { primary: '52:54:00:aa:bb:dd', standby: '52:54:00:aa:bb:cc' });
  t.diagnostic(res.warnings[0]);
});
