// `virt-failover migrate NAME local` through the built CLI against real QEMU (TCG), in a temporary
// --state-dir: a domain whose failover primary is an emulated e1000e (<qemu:commandline>, as in
// examples/failover-emulated-primary.xml) running the test guest, its serial console on a GuestConsole
// (which also takes the destination's connection). Success with --json (the destination becomes the
// domain), Ctrl-C while the primary is being unplugged (cancelled, the source keeps the guest), a second
// migration of the adopted domain with human output, and --require-failover on a guest without failover.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureGuestImage, GuestConsole, type GuestImage, type GuestMode } from '../../src/testbed/guest-image.js';
import { failoverDomainXml } from '../helpers/failover-domain.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';
import type { MigrationFailureJson, MigrationReportJson } from '../../src/qemu/migration/migration.js';
import { DomainStore } from '../../src/qemu/driver/store.js';
import type { DomfailoverReport } from '../../src/cli/domfailover.js';
import { isProcessAlive, readCmdline, signalProcess } from '../../src/util/proc.js';
import { cliPath, runCliProcess } from '../helpers/cli.js';
import { QEMU } from '../helpers/failover-vm.js';
import { qemuSkip } from '../helpers/qemu-env.js';

const skip = qemuSkip(QEMU);

let dir = '';
let stateDir = '';
let store: DomainStore;
let image: GuestImage;
const consoles: GuestConsole[] = [];
const env = { VIRT_FAILOVER_QEMU: QEMU };
const cli = (...args: string[]) => runCliProcess(['--state-dir', stateDir, ...args], { env, timeoutMs: 90_000 });

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-mig-cli-'));
  stateDir = path.join(dir, 'state');
  store = DomainStore.open({ stateDir, env: {} });
  image = await ensureGuestImage();
});

after(async () => {
  if (!dir) return;
  // Every QEMU started here has the temp dir in its command line (runtime dir, console socket).
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (pid !== process.pid && readCmdline(pid)?.some((a) => a.includes(dir))) signalProcess(pid, 'SIGKILL');
  }
  for (const c of consoles) await c.close();
  await rm(dir, { recursive: true, force: true });
});

/** Defines and starts NAME with a console server; returns the console. */
async function startDomain(name: string, uuid: string, mode: GuestMode): Promise<GuestConsole> {
  const con = await GuestConsole.listen(path.join(dir, `${name}.serial`));
  consoles.push(con);
  const file = path.join(dir, `${name}.xml`);
  writeFileSync(file, failoverDomainXml(image, name, uuid, mode, con.socketPath));
  const d = await cli('define', file);
  assert.equal(d.code, 0, d.stderr);
  const s = await cli('start', name);
  assert.equal(s.code, 0, s.stderr);
  return con;
}

