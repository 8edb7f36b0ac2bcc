// Monitor against a scripted fake QMP server on a unix socket in a temp dir.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  Monitor,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from '../../src/qemu/monitor/monitor.js';

import { FakeConn, GREETING, ev, withFake as withFakeIn, type Json } from '../helpers/qmp-fake.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-qmp-fake-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const withFake = (script: (c: FakeConn) => Promise<void>, client: (socketPath: string) => Promise<void>) => withFakeIn(dir, script, client);

test('greeting, capabilities, execute with typed arguments, clean close', async () => {
  let conn!: FakeConn;
  await withFake(
    async (c) => {
      conn = c;
      await c.handshake();
      const q = await c.recv();
      c.send({ return: { status: 'prelaunch', running: false }, id: q.id });
      const d = await c.recv();
      c.send({ return: {}, id: d.id });
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      assert.equal(m.state, 'running');
      assert.deepEqual(m.greeting.version, GREETING.QMP.version);
      assert.deepEqual(m.greeting.capabilities, ['oob']);
      const st = await m.execute<{ status: string }>('query-status');
      assert.equal(st.status, 'prelaunch');
      await m.execute('device_add', { driver: 'virtio-net-pci', id: 'n0', addr: 1, failover: true });
      await m.close();
      assert.equal(m.state, 'idle');
      assert.equal(await m.onClose, undefined);
      await m.close(); // idempotent
    },
  );
  assert.deepEqual(conn.received, [
    { execute: 'qmp_capabilities', id: 'vf-1' },
    { execute: 'query-status', id: 'vf-2' },
    { execute: 'device_add', arguments: { driver: 'virtio-net-pci', id: 'n0', addr: 1, failover: true }, id: 'vf-3' },
  ]);
});

test('command error -> QmpCommandError with class and desc', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      const q = await c.recv();
      c.send({ id: q.id, error: { class: 'DeviceNotFound', desc: "Device 'nope' not found" } });
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const err = await m.execute('device_del', { id: 'nope' }).catch((e: unknown) => e);
      assert.ok(err instanceof QmpCommandError);
      assert.equal(err.code, 'QMP_COMMAND');
      assert.equal(err.qmpClass, 'DeviceNotFound');
      assert.equal(err.desc, "Device 'nope' not found");
      assert.equal(err.command, 'device_del');
      assert.equal(err.message, "internal error: unable to execute QEMU command 'device_del': Device 'nope' not found");
      assert.equal(m.state, 'running'); // a command error does not end the session
      await m.close();
    },
  );
});

test('events: delivery to every stream, name and predicate filters, timestamps', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.recv(); // 'go'
      c.send(ev('RESUME'));
      c.send(ev('MIGRATION', { status: 'setup' }));
      c.send(ev('MIGRATION', { status: 'active' }));
      c.send(ev('STOP'));
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const all = m.events();
      const mig = m.events(['MIGRATION']);
      const active = m.events(['MIGRATION'], (e) => e.data.status === 'active');
      const two = m.events(['STOP', 'RESUME']);
      void m.execute('go').catch(() => undefined);
      const names = [];
      for (let i = 0; i < 4; i++) names.push((await all.next(2000)).event);
      assert.deepEqual(names, ['RESUME', 'MIGRATION', 'MIGRATION', 'STOP']);
      assert.deepEqual((await mig.next(2000)).data, { status: 'setup' });
      assert.deepEqual((await mig.next(2000)).data, { status: 'active' });
      const a = await active.next(2000);
      assert.deepEqual(a.data, { status: 'active' });
      assert.deepEqual(a.timestamp, { seconds: 1700000000, microseconds: 42 });
      assert.equal(typeof a.receivedAt, 'number');
      assert.equal(active.pending, 0);
      assert.deepEqual([(await two.next(2000)).event, (await two.next(2000)).event], ['RESUME', 'STOP']);
      await assert.rejects(active.next(20), QmpTimeoutError); // a timeout leaves the stream open
      assert.equal(active.ended, false);
      await m.close();
    },
  );
});

