// Lock files: exclusivity across processes, fail-fast with the owner's pid, stale locks
// (dead owner, reused pid) taken over exactly once, waiting on events when asked.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { acquireLock, readLockOwner, tryAcquireLock } from '../../src/qemu/driver/lock.js';
import { selfStartTime } from '../../src/util/proc.js';
import { repoRoot } from '../helpers/paths.js';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-lock-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const busy = (o: { pid: number } | undefined) => new Error(`busy:${o?.pid ?? '?'}`);

/** A pid that existed and is gone now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('second acquire fails at once with the owner pid; release frees it', async () => {
  const file = path.join(dir, 'a.lock');
  const l = await acquireLock(file, { op: 'start', busyError: busy });
  assert.deepEqual(readLockOwner(file), { pid: process.pid, start: selfStartTime(), op: 'start' });
  const t0 = Date.now();
  await assert.rejects(acquireLock(file, { busyError: busy }), new RegExp(`^Error: busy:${process.pid}$`));
  assert.ok(Date.now() - t0 < 1000, 'fail fast');
  assert.equal(await tryAcquireLock(file), undefined);
  l.release();
  l.release(); // idempotent
  assert.equal(existsSync(file), false);
  const l2 = await acquireLock(file, { busyError: busy });
  l2.release();
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('a.lock')), [], 'no temp files left');
});

const staleCases: { name: string; owner: () => string }[] = [
  { name: 'dead owner', owner: () => JSON.stringify({ pid: deadPid(), start: '1' }) },
  { name: 'reused pid (same pid, other start time)', owner: () => JSON.stringify({ pid: process.pid, start: '999999999999' }) },
  { name: 'garbage content', owner: () => 'not json' },
];
for (const c of staleCases) {
  test(`stale lock is taken over: ${c.name}`, async () => {
    const file = path.join(dir, `stale-${c.name.replace(/\W+/g, '_')}.lock`);
    writeFileSync(file, c.owner());
    const l = await acquireLock(file, { busyError: busy });
    assert.equal(readLockOwner(file)?.pid, process.pid);
    l.release();
  });
}

test('release does not remove a lock that is no longer ours', async () => {
  const file = path.join(dir, 'b.lock');
  const l = await acquireLock(file, { busyError: busy });
  rmSync(file);
  writeFileSync(file, JSON.stringify({ pid: 1, start: 'x' }));
  l.release();
  assert.equal(existsSync(file), true);
});

test('waitMs: acquired when the owner lets go (directory event), busy after the deadline', async () => {
  const file = path.join(dir, 'c.lock');
  const l = await acquireLock(file, { busyError: busy });
  const t0 = Date.now();
  await assert.rejects(acquireLock(file, { busyError: busy, waitMs: 150 }), /busy/);
  assert.ok(Date.now() - t0 >= 140);
  const waiting = acquireLock(file, { busyError: busy, waitMs: 10_000 });
  setTimeout(() => l.release(), 50);
  const l2 = await waiting;
  l2.release();
});

/** Starts `n` processes that race for the lock; each prints won/busy and holds until stdin closes. */
async function race(file: string, n: number): Promise<{ won: number; busy: number }> {
  const lockUrl = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'qemu', 'driver', 'lock.js')).href;
  const code = `
    import { acquireLock } from ${JSON.stringify(lockUrl)};
    try {
      await acquireLock(${JSON.stringify(file)}, { busyError: (o) => new Error('busy ' + (o && o.pid)) });
      process.stdout.write('won\\n');
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));
    } catch (e) { process.stdout.write(e.message + '\\n'); process.exit(0); }`;
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const lines = await Promise.all(
    children.map(
      (c) =>
        new Promise<string>((resolve) => {
          let out = '';
          c.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('\n')) resolve(out.trim());
          });
          c.on('exit', () => resolve(out.trim()));
        }),
    ),
  );
  const winners = children.filter((_, i) => lines[i] === 'won');
  // Let every child go before asserting: a winner holds its lock until its stdin ends.
  await Promise.all(children.map((c) => new Promise((r) => { c.on('exit', r); c.stdin.end(); if (c.exitCode !== null) r(0); })));
  for (const l of lines) if (l !== 'won') assert.match(l, new RegExp(`^busy ${winners[0]?.pid}$`), `loser names the winner: ${l}`);
  return { won: winners.length, busy: lines.length - winners.length };
}

test('processes racing for a free lock: exactly one wins', { timeout: 30_000 }, async () => {
  const r = await race(path.join(dir, 'race.lock'), 6);
  assert.deepEqual(r, { won: 1, busy: 5 });
});

test('processes racing over a stale lock: exactly one takes it over', { timeout: 30_000 }, async () => {
  const file = path.join(dir, 'race-stale.lock');
  writeFileSync(file, JSON.stringify({ pid: deadPid(), start: '1' }));
  const r = await race(file, 6);
  assert.deepEqual(r, { won: 1, busy: 5 });
  assert.equal(existsSync(file), false, 'winner released on exit');
  assert.equal(existsSync(`${file}.break`), false);
});

test('waitMs: a holder killed with SIGKILL is noticed at once (its file stays), not at the deadline', { timeout: 30_000 }, async () => {
  const file = path.join(dir, 'killed-holder.lock');
  const lockUrl = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'qemu', 'driver', 'lock.js')).href;
  const code = `
    import { acquireLock } from ${JSON.stringify(lockUrl)};
    await acquireLock(${JSON.stringify(file)}, { busyError: () => new Error('busy') });
    process.stdout.write('won\\n');
    setInterval(() => {}, 1000);`;
  const holder = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on('data', (d: Buffer) => d.toString().includes('won') && resolve());
    holder.on('exit', () => reject(new Error('holder exited early')));
  });
  assert.ok(holder.pid && holder.pid > 0);
  const holderPid = holder.pid;
  let acquiredAt = 0;
  const waiting = acquireLock(file, { busyError: busy, waitMs: 20_000 }).then((l) => {
    acquiredAt = performance.now();
    return l;
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(acquiredAt, 0, 'the waiter waits while the holder lives');
  const killedAt = performance.now();
  holder.kill('SIGKILL');
  const l = await waiting;
  const noticedMs = acquiredAt - killedAt;
  assert.equal(readLockOwner(file)?.pid, process.pid);
  l.release();
  await new Promise((r) => (holder.exitCode !== null || holder.signalCode !== null ? r(0) : holder.on('exit', r)));
  // The waiter looks every 50 ms; 200 ms is the goal, the rest is slack for a loaded machine.
  assert.ok(noticedMs < 700, `dead holder ${holderPid} noticed after ${Math.round(noticedMs)} ms`);
});