/** Waits for a console line matching `pred` at history index `from` or later; returns the index after it. */
async function waitGuest(con: GuestConsole, what: string, pred: (e: GuestEvent) => boolean, ms: number, from = 0): Promise<number> {
  try {
    const line = await con.waitFor((l) => l.event !== undefined && pred(l.event), ms, from);
    return con.lines.indexOf(line, from) + 1;
  } catch (e) {
    const tail = con.lines.slice(-10).map((l) => l.line).join('\n');
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${tail}`);
  }
}
const enslaved = (e: GuestEvent): boolean => e.kind === 'state' && e.enslaved;
const released = (e: GuestEvent): boolean => e.kind === 'state' && !e.enslaved;

/** The guest's view of a failover: its primary goes (unplug), then comes back enslaved with its link up (docs/replug.md). */
async function waitUnplugReplug(con: GuestConsole, where: string, from: number): Promise<void> {
  const after = await waitGuest(con, 'primary released (unplug)', released, 20_000, from);
  await waitGuest(con, `primary enslaved again with its link up ${where}`, (e) => enslaved(e) && e.kind === 'state' && e.link === 'up', 20_000, after);
  assert.ok(!con.lines.slice(after).some((l) => l.event?.kind === 'init'), `the guest rebooted ${where}`);
}

function record(name: string): { pid: number; pidStart?: string; runDir?: string } {
  const s = store.readStatus(name);
  assert.ok(s?.pid, `status of ${name}`);
  return { pid: s.pid, pidStart: s.pidStart, runDir: s.runDir };
}

const FO = 'fo';
const FO_UUID = '6c1d7f5e-2f1b-4b53-9a55-3f8a2c1d0e11';
let foConsole: GuestConsole | undefined;

test('migrate --json: unplug, wait-unplug, completed; the destination QEMU is the domain afterwards', { skip, timeout: 90_000 }, async (t) => {
  foConsole = await startDomain(FO, FO_UUID, 'failover');
  // steady state first (enslaved with link up), so no boot-time line is taken for a later one
  await waitGuest(foConsole, 'primary enslaved, link up', (e) => enslaved(e) && e.kind === 'state' && e.link === 'up', 60_000);
  // domfailover on the embedded driver: read-only QMP on the domain's monitor
  const fo = await cli('domfailover', '--json', FO);
  assert.equal(fo.code, 0, fo.stderr);
  const pair = (JSON.parse(fo.stdout) as DomfailoverReport).pairs[0]!;
  assert.deepEqual([pair.id, pair.standbyId, pair.plugged, pair.negotiated, pair.negotiatedHow, pair.mac.equal, pair.primarySlot?.parent], ['ua-primary0', 'ua-standby0', true, true, 'guest-features', true, 'pci.4']);
  const config = readFileSync(store.configPath(FO), 'utf8');
  const src = record(FO);
  const from = foConsole.lines.length;

  const t0 = performance.now();
  const r = await cli('migrate', FO, 'local', '--json');
  const took = performance.now() - t0;
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as MigrationReportJson & {
    domain: { pid: number; state: string; reason: string };
    guest: { timeoutMs: number; primaries: { id: string; plugged: boolean; enabledAfterMs: number | null }[]; problem: string | null };
  };
  // afterwards the CLI waited for the guest's driver to enable the re-plugged primary (QEMU's view)
  assert.equal(rep.guest.problem, null, r.stderr);
  assert.equal(rep.guest.timeoutMs, 20_000);
  assert.deepEqual(rep.guest.primaries.map((p) => [p.id, p.plugged]), [['ua-primary0', true]]);
  const enabledAfter = rep.guest.primaries[0]!.enabledAfterMs;
  assert.ok(enabledAfter !== null && enabledAfter < 20_000, `enabled after ${enabledAfter} ms`);
  assert.doesNotMatch(r.stderr, /warning:/);
  const tl = rep.timeline;
  assert.ok(tl.some((e) => e.event === 'UNPLUG_PRIMARY' && e.detail === 'ua-primary0'), 'UNPLUG_PRIMARY');
  const phases = tl.filter((e) => e.event === undefined).map((e) => e.phase);
  assert.deepEqual(phases, ['negotiated', 'setup', 'wait-unplug', 'active', 'completed', 'replugged']);
  assert.deepEqual(rep.pairs, [{ id: 'ua-primary0', standbyId: 'ua-standby0', failover: true, unplugRequested: true, replugged: true }]);
  assert.ok(rep.unplugMs !== null && rep.unplugMs > 0, `unplugMs ${rep.unplugMs}`);
  assert.ok(rep.downtimeMs !== null && rep.totalTimeMs !== null && rep.ramTransferredBytes !== null && rep.ramTransferredBytes > 1e6);
  // progress on stderr, one plain line per report (not a terminal)
  assert.match(r.stderr, /^migration +\d+\.\d{3} s {2}wait-unplug$/m);
  assert.match(r.stderr, /^migration +\d+\.\d{3} s {2}replugged \(ua-primary0\)$/m);

  const dst = record(FO);
  assert.notEqual(dst.pid, src.pid);
  assert.equal(rep.domain.pid, dst.pid);
  assert.deepEqual([rep.domain.state, rep.domain.reason], ['running', 'migrated']);
  assert.equal(isProcessAlive(src.pid, src.pidStart), false, 'the source QEMU has quit');
  assert.ok(src.runDir && !existsSync(src.runDir), 'the source runtime dir is gone');
  assert.equal(readFileSync(store.configPath(FO), 'utf8'), config, 'definition unchanged');
  assert.equal((await cli('domstate', '--reason', FO)).stdout, 'running (migrated)\n\n');
  await waitUnplugReplug(foConsole, 'on the destination', from);
  t.diagnostic(
    `CLI ${Math.round(took)} ms; migration ${Math.round(rep.elapsedMs)} ms, QEMU total ${rep.totalTimeMs} ms, ` +
      `downtime ${rep.downtimeMs} ms, wait-unplug ${rep.unplugMs} ms, RAM ${(rep.ramTransferredBytes! / 1e6).toFixed(1)} MB; ` +
      `guest driver enabled the primary ${enabledAfter} ms after the CLI's migration returned`,
  );
});

