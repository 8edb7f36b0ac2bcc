// Builds the test guest and boots it under TCG with the failover pair of the notes (qemu-failover-e2e.md §3).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  ensureGuestImage,
  GuestConsole,
  guestKernelArgs,
  type ConsoleLine,
  type GuestImage,
  type GuestMode,
} from '../../src/testbed/guest-image.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';
import { probeAccel } from '../../src/testbed/accel.js';
import { qemuSkip } from '../helpers/qemu-env.js';

const QEMU = 'qemu-system-x86_64';
const BOOT_DEADLINE_MS = 40_000;
const PING_DEADLINE_MS = 20_000;

const skip = qemuSkip(QEMU);

let work = '';
let image: GuestImage | undefined;
const procs = new Set<ChildProcess>();
const consoles = new Set<GuestConsole>();
const servers = new Set<net.Server>();

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vf-e2e-guest-')); // 0700
});

after(async () => {
  await Promise.all([...procs].map((p) => stopQemu(p)));
  await Promise.all([...consoles].map((c) => c.close()));
  for (const srv of servers) srv.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

async function stopQemu(p: ChildProcess): Promise<void> {
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited(p);
    clearTimeout(timer);
  }
  procs.delete(p);
}

/**
 * Just enough raw QMP for these tests: QEMU connects to our socket (`-mon chardev=...,mode=control`),
 * we send qmp_capabilities after the greeting and collect events.
 */
class MiniQmp extends EventEmitter {
  readonly events: { t: number; event: string; data: Record<string, unknown> }[] = [];
  private sock: net.Socket | undefined;
  private nextId = 1;
  private pending = new Map<number, (r: { return?: unknown; error?: { desc: string } }) => void>();
  ready: Promise<MiniQmp>;
  private constructor(srv: net.Server) {
    super();
    this.ready = new Promise((resolve) => {
      srv.once('connection', (sock) => {
        this.sock = sock;
        let buf = '';
        sock.setEncoding('utf8');
        sock.on('error', () => undefined);
        sock.on('data', (d: string) => {
          buf += d;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
            buf = buf.slice(nl + 1);
            if (msg.QMP) void this.cmd('qmp_capabilities').then(() => resolve(this));
            else if (typeof msg.event === 'string') {
              const ev = { t: performance.now(), event: msg.event, data: (msg.data ?? {}) as Record<string, unknown> };
              this.events.push(ev);
              this.emit('event', ev);
            } else if (typeof msg.id === 'number') {
              this.pending.get(msg.id)?.(msg);
              this.pending.delete(msg.id);
            }
          }
        });
      });
    });
  }
  static async listen(socketPath: string): Promise<MiniQmp> {
    const srv = net.createServer();
    servers.add(srv);
    await new Promise<void>((resolve) => srv.listen(socketPath, resolve));
    return new MiniQmp(srv);
  }
  async cmd(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    const reply = new Promise<{ return?: unknown; error?: { desc: string } }>((r) => this.pending.set(id, r));
    this.sock?.write(`${JSON.stringify({ execute, arguments: args, id })}\n`);
    const r = await reply;
    if (r.error) throw new Error(`${execute}: ${r.error.desc}`);
    return r.return;
  }
  /** Resolves with the first MIGRATION status in `statuses` (from the whole history); rejects after ms. */
  migrationStatus(statuses: string[], ms: number): Promise<string> {
    const hit = this.events.find((e) => e.event === 'MIGRATION' && statuses.includes(String(e.data.status)));
    if (hit) return Promise.resolve(String(hit.data.status));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('event', on);
        reject(new Error(`no MIGRATION ${statuses.join('|')} within ${ms} ms`));
      }, ms);
      const on = (e: { event: string; data: Record<string, unknown> }): void => {
        if (e.event === 'MIGRATION' && statuses.includes(String(e.data.status))) {
          clearTimeout(timer);
          this.off('event', on);
          resolve(String(e.data.status));
        }
      };
      this.on('event', on);
    });
  }
}