test('events() subscribed before the command sees an event sent before the reply', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      for (let i = 0; i < 2; i++) {
        const q = await c.recv();
        c.send(ev('STOP')); // QEMU emits STOP before it answers 'stop'
        c.send({ return: {}, id: q.id });
      }
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const s = m.events(['STOP']);
      await m.execute('stop');
      assert.equal((await s.next(2000)).event, 'STOP');
      s.close();
      const w = m.waitEvent('STOP', { timeoutMs: 2000 });
      await m.execute('stop');
      assert.equal((await w).event, 'STOP');
      await m.close();
    },
  );
});

test('for await ends quietly on close() and on abort', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.recv();
      c.send(ev('A'));
      c.send(ev('B'));
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const ctl = new AbortController();
      const byClose = m.events(['A', 'B']);
      const byAbort = m.events(['A', 'B'], undefined, { signal: ctl.signal });
      void m.execute('go').catch(() => undefined);
      const seen: string[] = [];
      for await (const e of byClose) {
        seen.push(e.event);
        if (e.event === 'B') byClose.close();
      }
      for await (const e of byAbort) {
        seen.push(e.event);
        if (e.event === 'B') ctl.abort();
      }
      assert.deepEqual(seen, ['A', 'B', 'A', 'B']);
      await assert.rejects(byAbort.next(), { name: 'AbortError' });
      await m.close();
    },
  );
});

test('garbage line -> QmpProtocolError; pending commands and streams get it; back to idle', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.recv();
      c.raw('{"return": {}, "id": "vf-2"}\r\nthis is not json\r\n');
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const s = m.events();
      const first = m.execute('a');
      const second = m.execute('b');
      assert.deepEqual(await first, {}); // the good line before the garbage still counts
      const err = await second.catch((e: unknown) => e);
      assert.ok(err instanceof QmpProtocolError);
      assert.equal(err.code, 'QMP_PROTOCOL');
      assert.match(err.message, /^internal error: cannot parse json this is not json: /);
      await assert.rejects(s.next(), QmpProtocolError);
      assert.equal(await m.onClose, err);
      assert.equal(m.state, 'idle');
    },
  );
});

test('line over 16 MiB -> QmpProtocolError, pending rejected', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.recv();
      c.raw(Buffer.alloc(16 * 1024 * 1024 + 1024, 0x61)); // no newline at all
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      await assert.rejects(m.execute('query-status'), {
        name: 'QmpProtocolError',
        message: 'internal error: QEMU monitor reply exceeds buffer size (16777216 bytes)',
      });
      assert.ok((await m.onClose) instanceof QmpProtocolError);
    },
  );
});

test('EOF mid-command -> QmpDisconnectedError; streams drain, then throw; onClose resolves', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.recv();
      c.send(ev('SHUTDOWN'));
      c.sock.end();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const s = m.events();
      const err = await m.execute('query-status').catch((e: unknown) => e);
      assert.ok(err instanceof QmpDisconnectedError);
      assert.equal(err.code, 'QMP_DISCONNECTED');
      assert.equal(err.message, 'internal error: QEMU monitor closed unexpectedly');
      const seen: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const e of s) seen.push(e.event);
        })(),
        QmpDisconnectedError,
      );
      assert.deepEqual(seen, ['SHUTDOWN']);
      assert.ok((await m.onClose) instanceof QmpDisconnectedError);
      assert.equal(m.state, 'idle');
    },
  );
});

test('per-command timeout and abort; late replies are dropped', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      const slow = await c.recv();
      const aborted = await c.recv();
      const q = await c.recv();
      c.send({ return: 'late', id: slow.id });
      c.send({ return: 'late', id: aborted.id });
      c.send({ return: 'ok', id: q.id });
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const err = await m.execute('slow', undefined, { timeoutMs: 30 }).catch((e: unknown) => e);
      assert.ok(err instanceof QmpTimeoutError);
      assert.equal(err.code, 'QMP_TIMEOUT');
      assert.equal(err.message, "internal error: timed out waiting for reply to QEMU command 'slow' after 30 ms");
      const ctl = new AbortController();
      const p = m.execute('aborted', undefined, { signal: ctl.signal });
      ctl.abort(new Error('caller gave up'));
      await assert.rejects(p, { message: 'caller gave up' });
      assert.equal(await m.execute('query-status'), 'ok');
      assert.equal(m.state, 'running');
      await m.close();
    },
  );
});

