// `migrate NAME DEST_URI --connect SRC_URI` between two real libvirt daemons on this machine (two test
// hosts: own network, mount and UTS namespaces, own libvirt directories and host UUIDs, a veth between
// them): libvirt's own live migration of the failover test guest with our pre-checks and timeline
// (UNPLUG_PRIMARY, wait-unplug, the destination's FAILOVER_NEGOTIATED and re-plug); and a guest that never
// releases its primary: our deadline, `virsh domjobabort`, the guest still running on A with its primary.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureGuestImage, GuestConsole, type GuestImage, type GuestMode } from '../../src/testbed/guest-image.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';
import type { MigrationFailureJson, MigrationReportJson } from '../../src/qemu/migration/migration.js';
import type { DomfailoverReport } from '../../src/cli/domfailover.js';
import { runCliProcess } from '../helpers/cli.js';
import { LibvirtHost, libvirtSkip, pidsUsing } from '../helpers/libvirt-host.js';
import { libvirtGuestXml } from '../helpers/libvirt-guest.js';
import { qemuSkip } from '../helpers/qemu-env.js';
import { signalProcess } from '../../src/util/proc.js';

const skip = qemuSkip() || libvirtSkip();
/** Why the libvirt daemons of this file could not start (outside CI only). */
let unavailable: string | undefined;

let dir = '';
let hostA: LibvirtHost | undefined;
let hostB: LibvirtHost | undefined;
let addrB = '';
let image: GuestImage;
const consoles: GuestConsole[] = [];
const onA = (...args: string[]) => runCliProcess(['--connect', hostA!.uri, ...args], { timeoutMs: 120_000 });
const onB = (...args: string[]) => runCliProcess(['--connect', hostB!.uri, ...args], { timeoutMs: 60_000 });

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-lv-mig-'));
  image = await ensureGuestImage();
  try {
    hostA = await LibvirtHost.start({ dir, name: 'lvmigA' });
    hostB = await LibvirtHost.start({ dir, name: 'lvmigB', seedCacheFrom: hostA });
    [, addrB] = await hostA.link(hostB, `10.231.${randomInt(1, 250)}`);
  } catch (e) {
    // a daemon that cannot run here says why: a failure in CI, a skip elsewhere
    if (process.env.CI) throw e;
    unavailable = (e as Error).message;
  }
});

