// The domain lifecycle against a real QEMU (TCG, no boot device: SeaBIOS just idles), through
// the library API with its defaults (post-parse, buildCommandLine 'default' profile).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Monitor } from '../../src/qemu/monitor/monitor.js';
import { QemuDriver } from '../../src/qemu/driver/driver.js';
import { waitForExit } from '../../src/qemu/driver/process.js';
import { isProcessAlive, signalProcess } from '../../src/util/proc.js';
import { stopLeftovers } from '../helpers/qemu-env.js';
import { QEMU_BINARY } from '../helpers/qemu-spawn.js';

export const domainXml = (name: string, extra = '') => `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>${extra}</devices>
</domain>
`;

let dir = '';
let driver: QemuDriver;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-life-'));
  driver = QemuDriver.open({ stateDir: path.join(dir, 'state'), qemuBinary: QEMU_BINARY });
});
after(async () => {
  await stopLeftovers(driver.store, (name) => driver.destroy(name));
  rmSync(dir, { recursive: true, force: true });
});

const T = { timeout: 90_000 };

async function qmpStatus(monitor: string): Promise<string> {
  const m = await Monitor.connect(monitor, { timeoutMs: 10_000 });
  try {
    return (await m.execute<{ status: string }>('query-status')).status;
  } finally {
    await m.close();
  }
}