test('state errors after close', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const s = m.events();
      await m.close();
      await assert.rejects(s.next(), { name: 'QmpDisconnectedError', message: 'internal error: QEMU monitor was closed' });
      const err = await m.execute('query-status').catch((e: unknown) => e);
      assert.ok(err instanceof QmpStateError);
      assert.equal(err.code, 'QMP_STATE');
      assert.equal(err.current, 'idle');
      assert.equal(err.required, 'running');
      assert.equal(err.message, "internal error: QEMU monitor is not connected (state 'idle', requires 'running')");
      assert.throws(() => m.events(['STOP']), QmpStateError);
      await assert.rejects(m.waitEvent('STOP', { timeoutMs: 10 }), QmpStateError);
    },
  );
});

test('close() rejects pending commands with QmpDisconnectedError', async () => {
  await withFake(
    async (c) => {
      await c.handshake();
      await c.recv();
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath);
      const p = m.execute('query-status');
      const closing = m.close();
      assert.equal(m.state, 'disconnecting');
      await assert.rejects(p, QmpDisconnectedError);
      await closing;
      assert.equal(m.state, 'idle');
    },
  );
});

test('framing: byte-by-byte greeting, split UTF-8, several replies per chunk, out-of-order (OOB) ids', async () => {
  await withFake(
    async (c) => {
      const greet = Buffer.from(`${JSON.stringify(GREETING)}\r\n`);
      for (const b of greet) c.raw(Buffer.from([b]));
      const caps = await c.recv();
      assert.deepEqual(caps.arguments, { enable: ['oob'] });
      c.send({ return: {}, id: caps.id });
      const a = await c.recv();
      const b = await c.recv();
      assert.equal(b['exec-oob'], 'b');
      const text = Buffer.from(`{"return": "h\u00e9llo \u2603", "id": "${a.id}"}\r\n`);
      const cut = text.indexOf(0xe2) + 1; // inside the snowman's 3-byte sequence
      c.raw(Buffer.concat([Buffer.from(`{"return": 2, "id": "${b.id}"}\r\n`), text.subarray(0, cut)]));
      c.raw(Buffer.concat([text.subarray(cut), Buffer.from(`${JSON.stringify(ev('X'))}\r\n${JSON.stringify(ev('Y'))}\r\n`)]));
      await c.closed();
    },
    async (socketPath) => {
      const m = await Monitor.connect(socketPath, { capabilities: ['oob'] });
      assert.deepEqual(m.capabilities, ['oob']);
      const s = m.events();
      const order: string[] = [];
      const a = m.execute('a').then((v) => (order.push('a'), v));
      const b = m.execute('b', undefined, { oob: true }).then((v) => (order.push('b'), v));
      assert.deepEqual(await Promise.all([a, b]), ['h\u00e9llo \u2603', 2]);
      assert.deepEqual(order, ['b', 'a']);
      assert.deepEqual([(await s.next(1000)).event, (await s.next(1000)).event], ['X', 'Y']);
      await m.close();
    },
  );
});

