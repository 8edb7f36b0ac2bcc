// waitForSocket: resolves when the socket appears (already there or later), fails at the deadline.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { waitForSocket } from '../../src/qemu/monitor/socket.js';

let dir: string;
const servers: net.Server[] = [];
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-qmp-sock-'));
});
after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

function listen(p: string): Promise<void> {
  const s = net.createServer();
  servers.push(s);
  return new Promise((r) => s.listen(p, r));
}

test('socket already there', async () => {
  const p = path.join(dir, 'a.sock');
  await listen(p);
  await waitForSocket(p, { timeoutMs: 5000 });
});

test('socket shows up after the wait started', async () => {
  const p = path.join(dir, 'b.sock');
  const waiting = waitForSocket(p, { timeoutMs: 5000 });
  await writeFile(path.join(dir, 'unrelated'), '');
  await listen(p);
  await waiting;
});

test('a regular file with that name is not a socket; the deadline passes', async () => {
  const p = path.join(dir, 'c.sock');
  await writeFile(p, '');
  await assert.rejects(waitForSocket(p, { timeoutMs: 30 }), {
    name: 'QmpConnectError',
    code: 'QMP_CONNECT',
    message: 'internal error: monitor socket did not show up',
    socketPath: p,
  });
});

test('abort (e.g. QEMU exited) ends the wait with the reason', async () => {
  const ctl = new AbortController();
  const waiting = waitForSocket(path.join(dir, 'd.sock'), { timeoutMs: 5000, signal: ctl.signal });
  ctl.abort(new Error('QEMU exited'));
  await assert.rejects(waiting, { message: 'QEMU exited' });
});
