// `define` into a state directory on a full file system (a 256 KiB tmpfs the test mounts; needs root,
// and under CI a failed mount is a failure): a clear error, the previous definition unchanged, no
// temp file left; once there is room again the same define succeeds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCliProcess } from '../helpers/cli.js';
import { qemuSkip } from '../helpers/qemu-env.js';
import { QEMU_BINARY } from '../helpers/qemu-spawn.js';

function rootSkip(): false | string {
  if (process.getuid?.() === 0) return false;
  if (process.env.CI) throw new Error('mounting a tmpfs needs root (CI requires it)');
  return 'not root: cannot mount a tmpfs';
}
const skip = qemuSkip(QEMU_BINARY) || rootSkip();

let dir = '';
let mnt = '';
let mounted = false;
const fillers: string[] = [];
const env = { VIRT_FAILOVER_QEMU: QEMU_BINARY };
const cli = (...args: string[]) => runCliProcess(['--state-dir', mnt, ...args], { env, timeoutMs: 60_000 });

before(() => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), 'vf-diskfull-'));
  mnt = path.join(dir, 'state');
  mkdirSync(mnt, { mode: 0o700 });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs failed: ${r.stderr || r.error?.message}`);
  mounted = true;
});

after(() => {
  if (mounted) {
    const r = spawnSync('umount', [mnt], { encoding: 'utf8' });
    if (r.status !== 0) spawnSync('umount', ['-l', mnt]);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function domainXml(descriptionBytes: number): string {
  return `<domain type='qemu'>
  <name>full</name>
  <uuid>0b7d2f0c-3c35-4f0e-9d1e-6f3f0d1e2a11</uuid>
  <description>${'x'.repeat(descriptionBytes)}</description>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
</domain>
`;
}

/** Fills the file system with 4 KiB files (one tmpfs page each) until it is full. */
function fill(): void {
  const page = Buffer.alloc(4096, 0x61);
  for (let i = 0; ; i++) {
    const f = path.join(mnt, `filler-${i}`);
    try {
      writeFileSync(f, page);
      fillers.push(f);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
      rmSync(f, { force: true });
      return;
    }
  }
}

/** Files a writer left behind in the state tree (temp files of atomic writes and locks). */
function temps(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.tmp') || e.name.endsWith('.lock') || e.name.endsWith('.break')) out.push(path.relative(mnt, p));
    }
  };
  walk(mnt);
  return out.sort();
}

test('define on a full file system: clear error, previous definition intact, no temp file', { skip, timeout: 90_000 }, async () => {
  const small = path.join(dir, 'small.xml');
  writeFileSync(small, domainXml(10));
  const first = await cli('define', small);
  assert.equal(first.code, 0, first.stderr);
  const config = path.join(mnt, 'domains', 'full.xml');
  const before = readFileSync(config, 'utf8');

  const big = path.join(dir, 'big.xml');
  writeFileSync(big, domainXml(64 * 1024));
  fill();
  // Completely full: even the lock's owner record has no room.
  const none = await cli('define', big);
  assert.equal(none.code, 1);
  assert.equal(
    none.stderr,
    `error: Failed to define domain from ${big}\nerror: cannot create lock file '${path.join(mnt, 'run', 'locks', 'full.lock')}': No space left on device\n`,
  );
  assert.equal(readFileSync(config, 'utf8'), before);
  assert.deepEqual(temps(), []);

  // Room for the locks (a page each) but not for the 64 KiB definition: the write itself fails.
  for (const f of fillers.splice(0, 4)) unlinkSync(f);
  const some = await cli('define', big);
  assert.equal(some.code, 1);
  assert.equal(some.stderr, `error: Failed to define domain from ${big}\nerror: Failed to write file '${config}': No space left on device\n`);
  assert.equal(readFileSync(config, 'utf8'), before, 'the previous definition is intact');
  assert.deepEqual(temps(), [], 'no temp or lock file left');
  assert.equal((await cli('dumpxml', 'full')).stdout, `${before}\n`);

  // With room again, the same file defines.
  for (const f of fillers.splice(0)) unlinkSync(f);
  const again = await cli('define', big);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(readFileSync(config, 'utf8').includes('x'.repeat(64 * 1024)));
});