// --- connect failures, one row each: what the server does -> what connect() rejects with ---
interface ConnectCase {
  name: string;
  script: (c: FakeConn) => Promise<void>;
  opts?: { timeoutMs?: number; abortOnAccept?: boolean };
  expect: { name: string; code?: string; message?: RegExp | string };
}
const connectCases: ConnectCase[] = [
  {
    name: 'EOF before the greeting',
    script: async (c) => void c.sock.end(),
    expect: { name: 'QmpConnectError', code: 'QMP_CONNECT', message: 'internal error: QEMU monitor closed before the QMP handshake finished' },
  },
  {
    name: 'EOF after the greeting, before the capabilities reply',
    script: async (c) => {
      c.send(GREETING);
      await c.recv();
      c.sock.end();
    },
    expect: { name: 'QmpConnectError', code: 'QMP_CONNECT' },
  },
  {
    name: 'greeting is not QMP',
    script: async (c) => {
      c.send({ hello: 'world' });
      await c.closed();
    },
    expect: { name: 'QmpProtocolError', code: 'QMP_PROTOCOL', message: /^internal error: unexpected QMP greeting '\{"hello":"world"\}'$/ },
  },
  {
    name: 'greeting is garbage',
    script: async (c) => {
      c.raw('SSH-2.0-OpenSSH_9.2\r\n');
      await c.closed();
    },
    expect: { name: 'QmpProtocolError', message: /^internal error: cannot parse json SSH-2\.0-OpenSSH_9\.2: / },
  },
  {
    name: 'qmp_capabilities refused',
    script: async (c) => {
      c.send(GREETING);
      const q = await c.recv();
      c.send({ id: q.id, error: { class: 'GenericError', desc: 'Capabilities negotiation is already complete' } });
      await c.closed();
    },
    expect: {
      name: 'QmpProtocolError',
      message: 'internal error: QMP capabilities negotiation failed: Capabilities negotiation is already complete',
    },
  },
  {
    name: 'no greeting within the deadline',
    script: (c) => c.closed(),
    opts: { timeoutMs: 50 },
    expect: { name: 'QmpTimeoutError', code: 'QMP_TIMEOUT', message: /^internal error: timed out connecting to QEMU monitor '.*' after 50 ms$/ },
  },
  {
    name: 'aborted while waiting for the greeting',
    script: (c) => c.closed(),
    opts: { abortOnAccept: true },
    expect: { name: 'AbortError' },
  },
];

for (const tc of connectCases) {
  test(`connect: ${tc.name}`, async () => {
    const ctl = new AbortController();
    const script = async (c: FakeConn): Promise<void> => {
      if (tc.opts?.abortOnAccept) ctl.abort();
      await tc.script(c);
    };
    await withFake(script, async (socketPath) => {
      const p = Monitor.connect(socketPath, { timeoutMs: tc.opts?.timeoutMs ?? 5000, signal: ctl.signal });
      const err = await p.catch((e: unknown) => e);
      const expected: Json = { name: tc.expect.name };
      if (tc.expect.code) expected.code = tc.expect.code;
      if (tc.expect.message) expected.message = tc.expect.message;
      await assert.rejects(Promise.reject(err), expected);
    });
  });
}

test('connect: no socket -> QmpConnectError naming the path', async () => {
  const socketPath = path.join(dir, 'missing.sock');
  const err = await Monitor.connect(socketPath).catch((e: unknown) => e);
  assert.ok(err instanceof QmpConnectError);
  assert.equal(err.socketPath, socketPath);
  assert.match(err.message, /^internal error: failed to connect to monitor socket '.*missing\.sock': .*ENOENT/);
});

/** A socket file nobody listens on (its owner was SIGKILLed): connect gets ECONNREFUSED. */
async function staleSocket(name: string): Promise<string> {
  const p = path.join(dir, name);
  const code = `require('node:net').createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, 'SIGKILL'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return p;
}

test('connect: refused (bound, not listening yet) is retried until the server listens', async () => {
  const p = await staleSocket('late.sock');
  let attempts = 0;
  const connecting = Monitor.connect(p, { retryRefused: { intervalMs: 5, forMs: 5000 } });
  // The first connect() ran synchronously inside Monitor.connect and was refused by the
  // kernel; now listen for real at the same path and let a retry find it.
  const server = net.createServer((sock) => {
    attempts++;
    const c = new FakeConn(sock);
    void c.handshake().then(() => c.closed());
  });
  await unlink(p);
  await new Promise<void>((r) => server.listen(p, r));
  try {
    const m = await connecting;
    assert.equal(m.state, 'running');
    assert.equal(attempts, 1);
    await m.close();
  } finally {
    await new Promise((r) => server.close(r));
  }
});

for (const retryRefused of [false, { intervalMs: 5, forMs: 30 }] as const) {
  test(`connect: refused with retryRefused=${JSON.stringify(retryRefused)} -> QmpConnectError`, async () => {
    const p = await staleSocket(`refused-${retryRefused ? 'r' : 'n'}.sock`);
    const err = await Monitor.connect(p, { retryRefused }).catch((e: unknown) => e);
    assert.ok(err instanceof QmpConnectError);
    assert.match(err.message, /ECONNREFUSED/);
  });
}