after(async () => {
  await hostA?.stop();
  await hostB?.stop();
  for (const c of consoles) await c.close();
  for (const pid of dir ? pidsUsing(dir) : []) signalProcess(pid, 'SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function waitGuest(con: GuestConsole, what: string, pred: (e: GuestEvent) => boolean, ms: number, from = 0): Promise<number> {
  try {
    const line = await con.waitFor((l) => l.event !== undefined && pred(l.event), ms, from);
    return con.lines.indexOf(line, from) + 1;
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${con.lines.slice(-10).map((l) => l.line).join('\n')}`);
  }
}
const enslaved = (e: GuestEvent): boolean => e.kind === 'state' && e.enslaved;

/** Defines and starts NAME on host A (through our CLI); returns its console once the primary is enslaved. */
async function startOnA(name: string, mode: GuestMode): Promise<GuestConsole> {
  const con = await GuestConsole.listen(path.join(dir, `${name}.serial`));
  consoles.push(con);
  const file = path.join(dir, `${name}.xml`);
  await writeFile(file, libvirtGuestXml({ name, image, mode, serial: con.socketPath }));
  assert.equal((await onA('define', file)).code, 0);
  const s = await onA('start', name);
  assert.equal(s.code, 0, s.stderr);
  await waitGuest(con, 'primary enslaved, link up', (e) => enslaved(e) && e.kind === 'state' && e.link === 'up', 90_000);
  if (mode === 'block-unplug') await waitGuest(con, 'VFBLOCK', (e) => e.kind === 'block', 30_000);
  return con;
}

test('migrate A -> B through libvirt: pre-checks, UNPLUG_PRIMARY, wait-unplug, re-plug on B, same timeline as the embedded driver', { skip, timeout: 180_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  const con = await startOnA('lvmig', 'failover');
  const from = con.lines.length;
  const t0 = performance.now();
  const r = await onA('migrate', 'lvmig', hostB!.uri, '--migrateuri', `tcp://${addrB}`, '--json');
  const took = performance.now() - t0;
  assert.equal(r.code, 0, `${r.stderr}\n--- A:\n${hostA!.log().slice(-2000)}`);
  const rep = JSON.parse(r.stdout) as MigrationReportJson & { domain: { name: string; state: string; reason: string; active: boolean } };
  const phases = rep.timeline.filter((e) => e.event === undefined).map((e) => e.phase);
  // libvirt migrates with pause-before-switchover: QEMU reports pre-switchover, then the device phase
  assert.deepEqual(phases, ['negotiated', 'setup', 'wait-unplug', 'active', 'device', 'completed', 'replugged'], JSON.stringify(rep.timeline));
  assert.ok(rep.timeline.some((e) => e.event === 'MIGRATION' && e.detail === 'pre-switchover'));
  assert.ok(rep.timeline.some((e) => e.event === 'UNPLUG_PRIMARY' && e.detail === 'ua-primary0'), 'UNPLUG_PRIMARY on A');
  assert.ok(rep.timeline.some((e) => e.event === 'dst:FAILOVER_NEGOTIATED' && e.detail === 'ua-standby0'), 'FAILOVER_NEGOTIATED on B');
  assert.ok(rep.timeline.some((e) => e.event === 'dst:RESUME'), 'RESUME on B');
  assert.deepEqual(rep.pairs, [{ id: 'ua-primary0', standbyId: 'ua-standby0', failover: true, unplugRequested: true, replugged: true }]);
  assert.ok(rep.unplugMs !== null && rep.unplugMs > 0, `unplugMs ${rep.unplugMs}`);
  assert.ok(rep.ramTransferredBytes !== null && rep.ramTransferredBytes > 1e6, `RAM ${rep.ramTransferredBytes}`);
  assert.deepEqual([rep.domain.name, rep.domain.state, rep.domain.active], ['lvmig', 'running', true]);
  assert.deepEqual(rep.warnings, []);
  // progress on stderr, as for the embedded driver
  assert.match(r.stderr, /^migration +\d+\.\d{3} s {2}wait-unplug$/m);

  // libvirt moved the definition too (--persistent --undefinesource)
  assert.equal((await onB('domstate', 'lvmig')).stdout, 'running\n\n');
  assert.doesNotMatch((await onA('list', '--all')).stdout, /lvmig/);
  // the guest saw its primary go and come back (on B)
  const released = await waitGuest(con, 'primary released', (e) => e.kind === 'state' && !e.enslaved, 30_000, from);
  await waitGuest(con, 'primary enslaved again on B', enslaved, 30_000, released);
  const fo = JSON.parse((await onB('domfailover', '--json', 'lvmig')).stdout) as DomfailoverReport;
  assert.deepEqual([fo.pairs[0]!.plugged, fo.pairs[0]!.negotiated], [true, true]);
  t.diagnostic(`progress lines: ${r.stderr.split('\n').filter((l) => /%/.test(l)).join(' | ') || 'none (active was shorter than a poll)'}`);
  t.diagnostic(`CLI ${Math.round(took)} ms; migration ${Math.round(rep.elapsedMs)} ms, wait-unplug ${rep.unplugMs} ms, downtime ${rep.downtimeMs} ms, RAM ${(rep.ramTransferredBytes! / 1e6).toFixed(1)} MB`);
  assert.equal((await onB('destroy', 'lvmig')).code, 0);
  assert.equal((await onB('undefine', 'lvmig')).code, 0);
});

test('a guest that never releases its primary: our deadline, virsh domjobabort, the guest keeps running on A with its primary', { skip, timeout: 180_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  await startOnA('lvblock', 'block-unplug');
  const t0 = performance.now();
  const r = await onA('migrate', 'lvblock', hostB!.uri, '--migrateuri', `tcp://${addrB}`, '--unplug-timeout', '3', '--json');
  const took = performance.now() - t0;
  assert.equal(r.code, 1, r.stderr);
  const fail = JSON.parse(r.stdout) as MigrationFailureJson;
  assert.equal(fail.error.reason, 'unplug-timeout', fail.error.message);
  assert.equal(
    fail.error.message,
    "operation failed: migration cancelled: the guest did not complete the unplug of failover primary 'ua-primary0' within 3000 ms; " +
      "the guest keeps running on the source; failover primary 'ua-primary0' re-plugged there",
  );
  const tl = fail.timeline;
  assert.ok(tl.some((e) => e.event === 'unplug-timeout'), 'deadline noted');
  assert.ok(tl.some((e) => e.event === 'migrate_cancel'), 'domjobabort sent');
  const phases = tl.filter((e) => e.event === undefined).map((e) => e.phase);
  assert.deepEqual(phases.slice(0, 3), ['negotiated', 'setup', 'wait-unplug']);
  assert.equal(phases.at(-1), 'cancelled');
  const deadlineAt = tl.find((e) => e.event === 'unplug-timeout')!.at - tl.find((e) => e.phase === 'setup' && e.event === undefined)!.at;
  assert.ok(deadlineAt >= 2500 && deadlineAt < 4500, `deadline after ${deadlineAt} ms`);

  assert.equal((await onA('domstate', 'lvblock')).stdout, 'running\n\n');
  assert.doesNotMatch((await onB('list', '--all')).stdout, /lvblock/, 'libvirt removed the destination');
  const fo = JSON.parse((await onA('domfailover', '--json', 'lvblock')).stdout) as DomfailoverReport;
  assert.deepEqual([fo.pairs[0]!.plugged, fo.pairs[0]!.negotiated], [true, true]);
  t.diagnostic(`CLI ${Math.round(took)} ms (deadline 3 s, then QEMU waits up to 30 s for the guest before 'cancelled')`);
});