test('define -> start -> running per QMP -> destroy: no process, no socket, no run dir', T, async () => {
  const d = await driver.define(domainXml('life1'), { source: 'life1.xml' });
  assert.equal(d.name, 'life1');
  assert.match(d.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(d.created, true);
  assert.deepEqual(await driver.getState('life1'), {
    name: 'life1', uuid: d.uuid, state: 'shutoff', reason: 'unknown', persistent: true, active: false,
  });

  const r = await driver.start('life1');
  assert.equal(r.accel, 'tcg');
  assert.ok(r.id >= 1);
  const status = driver.store.readStatus('life1')!;
  assert.equal(status.pid, r.pid);
  assert.ok(isProcessAlive(r.pid, status.pidStart));
  assert.equal(readFileSync(driver.store.pidPath('life1'), 'utf8'), `${r.pid}\n`);
  const monitor = status.monitor!;
  assert.equal(statSync(monitor).mode & 0o777, 0o600, 'monitor socket 0600');
  assert.equal(statSync(path.dirname(monitor)).mode & 0o777, 0o700, 'run dir 0700');
  assert.equal(statSync(driver.store.runtimeDir).mode & 0o777, 0o700, 'runtime dir 0700');
  assert.ok(Buffer.byteLength(monitor) < 108);
  assert.equal(await qmpStatus(monitor), 'running');

  const st = await driver.getState(String(r.id)); // lookup by id, as virsh
  assert.deepEqual([st.state, st.reason, st.active, st.id, st.pid], ['running', 'booted', true, r.id, r.pid]);
  assert.equal((await driver.getState(d.uuid)).name, 'life1'); // and by uuid
  assert.deepEqual((await driver.list()).map((x) => [x.id, x.name, x.state]), [[r.id, 'life1', 'running']]);

  const live = await driver.getXml('life1');
  assert.match(live, new RegExp(`^<domain type='qemu' id='${r.id}'>`));
  const inactive = await driver.getXml('life1', { inactive: true });
  assert.match(inactive, /^<domain type='qemu'>/);
  assert.equal(inactive, readFileSync(driver.store.configPath('life1'), 'utf8'));

  await assert.rejects(driver.start('life1'), { message: 'Requested operation is not valid: domain is already running' });

  await driver.destroy('life1');
  assert.equal(isProcessAlive(r.pid, status.pidStart), false, 'QEMU is gone');
  assert.equal(existsSync(monitor), false, 'no socket left');
  assert.equal(existsSync(status.runDir!), false, 'no run dir left');
  assert.equal(existsSync(driver.store.pidPath('life1')), false, 'no pidfile left');
  assert.deepEqual(
    readdirSync(driver.store.runtimeDir).filter((f) => !['locks', 'next-id'].includes(f)).sort(),
    ['life1.json', 'life1.log'],
  );
  const off = await driver.getState('life1');
  assert.deepEqual([off.state, off.reason, off.active, off.id], ['shutoff', 'destroyed', false, undefined]);
  assert.deepEqual(await driver.list(), []);
  await assert.rejects(driver.destroy('life1'), { message: 'Requested operation is not valid: domain is not running' });
  const log = readFileSync(driver.store.logPath('life1'), 'utf8');
  assert.match(log, /: starting up\n.*qemu-system-x86_64 -name guest=life1/);
  assert.match(log, /: shutting down, reason=destroyed\n$/);
});

test('QEMU killed with SIGKILL: shut off (crashed), record cleaned, start works again', T, async () => {
  await driver.define(domainXml('life2'));
  const r = await driver.start('life2');
  const runDir = driver.store.readStatus('life2')!.runDir!;
  const pidStart = driver.store.readStatus('life2')!.pidStart;
  signalProcess(r.pid, 'SIGKILL');
  assert.equal(await waitForExit(r.pid, pidStart, { timeoutMs: 10_000 }), true);
  const st = await driver.getState('life2');
  assert.deepEqual([st.state, st.reason, st.active], ['shutoff', 'crashed', false]);
  assert.deepEqual((await driver.list()).map((x) => x.name), [], 'not listed as active');
  assert.deepEqual((await driver.list({ all: true })).map((x) => [x.name, x.state]), [['life1', 'shutoff'], ['life2', 'shutoff']]);
  // The reader cleaned up (the lock was free): no pidfile, no sockets.
  assert.equal(existsSync(driver.store.pidPath('life2')), false);
  assert.equal(existsSync(runDir), false);
  assert.equal(driver.store.readStatus('life2')?.reason, 'crashed');

  const r2 = await driver.start('life2');
  assert.notEqual(r2.pid, r.pid);
  assert.ok(r2.id > r.id);
  assert.equal((await driver.getState('life2')).state, 'running');
  await driver.destroy('life2');
});

test('shutdown: a guest that ignores ACPI fails after the timeout and keeps running', T, async () => {
  await driver.define(domainXml('life3'));
  const r = await driver.start('life3');
  const t0 = Date.now();
  await assert.rejects(driver.shutdown('life3', { timeoutMs: 1500 }), {
    message:
      "operation failed: domain 'life3' did not shut down within 2 seconds: the guest did not act on the ACPI power button (use 'destroy' to force it off)",
  });
  assert.ok(Date.now() - t0 >= 1400);
  assert.equal((await driver.getState('life3')).state, 'running');
  assert.deepEqual(await driver.shutdown('life3', { timeoutMs: 0 }), { name: 'life3', state: 'requested' });
  await driver.destroy('life3');
  assert.equal(isProcessAlive(r.pid), false);
});

test('undefine a running domain: it goes on as a transient domain and disappears when destroyed', T, async () => {
  const d = await driver.define(domainXml('life5'));
  await driver.start('life5');
  assert.deepEqual(await driver.undefine('life5'), { name: 'life5', uuid: d.uuid, stillRunning: true });
  const st = await driver.getState('life5');
  assert.deepEqual([st.state, st.persistent, st.active], ['running', false, true]);
  assert.match(await driver.getXml('life5', { inactive: true }), /id='\d+'/, 'a transient domain has only the live XML');
  await assert.rejects(driver.undefine('life5'), { message: 'Requested operation is not valid: cannot undefine transient domain' });
  // Its name and uuid stay taken while it runs.
  await assert.rejects(driver.define(domainXml('life5').replace('<name>', `<uuid>${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}</uuid><name>`)), /already exists with uuid/);
  await driver.destroy('life5');
  await assert.rejects(driver.getState('life5'), { message: "Domain not found: no domain with matching name 'life5'" });
});

test('QEMU that dies at start: libvirt-style error with its stderr, shut off (failed), nothing left', T, async () => {
  const fake = path.join(dir, 'fake-qemu.sh');
  writeFileSync(fake, '#!/bin/sh\necho "fake-qemu: cannot start: $1 $2" >&2\nexit 1\n');
  chmodSync(fake, 0o755);
  const realCaps = (await import('../../src/qemu/caps/probe.js')).probeQemuCaps;
  const which = (await import('../../src/qemu/driver/process.js')).resolveExecutable(QEMU_BINARY);
  const d2 = QemuDriver.open({ stateDir: path.join(dir, 'state'), probeCaps: () => realCaps(which) });
  await d2.define(domainXml('life6', `<emulator>${fake}</emulator>`));
  await assert.rejects(d2.start('life6'), {
    message: 'internal error: process exited while connecting to monitor: fake-qemu: cannot start: -name guest=life6,debug-threads=on',
  });
  const st = await d2.getState('life6');
  assert.deepEqual([st.state, st.reason], ['shutoff', 'failed']);
  assert.equal(existsSync(d2.store.pidPath('life6')), false);
  assert.equal(existsSync(d2.store.runDirFor(st.uuid)), false);
});