/** A TCP sink for the migration stream, so no destination QEMU is needed. Returns its port. */
async function migrationSink(): Promise<number> {
  const srv = net.createServer((s) => {
    s.on('error', () => undefined);
    s.resume();
  });
  servers.add(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return (srv.address() as net.AddressInfo).port;
}

async function startMigration(q: MiniQmp): Promise<number> {
  const port = await migrationSink();
  await q.cmd('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  const t = performance.now();
  await q.cmd('migrate', { uri: `tcp:127.0.0.1:${port}` });
  return t;
}

interface Booted {
  child: ChildProcess;
  con: GuestConsole;
  qmp: Promise<MiniQmp>;
  t0: number;
  stderr: () => string;
}

async function boot(mode: GuestMode, name: string): Promise<Booted> {
  assert.ok(image);
  const con = await GuestConsole.listen(path.join(work, `${name}.serial`));
  consoles.add(con);
  const qmpPath = path.join(work, `${name}.qmp`);
  const qmp = await MiniQmp.listen(qmpPath);
  // exactly the device layout of qemu-failover-e2e.md §3 (QEMU connects to our console socket)
  const args = [
    '-name', name, '-machine', 'q35', '-accel', 'tcg', '-cpu', 'qemu64', '-m', '512', '-smp', '1', '-nodefaults',
    '-display', 'none', '-no-user-config',
    '-kernel', image.kernel, '-initrd', image.initrd, '-append', guestKernelArgs(mode),
    ...con.qemuArgs('ser0'),
    '-chardev', `socket,id=mon0,path=${qmpPath}`, '-mon', 'chardev=mon0,mode=control',
    '-device', 'pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2',
    '-device', 'pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x3',
    '-netdev', 'user,id=hostnet0',
    '-device', 'virtio-net-pci,netdev=hostnet0,id=standby0,mac=52:54:00:aa:bb:cc,failover=on,bus=rp1',
    '-netdev', 'user,id=hostnet1',
    '-device', 'e1000e,netdev=hostnet1,id=primary0,failover_pair_id=standby0,mac=52:54:00:aa:bb:cc,bus=rp2,romfile=',
  ];
  const t0 = performance.now();
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  return { child, con, qmp: qmp.ready, t0, stderr: () => stderr };
}

/** Waits for a console line, failing early (with QEMU's stderr) if QEMU exits. */
async function expectLine(
  b: Booted,
  what: string,
  pred: (e: GuestEvent, l: ConsoleLine) => boolean,
  ms: number,
): Promise<ConsoleLine> {
  const ac = new AbortController();
  const died = exited(b.child).then(() => {
    throw new Error(`QEMU exited while waiting for ${what}: ${b.stderr()}`);
  });
  try {
    return await Promise.race([b.con.waitFor((l) => l.event !== undefined && pred(l.event, l), ms, 0, ac.signal), died]);
  } catch (e) {
    const tail = b.con.lines.slice(-15).map((l) => l.line).join('\n');
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${tail}\n--- stderr:\n${b.stderr()}`);
  } finally {
    ac.abort();
    died.catch(() => undefined);
  }
}

const rel = (b: Booted, l: ConsoleLine): number => Math.round(l.t - b.t0);

/** Minimal newc reader: name -> { mode, data }. */
function readNewc(buf: Buffer): Map<string, { mode: number; data: Buffer; rdev: [number, number] }> {
  const out = new Map<string, { mode: number; data: Buffer; rdev: [number, number] }>();
  let off = 0;
  for (;;) {
    const h = buf.toString('ascii', off, off + 110);
    assert.equal(h.slice(0, 6), '070701', `newc magic at ${off}`);
    const f = (i: number): number => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const name = buf.toString('utf8', off + 110, off + 110 + f(11) - 1);
    const dataOff = Math.ceil((off + 110 + f(11)) / 4) * 4;
    if (name === 'TRAILER!!!') return out;
    out.set(name, { mode: f(1), data: buf.subarray(dataOff, dataOff + f(6)), rdev: [f(9), f(10)] });
    off = Math.ceil((dataOff + f(6)) / 4) * 4;
  }
}

test('guest image: builds once, caches, and holds init, busybox, console and the modules', { skip }, async (t) => {
  const cacheDir = path.join(work, 'cache');
  const t1 = performance.now();
  image = await ensureGuestImage({ cacheDir });
  const buildMs = performance.now() - t1;
  const t2 = performance.now();
  const again = await ensureGuestImage({ cacheDir });
  const cachedMs = performance.now() - t2;
  t.diagnostic(`build ${buildMs.toFixed(0)} ms, cached lookup ${cachedMs.toFixed(0)} ms`);
  assert.deepEqual(again, image);
  assert.ok(existsSync(image.kernel));
  assert.ok(image.initrd.startsWith(cacheDir + path.sep));
  assert.ok(path.basename(path.dirname(image.initrd)).startsWith(`${image.kernelVersion}-`));
  assert.deepEqual(image.modules, [
    'failover', 'net_failover', 'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev',
    'virtio_pci', 'virtio_net', 'e1000e',
  ]);

  const cpio = gunzipSync(await readFile(image.initrd));
  const files = readNewc(cpio);
  assert.equal((files.get('init')?.mode ?? 0) & 0o170777, 0o100755);
  assert.match(files.get('init')?.data.toString() ?? '', /^#!\/bin\/sh\n/);
  assert.equal(files.get('bin/sh')?.data.toString(), 'busybox');
  assert.equal(files.get('bin/ping')?.data.toString(), 'busybox');
  assert.ok((files.get('bin/busybox')?.data.length ?? 0) > 100_000);
  assert.deepEqual(files.get('dev/console')?.rdev, [5, 1]);
  for (const d of ['proc', 'sys', 'dev', 'tmp']) assert.equal((files.get(d)?.mode ?? 0) & 0o170000, 0o040000, d);
  for (const m of image.modules) {
    const ko = files.get(`lib/modules/${m}.ko`)?.data;
    assert.ok(ko && ko.readUInt32BE(0) === 0x7f454c46, `${m}.ko is an ELF file`);
  }

  // cross-check the archive with GNU cpio when it is installed
  if (existsSync('/usr/bin/cpio')) {
    const raw = path.join(work, 'initrd.cpio');
    await writeFile(raw, cpio, { mode: 0o600 });
    const fh = await open(raw, 'r');
    try {
      const listing = await new Promise<string>((resolve, reject) => {
        const p = spawn('/usr/bin/cpio', ['-it', '--quiet'], { stdio: [fh.fd, 'pipe', 'pipe'] });
        let out = '';
        p.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
        p.on('error', reject);
        p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`cpio -it exited ${code}`))));
      });
      assert.deepEqual(listing.trim().split('\n').sort(), [...files.keys()].sort());
    } finally {
      await fh.close();
    }
  }
  assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);
});

test('failover mode: the primary is enslaved and ping replies arrive (TCG)', { skip }, async (t) => {
  const b = await boot('failover', 'fo');
  const init = await expectLine(b, 'VFINIT', (e) => e.kind === 'init', BOOT_DEADLINE_MS);
  assert.equal(init.event?.kind === 'init' && init.event.mode, 'failover');
  const left = (): number => Math.max(1000, BOOT_DEADLINE_MS - (performance.now() - b.t0));
  const enslaved = await expectLine(b, 'enslaved=1', (e) => e.kind === 'state' && e.enslaved, left());
  const st = enslaved.event;
  assert.ok(st?.kind === 'state');
  assert.ok(st.master && st.standby && st.primary, enslaved.line);
  assert.equal(new Set([st.master, st.standby, st.primary]).size, 3);
  const ready = await expectLine(b, 'VFREADY', (e) => e.kind === 'ready', left());
  assert.equal(ready.event?.kind === 'ready' && ready.event.master, st.master);

  // The first replies come in one burst: requests queued behind ARP during the boot-time P1 black hole.
  // Then count 20 prompt replies; they must be spread out in host time (ping writes to the tty, no buffering).
  const prompt: ConsoleLine[] = [];
  const enough = await expectLine(
    b,
    '20 prompt ping replies',
    (e, l) => e.kind === 'ping' && e.from === '10.0.2.2' && e.timeMs < 100 && prompt.push(l) >= 20,
    PING_DEADLINE_MS,
  );
  const pings = b.con.lines.filter((l) => l.event?.kind === 'ping');
  const linkUp = b.con.lines.find((l) => l.event?.kind === 'state' && l.event.link === 'up');
  t.diagnostic(
    `host ms after spawn: init ${rel(b, init)}, enslaved ${rel(b, enslaved)}, ready ${rel(b, ready)}, ` +
      `primary link up ${linkUp ? rel(b, linkUp) : '-'}, first reply ${rel(b, pings[0])}, ` +
      `20th prompt reply ${rel(b, enough)}; guest uptime at init ${init.event?.kind === 'init' ? init.event.t : '?'} ms`,
  );
  assert.ok(prompt[19].t - prompt[0].t >= 100, `20 prompt replies within ${prompt[19].t - prompt[0].t} ms: buffered?`);
  const seqs = pings.map((l) => (l.event?.kind === 'ping' ? l.event.seq : -1));
  assert.deepEqual([...seqs].sort((x, y) => x - y), seqs);

  // Control for block-unplug: migrating (into a TCP sink) goes through wait-unplug and on to active,
  // because this guest completes the hot-unplug of the primary.
  const q = await b.qmp;
  const tMig = await startMigration(q);
  assert.equal(await q.migrationStatus(['wait-unplug'], 10_000), 'wait-unplug');
  const gone = await expectLine(b, 'primary unplugged', (e, l) => l.t > tMig && e.kind === 'state' && !e.primary, 10_000);
  assert.equal(await q.migrationStatus(['active', 'failed'], 10_000), 'active');
  assert.equal(await q.migrationStatus(['completed', 'failed'], 30_000), 'completed');
  const active = q.events.find((e) => e.event === 'MIGRATION' && e.data.status === 'active');
  t.diagnostic(
    `after migrate: guest unplugged the primary at +${Math.round(gone.t - tMig)} ms, ` +
      `active at +${Math.round((active?.t ?? NaN) - tMig)} ms`,
  );
  assert.ok(b.con.lines.every((l) => l.event?.kind !== 'error'), 'no VFERROR line');
  await stopQemu(b.child);
});

test('nofailover mode: STANDBY is never negotiated, so no master and no primary (TCG)', { skip }, async (t) => {
  const b = await boot('nofailover', 'nofo');
  const mods = await expectLine(b, 'VFMODULES', (e) => e.kind === 'modules', BOOT_DEADLINE_MS);
  assert.ok(mods.event?.kind === 'modules');
  assert.ok(mods.event.loaded.includes('e1000e') && mods.event.loaded.includes('virtio_pci'));
  assert.ok(!mods.event.loaded.some((m) => m === 'virtio_net' || m === 'net_failover' || m === 'failover'));
  const first = await expectLine(b, 'VFSTATE', (e) => e.kind === 'state', 5000);
  assert.deepEqual(first.event, {
    kind: 'state', t: first.event?.kind === 'state' ? first.event.t : 0,
    master: null, standby: null, primary: null, enslaved: false, link: null, ifs: [],
  });
  // In failover mode the primary is registered within ~0.1 s of the insmods (e1000e is already loaded here),
  // so a 3 s window with no netdev at all shows QEMU never plugged it.
  await assert.rejects(
    expectLine(b, 'a netdev', (e) => (e.kind === 'state' && e.ifs.length > 0) || e.kind === 'ready', 3000),
    /no matching line/,
  );
  t.diagnostic(`modules loaded ${rel(b, mods)} ms after spawn`);
  await stopQemu(b.child);
});

test('block-unplug mode: the guest never completes the unplug, QEMU stays in wait-unplug (TCG)', { skip }, async (t) => {
  const b = await boot('block-unplug', 'block');
  const enslaved = await expectLine(b, 'enslaved=1', (e) => e.kind === 'state' && e.enslaved, BOOT_DEADLINE_MS);
  const block = await expectLine(b, 'VFBLOCK', (e) => e.kind === 'block', 10_000);
  assert.ok(block.event?.kind === 'block' && block.event.gpes.length > 0, block.line);
  const q = await b.qmp;
  const tMig = await startMigration(q);
  assert.equal(await q.migrationStatus(['wait-unplug'], 10_000), 'wait-unplug');
  // QEMU re-checks every 250 ms; 5 s = 20 checks without progress
  await assert.rejects(q.migrationStatus(['active', 'failed', 'cancelled', 'completed'], 5000), /no MIGRATION/);
  assert.deepEqual(await q.cmd('query-migrate'), { status: 'wait-unplug' });
  const last = b.con.lines.filter((l) => l.event?.kind === 'state').at(-1);
  assert.ok(last?.event?.kind === 'state' && last.event.enslaved, `primary still enslaved: ${last?.line}`);
  assert.ok(b.con.lines.some((l) => l.t > tMig + 4000 && l.event?.kind === 'ping'), 'guest still pings');
  t.diagnostic(`enslaved ${rel(b, enslaved)} ms, ${block.line.trim()}; still wait-unplug 5 s after migrate`);
  // no migrate_cancel: with the unplug pending, QEMU 7.2 waits 30 s before it reports cancelled
  await stopQemu(b.child);
});

test('probeAccel on this host: a verdict within the deadline, cached afterwards', { skip }, async (t) => {
  assert.ok(image, 'built by the first test');
  const cacheDir = path.join(work, 'accel-cache');
  const env = { ...process.env, VIRT_FAILOVER_ACCEL: '' };
  const t0 = performance.now();
  const v = await probeAccel({ image, cacheDir, env, timeoutMs: 20_000 });
  const ms = performance.now() - t0;
  t.diagnostic(`${v.accel} in ${Math.round(ms)} ms: ${v.reason}`);
  assert.ok(v.accel === 'kvm' || v.accel === 'tcg');
  assert.ok(ms < 25_000);
  const again = await probeAccel({ image, cacheDir, env });
  assert.equal(again.accel, v.accel);
  if (!v.reason.startsWith('KVM not available')) assert.match(again.reason, /^cached/);
});
