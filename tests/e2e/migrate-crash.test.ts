// The fault matrix of `virt-failover migrate NAME local` against real QEMU (TCG): the CLI is killed
// with SIGKILL at each phase (setup, wait-unplug, active, after the destination's RESUME), followed by
// its live progress lines on stderr. The next commands (domstate, dumpxml, list) settle what it left
// (src/qemu/driver/reconcile.ts): afterwards exactly one QEMU runs the guest, the record names it, and
// no other QEMU, runtime dir, socket dir or lock is left. SIGHUP cancels cleanly, like SIGTERM.
// wait-unplug is held by the test guest's block-unplug mode (it never lets go of its primary).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureGuestImage, GuestConsole, type GuestImage, type GuestMode } from '../../src/testbed/guest-image.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { isProcessAlive, readCmdline, signalProcess } from '../../src/util/proc.js';
import { cliPath, runCliProcess } from '../helpers/cli.js';
import { failoverDomainXml } from '../helpers/failover-domain.js';
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
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-mig-crash-'));
  stateDir = path.join(dir, 'state');
  store = DomainStore.open({ stateDir, env: {} });
  image = await ensureGuestImage();
});

after(async () => {
  if (!dir) return;
  for (const pid of qemusWith(dir)) signalProcess(pid, 'SIGKILL');
  for (const c of consoles) await c.close();
  await rm(dir, { recursive: true, force: true });
});

/** Live processes whose command line mentions `mark` (every QEMU here has the temp dir in its argv). */
/** This test's QEMUs of a domain: the UUID and this test's runtime dir (other runs on the machine use the same UUIDs). */
function qemusWith(mark: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      if (pid === process.pid || !isProcessAlive(pid)) return false;
      const argv = readCmdline(pid) ?? [];
      return argv.some((a) => a.includes(mark)) && argv.some((a) => a.includes(store.runtimeDir));
    });
}

async function startDomain(name: string, uuid: string, mode: GuestMode): Promise<GuestConsole> {
  const con = await GuestConsole.listen(path.join(dir, `${name}.serial`));
  consoles.push(con);
  const file = path.join(dir, `${name}.xml`);
  writeFileSync(file, failoverDomainXml(image, name, uuid, mode, con.socketPath));
  assert.equal((await cli('define', file)).code, 0);
  const s = await cli('start', name);
  assert.equal(s.code, 0, s.stderr);
  return con;
}

