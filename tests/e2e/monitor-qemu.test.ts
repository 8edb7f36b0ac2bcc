// Monitor against a real QEMU (TCG, -S, no devices).
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { Monitor, QmpCommandError, QmpDisconnectedError } from '../../src/qemu/monitor/monitor.js';
import { spawnQemu, type SpawnedQemu } from '../helpers/qemu-spawn.js';

const spawned: SpawnedQemu[] = [];
const monitors: Monitor[] = [];
after(async () => {
  await Promise.all(monitors.map((m) => m.close()));
  await Promise.all(spawned.map((q) => q.dispose()));
});

async function start(): Promise<{ qemu: SpawnedQemu; m: Monitor }> {
  const qemu = await spawnQemu();
  spawned.push(qemu);
  const m = await Monitor.connect(qemu.socketPath, { timeoutMs: 20_000 });
  monitors.push(m);
  return { qemu, m };
}

const T = { timeout: 60_000 };

test('connect, query-status, cont/stop with RESUME/STOP events, command error', T, async () => {
  const { qemu, m } = await start();
  assert.equal((await stat(qemu.dir)).mode & 0o777, 0o700);
  assert.equal(m.state, 'running');
  assert.ok(m.greeting.version.qemu.major >= 7, JSON.stringify(m.greeting));
  assert.equal(typeof m.greeting.version.package, 'string');

  const st = await m.execute<{ status: string; running: boolean }>('query-status', undefined, { timeoutMs: 10_000 });
  assert.equal(st.status, 'prelaunch'); // because of -S
  assert.equal(st.running, false);

  const resumed = m.events(['RESUME']);
  await m.execute('cont');
  const r = await resumed.next(10_000);
  assert.equal(r.event, 'RESUME');
  assert.ok(r.timestamp.seconds > 0);
  resumed.close();
  assert.equal((await m.execute<{ status: string }>('query-status')).status, 'running');

  const stopped = m.waitEvent('STOP', { timeoutMs: 10_000 });
  await m.execute('stop');
  assert.equal((await stopped).event, 'STOP');
  assert.equal((await m.execute<{ status: string }>('query-status')).status, 'paused');

  const err = await m.execute('device_del', { id: 'no-such-device' }).catch((e: unknown) => e);
  assert.ok(err instanceof QmpCommandError);
  assert.equal(err.qmpClass, 'DeviceNotFound');
  assert.equal(err.message, "internal error: unable to execute QEMU command 'device_del': Device 'no-such-device' not found");
  assert.equal(m.state, 'running');

  await m.close();
  assert.equal(m.state, 'idle');
  assert.equal(await m.onClose, undefined);
});

test('QEMU killed with SIGKILL mid-command: pending rejected, streams throw, onClose resolves', T, async () => {
  const { qemu, m } = await start();
  const stream = m.events();
  const t0 = performance.now();
  qemu.proc.kill('SIGKILL');
  const pending = m.execute('query-status');
  const err = await pending.catch((e: unknown) => e);
  const elapsed = performance.now() - t0;
  assert.ok(err instanceof QmpDisconnectedError, String(err));
  assert.equal(err.message, 'internal error: QEMU monitor closed unexpectedly');
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  await assert.rejects(stream.next(), QmpDisconnectedError);
  assert.ok((await m.onClose) instanceof QmpDisconnectedError);
  assert.equal(m.state, 'idle');
  assert.equal(await qemu.exited, 'SIGKILL');
});

test('quit: SHUTDOWN event, then the monitor closes and QEMU exits 0', T, async () => {
  const { qemu, m } = await start();
  const shutdown = m.events(['SHUTDOWN']);
  await m.execute('quit');
  const e = await shutdown.next(10_000);
  assert.equal(e.data.reason, 'host-qmp-quit');
  await assert.rejects(shutdown.next(), QmpDisconnectedError); // ends, never silent
  assert.ok((await m.onClose) instanceof QmpDisconnectedError);
  assert.equal(await qemu.exited, 0);
});