test('Ctrl-C during wait-unplug: cancelled, the guest stays on the source with its primary', { skip, timeout: 60_000 }, async () => {
  assert.ok(foConsole, 'needs the domain of the first test');
  const before = record(FO);
  const from = foConsole.lines.length;
  const child = spawn(process.execPath, [cliPath, '--state-dir', stateDir, 'migrate', FO, 'local', '--json'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (/ {2}wait-unplug\n/.test(stderr) && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 1, stderr);
  assert.match(stderr, /^SIGINT: cancelling the migration \(the guest stays on the source\)$/m);
  const fail = JSON.parse(stdout) as MigrationFailureJson;
  assert.equal(fail.error.reason, 'aborted');
  assert.equal(
    fail.error.message,
    "operation failed: migration cancelled: aborted by the caller (SIGINT); the guest keeps running on the source; failover primary 'ua-primary0' re-plugged there",
  );
  assert.ok(fail.timeline.some((e) => e.event === 'migrate_cancel'));
  assert.deepEqual(record(FO), before, 'the record still names the source QEMU');
  assert.ok(isProcessAlive(before.pid, before.pidStart));
  assert.equal((await cli('domstate', FO)).stdout, 'running\n\n');
  await waitUnplugReplug(foConsole, 'on the source', from);
  const dirs = readdirSync(store.runtimeDir).filter((f) => f.startsWith(FO_UUID));
  assert.deepEqual(dirs, [path.basename(before.runDir!)], 'the destination runtime dir was removed');
});

test('the migrated domain migrates again (human output), then destroy ends it', { skip, timeout: 60_000 }, async () => {
  assert.ok(foConsole, 'needs the domain of the first test');
  const src = record(FO);
  const from = foConsole.lines.length;
  const r = await cli('migrate', FO, 'local', '--unplug-timeout', '20');
  assert.equal(r.code, 0, r.stderr);
  const dst = record(FO);
  assert.match(
    r.stdout,
    new RegExp(
      '^Migration completed in \\d+\\.\\d\\d s \\(QEMU: total \\d+ ms, setup \\d+ ms, downtime \\d+ ms\\)\n' +
        '  wait-unplug \\d+ ms, RAM transferred \\d+\\.\\d MB\n' +
        '  ua-primary0 \\(standby ua-standby0\\): unplugged on the source, re-plugged on the destination\n',
    ),
  );
  assert.match(r.stdout, /^ {2}guest: ua-primary0 enabled by its driver \d+\.\d s after the migration$/m);
  assert.ok(r.stdout.endsWith(`Domain '${FO}' now runs in QEMU pid ${dst.pid}\n\n`), r.stdout);
  assert.equal(isProcessAlive(src.pid, src.pidStart), false);
  await waitUnplugReplug(foConsole, 'on the new destination', from);

  const d = await cli('destroy', FO);
  assert.equal(d.stdout, `Domain '${FO}' destroyed\n\n`);
  assert.equal(isProcessAlive(dst.pid, dst.pidStart), false);
  assert.equal((await cli('domstate', '--reason', FO)).stdout, 'shut off (destroyed)\n\n');
  assert.deepEqual(readdirSync(store.runtimeDir).filter((f) => f.startsWith(FO_UUID)), []);
  const off = await cli('migrate', FO, 'local');
  assert.equal(off.code, 1);
  assert.equal(off.stderr, 'error: Requested operation is not valid: domain is not running\n');
});

test('--require-failover on a guest without the failover driver: refused, the source keeps running', { skip, timeout: 60_000 }, async () => {
  const name = 'nofo';
  const con = await startDomain(name, '6c1d7f5e-2f1b-4b53-9a55-3f8a2c1d0e12', 'nofailover');
  await waitGuest(con, 'modules loaded (no failover)', (e) => e.kind === 'modules', 60_000);
  const before = record(name);
  const r = await cli('migrate', name, 'local', '--require-failover');
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    "error: Requested operation is not valid: failover is required but the guest has not negotiated failover on standby 'ua-standby0' " +
      "(no failover driver loaded): it migrates over the standby only, without unplugging primary 'ua-primary0', which it never had\n",
  );
  assert.equal(r.stdout, '');
  assert.deepEqual(record(name), before);
  assert.ok(isProcessAlive(before.pid, before.pidStart));
  assert.equal((await cli('domstate', '--reason', name)).stdout, 'running (booted)\n\n');
  assert.equal((await cli('destroy', name)).code, 0);
});

test('a guest without a driver for its primary: the migration completes, migrate says plainly that the guest has not taken it up', { skip, timeout: 90_000 }, async (t) => {
  const name = 'nodrv';
  const con = await startDomain(name, '6c1d7f5e-2f1b-4b53-9a55-3f8a2c1d0e13', 'no-primary-driver');
  // failover negotiated (the master is configured over the standby), pings flow; e1000e is never loaded
  await waitGuest(con, 'failover master ready', (e) => e.kind === 'ready', 60_000);
  const mods = con.lines.find((l) => l.event?.kind === 'modules')?.event;
  assert.ok(mods?.kind === 'modules' && mods.loaded.includes('net_failover') && !mods.loaded.includes('e1000e'), JSON.stringify(mods));
  const r = await cli('migrate', name, 'local', '--guest-timeout', '3', '--json');
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as MigrationReportJson & {
    guest: { primaries: { id: string; plugged: boolean; enabledAfterMs: number | null }[]; problem: string | null };
  };
  assert.deepEqual(rep.pairs, [{ id: 'ua-primary0', standbyId: 'ua-standby0', failover: true, unplugRequested: true, replugged: true }]);
  assert.deepEqual(rep.guest.primaries, [{ id: 'ua-primary0', plugged: true, enabledAfterMs: null }]);
  const text =
    "the migration completed and QEMU has the failover primary 'ua-primary0' plugged on the destination, but the guest " +
    'has not brought it up after 3 s (its driver has not enabled the device): its traffic stays on the standby (see docs/replug.md)';
  assert.equal(rep.guest.problem, text);
  assert.match(r.stderr, new RegExp(`^warning: ${text.replace(/[()'.]/g, '\\$&')}$`, 'm'));
  assert.doesNotMatch(r.stderr, /^error:|\n\s+at /m, 'no error, no stack');
  assert.equal((await cli('domstate', '--reason', name)).stdout, 'running (migrated)\n\n');
  t.diagnostic(r.stderr.split('\n').filter((l) => l.startsWith('warning:')).join('\n'));
  assert.equal((await cli('destroy', name)).code, 0);
});