async function waitGuest(con: GuestConsole, what: string, pred: (e: GuestEvent) => boolean, ms: number): Promise<void> {
  try {
    await con.waitFor((l) => l.event !== undefined && pred(l.event), ms);
  } catch (e) {
    const tail = con.lines.slice(-10).map((l) => l.line).join('\n');
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${tail}`);
  }
}

/**
 * Runs `migrate NAME local --json` and sends `signal` when a stderr progress line matches `when`;
 * resolves with its exit and output.
 */
function migrateUntil(name: string, when: RegExp, signal: NodeJS.Signals): Promise<{ code: number | null; sig: string | null; stdout: string; stderr: string; fired: boolean }> {
  const child = spawn(process.execPath, [cliPath, '--state-dir', stateDir, 'migrate', name, 'local', '--json'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.ok(child.pid && child.pid > 0);
  let stdout = '';
  let stderr = '';
  let fired = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!fired && when.test(stderr)) {
      fired = true;
      child.kill(signal);
    }
  });
  return new Promise((resolve) => child.on('close', (code, sig) => resolve({ code, sig, stdout, stderr, fired })));
}

/** After the next commands: one QEMU runs the guest, the record names it, nothing else is left. */
async function assertSettled(name: string, uuid: string, label: string): Promise<number> {
  const st = await cli('domstate', '--reason', name);
  assert.equal(st.code, 0, `${label}: ${st.stderr}`);
  assert.match(st.stdout, /^running \((booted|migrated|migration canceled|unpaused)\)\n\n$/, label);
  assert.equal((await cli('dumpxml', name)).code, 0);
  assert.match((await cli('list')).stdout, new RegExp(` ${name} +running\n`), label);
  const rec = store.readStatus(name);
  assert.ok(rec?.pid && rec.pid > 0, `${label}: record has a pid`);
  assert.equal(rec.migration, undefined, `${label}: no migration record left`);
  assert.deepEqual(qemusWith(uuid), [rec.pid], `${label}: exactly one QEMU runs the guest, the recorded one`);
  assert.ok(isProcessAlive(rec.pid, rec.pidStart));
  const runtime = readdirSync(store.runtimeDir);
  assert.deepEqual(runtime.filter((f) => f.startsWith(uuid)), [path.basename(rec.runDir!)], `${label}: runtime dirs`);
  assert.deepEqual(runtime.filter((f) => f.startsWith('vf-migrate-dst-')), [], `${label}: destination socket dirs`);
  assert.deepEqual(readdirSync(path.join(store.runtimeDir, 'locks')), [], `${label}: locks`);
  return rec.pid;
}

const FO = 'crash';
// Fresh UUIDs per run: the checks look for the guest's QEMUs machine-wide, and another run of this file
// (a second checkout) must not be counted as ours.
const FO_UUID = randomUUID();
const BLOCK = 'held';
const BLOCK_UUID = randomUUID();

const enslavedUp = (e: GuestEvent): boolean => e.kind === 'state' && e.enslaved && e.link === 'up';

test('kill -9 at setup, active and after RESUME: the next command settles, one QEMU runs the guest', { skip, timeout: 110_000 }, async (t) => {
  const con = await startDomain(FO, FO_UUID, 'failover');
  await waitGuest(con, 'primary enslaved, link up', enslavedUp, 60_000);
  const cases: [string, RegExp][] = [
    ['setup', / {2}setup\n/],
    ['active', / {2}active\n/],
    ['after RESUME', / {2}completed: dst:RESUME\n/],
  ];
  for (const [label, when] of cases) {
    const before = store.readStatus(FO)!;
    const r = await migrateUntil(FO, when, 'SIGKILL');
    assert.ok(r.fired, `${label}: the phase was reached\n${r.stderr}`);
    assert.equal(r.sig, 'SIGKILL', `${label}: killed (exit ${r.code})\n${r.stderr}`);
    const pid = await assertSettled(FO, FO_UUID, label);
    t.diagnostic(`${label}: the guest runs in ${pid === before.pid ? 'the source' : 'the destination'} (pid ${pid})`);
    // the guest goes on: its failover pair is back (primary enslaved, link up) wherever it runs now
    await waitGuest(con, `${label}: primary enslaved again`, enslavedUp, 30_000);
  }
});

test('SIGHUP during wait-unplug: cancelled cleanly, the guest stays on the source', { skip, timeout: 60_000 }, async () => {
  const before = store.readStatus(FO)!;
  const r = await migrateUntil(FO, / {2}wait-unplug\n/, 'SIGHUP');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^SIGHUP: cancelling the migration \(the guest stays on the source\)$/m);
  assert.equal((JSON.parse(r.stdout) as { error: { reason: string } }).error.reason, 'aborted');
  assert.equal(await assertSettled(FO, FO_UUID, 'SIGHUP'), before.pid);
  assert.equal((await cli('destroy', FO)).code, 0);
  assert.deepEqual(qemusWith(FO_UUID), []);
});

test('kill -9 in wait-unplug (a guest that never unplugs): cancelled by the next command, destination ended', { skip, timeout: 90_000 }, async () => {
  const con = await startDomain(BLOCK, BLOCK_UUID, 'block-unplug');
  await waitGuest(con, 'primary enslaved, link up', enslavedUp, 60_000);
  const before = store.readStatus(BLOCK)!;
  const r = await migrateUntil(BLOCK, / {2}wait-unplug\n/, 'SIGKILL');
  assert.equal(r.sig, 'SIGKILL', r.stderr);
  const rec = store.readStatus(BLOCK)!;
  const dest = rec.migration?.dest;
  assert.ok(dest && dest.pid > 0 && isProcessAlive(dest.pid, dest.pidStart), 'the destination was recorded before migrate');
  assert.equal(await assertSettled(BLOCK, BLOCK_UUID, 'wait-unplug'), before.pid);
  assert.equal(isProcessAlive(dest.pid, dest.pidStart), false);
  assert.equal((await cli('destroy', BLOCK)).code, 0);
  assert.deepEqual(qemusWith(BLOCK_UUID), []);
  assert.deepEqual(qemusWith(dir), [], 'no QEMU left at all');
});
