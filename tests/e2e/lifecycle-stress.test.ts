// 20 domains started and destroyed in parallel through the built CLI, for 3 rounds, with real QEMU
// (TCG, 32 MiB guests without a boot disk: firmware only, so 20 of them fit on 2 cores). In each round
// some CLI processes are killed with SIGKILL at a random moment (holding the domain or store lock, or
// between spawning QEMU and recording it); the domain's next command must then act normally. Checked:
// never a "locked by another process" (each domain has one command at a time, so that would be a
// stale lock not noticed), never two QEMUs for one domain, and after the destroys no QEMU, lock,
// runtime dir or socket left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { isProcessAlive, readCmdline, signalProcess } from '../../src/util/proc.js';
import { cliPath, runCliProcess, type CliRun } from '../helpers/cli.js';
import { qemuSkip } from '../helpers/qemu-env.js';
import { QEMU_BINARY } from '../helpers/qemu-spawn.js';

const skip = qemuSkip(QEMU_BINARY);
const N = 20;
const ROUNDS = 3;

let dir = '';
let stateDir = '';
let store: DomainStore;
const env = { VIRT_FAILOVER_QEMU: QEMU_BINARY };
const cli = (...args: string[]) => runCliProcess(['--state-dir', stateDir, ...args], { env, timeoutMs: 120_000 });

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-stress-'));
  stateDir = path.join(dir, 'state');
  store = DomainStore.open({ stateDir, env: {} });
});

after(async () => {
  if (!dir) return;
  for (const pid of processesWith(dir)) signalProcess(pid, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function processesWith(mark: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => pid !== process.pid && isProcessAlive(pid) && readCmdline(pid)?.some((a) => a.includes(mark)));
}

const names = Array.from({ length: N }, (_, i) => `s${String(i).padStart(2, '0')}`);
const uuidOf = (i: number) => `5a1e0000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** Runs the CLI and SIGKILLs it after `killAfterMs`; resolves when it is gone. */
function runKilled(args: string[], killAfterMs: number): Promise<CliRun & { killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, '--state-dir', stateDir, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.ok(child.pid && child.pid > 0);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed: sig === 'SIGKILL' });
    });
  });
}

/** A deterministic spread of kill moments (0.05 .. 1.2 s) so runs are comparable. */
const killDelay = (round: number, i: number) => 50 + ((round * 7919 + i * 104729) % 1150);

/** A 32 MiB guest without a boot disk (the firmware idles). */
async function define(name: string, uuid: string): Promise<void> {
  const f = path.join(dir, `${name}.xml`);
  writeFileSync(
    f,
    `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>32</memory><vcpu>1</vcpu>` +
      `<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><memballoon model='none'/></devices></domain>\n`,
  );
  const r = await cli('define', f);
  assert.equal(r.code, 0, r.stderr);
}

function assertNoFalseBusy(r: CliRun, what: string): void {
  assert.doesNotMatch(r.stderr, /locked by another/, `${what}: false busy`);
}

test(`${N} domains started and destroyed in parallel for ${ROUNDS} rounds, some CLIs killed`, { skip, timeout: 300_000 }, async (t) => {
  await Promise.all(names.map((name, i) => define(name, uuidOf(i))));
  let killedTotal = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // every 4th domain (shifted each round) gets its CLI killed
    const victim = (i: number) => (i + round) % 4 === 0;
    const t0 = performance.now();
    await Promise.all(
      names.map(async (name, i) => {
        if (victim(i)) {
          const k = await runKilled(['start', name], killDelay(round, i));
          if (k.killed) killedTotal++;
          assertNoFalseBusy(k, `killed start ${name}`);
          const again = await cli('start', name);
          assertNoFalseBusy(again, `start ${name} after a killed start`);
          if (again.code !== 0) assert.equal(again.stderr, 'error: Failed to start domain \'' + name + '\'\nerror: Requested operation is not valid: domain is already running\n');
        } else {
          const r = await cli('start', name);
          assert.equal(r.code, 0, `start ${name}: ${r.stderr}`);
        }
      }),
    );
    const started = performance.now() - t0;
    for (const [i, name] of names.entries()) {
      const rec = store.readStatus(name);
      assert.ok(rec?.pid && rec.pid > 0, `round ${round}: ${name} recorded`);
      assert.deepEqual(processesWith(uuidOf(i)), [rec.pid], `round ${round}: ${name} runs in exactly one QEMU, the recorded one`);
    }
    const t1 = performance.now();
    await Promise.all(
      names.map(async (name, i) => {
        if (victim((i + 2) % N)) {
          const k = await runKilled(['destroy', name], killDelay(round + 1, i));
          if (k.killed) killedTotal++;
          assertNoFalseBusy(k, `killed destroy ${name}`);
          const again = await cli('destroy', name);
          assertNoFalseBusy(again, `destroy ${name} after a killed destroy`);
          if (again.code !== 0) assert.match(again.stderr, /domain is not running\n$/, `${name}: ${again.stderr}`);
        } else {
          const r = await cli('destroy', name);
          assert.equal(r.code, 0, `destroy ${name}: ${r.stderr}`);
        }
      }),
    );
    const destroyed = performance.now() - t1;
    const list = await cli('list', '--all');
    assert.equal(list.code, 0);
    for (const name of names) assert.match(list.stdout, new RegExp(` ${name} +shut off\n`), `round ${round}: ${name} is off`);
    assert.deepEqual(processesWith(stateDir), [], `round ${round}: no QEMU left`);
    assert.deepEqual(readdirSync(path.join(store.runtimeDir, 'locks')), [], `round ${round}: no lock left`);
    const runtime = readdirSync(store.runtimeDir, { withFileTypes: true });
    assert.deepEqual(runtime.filter((e) => e.isDirectory() && e.name !== 'locks').map((e) => e.name), [], `round ${round}: no runtime dir (sockets) left`);
    assert.deepEqual(runtime.filter((e) => e.isSocket()).map((e) => e.name), []);
    t.diagnostic(`round ${round}: ${N} started in ${Math.round(started)} ms, destroyed in ${Math.round(destroyed)} ms`);
  }
  t.diagnostic(`${killedTotal} CLI processes killed with SIGKILL over ${ROUNDS} rounds`);
  assert.ok(killedTotal >= ROUNDS * 2, `some holders were really killed (${killedTotal})`);
});

test('a QEMU that no record names (its start was killed between spawn and record) is ended by the next start', { skip, timeout: 60_000 }, async () => {
  const name = 'orphan';
  const uuid = uuidOf(99);
  await define(name, uuid);
  assert.equal((await cli('start', name)).code, 0);
  const old = store.readStatus(name)!;
  assert.ok(old.pid && old.pid > 0);
  // The records as a start killed right after spawning QEMU leaves them: nothing names that QEMU.
  store.writeStatus({ name, uuid, state: 'shutoff', reason: 'destroyed' });
  store.removeRunFiles(name, undefined);
  const r = await cli('start', name);
  assert.equal(r.code, 0, r.stderr);
  const now = store.readStatus(name)!;
  assert.notEqual(now.pid, old.pid);
  assert.equal(isProcessAlive(old.pid, old.pidStart), false, 'the unrecorded QEMU was ended');
  assert.deepEqual(processesWith(uuid), [now.pid], 'one QEMU runs the domain');
  assert.equal((await cli('destroy', name)).code, 0);
  assert.deepEqual(processesWith(uuid), []);
});
