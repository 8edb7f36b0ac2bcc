// One row per QMP error class: name, code, message, base class (undici's table style).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtFailoverError } from '../../src/util/errors.js';
import {
  isQmpError,
  QMP_ERROR_CLASSES,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from '../../src/qemu/monitor/errors.js';

const rows: { make: () => Error & { code: string }; name: string; code: string; message: string }[] = [
  {
    make: () => new QmpConnectError('monitor socket did not show up', '/run/x.sock'),
    name: 'QmpConnectError',
    code: 'QMP_CONNECT',
    message: 'internal error: monitor socket did not show up',
  },
  {
    make: () => new QmpProtocolError('cannot parse json x: bad'),
    name: 'QmpProtocolError',
    code: 'QMP_PROTOCOL',
    message: 'internal error: cannot parse json x: bad',
  },
  {
    make: () => new QmpCommandError('device_del', 'DeviceNotFound', "Device 'x' not found"),
    name: 'QmpCommandError',
    code: 'QMP_COMMAND',
    message: "internal error: unable to execute QEMU command 'device_del': Device 'x' not found",
  },
  {
    make: () => new QmpTimeoutError("timed out waiting for QEMU event 'STOP' after 5 ms", 5),
    name: 'QmpTimeoutError',
    code: 'QMP_TIMEOUT',
    message: "internal error: timed out waiting for QEMU event 'STOP' after 5 ms",
  },
  {
    make: () => new QmpDisconnectedError(),
    name: 'QmpDisconnectedError',
    code: 'QMP_DISCONNECTED',
    message: 'internal error: QEMU monitor closed unexpectedly',
  },
  {
    make: () => new QmpStateError('disconnecting', 'running'),
    name: 'QmpStateError',
    code: 'QMP_STATE',
    message: "internal error: QEMU monitor is disconnecting (state 'disconnecting', requires 'running')",
  },
];

test('every QMP error class has a row', () => {
  assert.deepEqual(
    rows.map((r) => r.name).sort(),
    QMP_ERROR_CLASSES.map((c) => c.name).sort(),
  );
});

for (const r of rows) {
  test(`error: ${r.name}`, () => {
    const e = r.make();
    assert.ok(e instanceof VirtFailoverError);
    assert.ok(isQmpError(e));
    assert.equal(e.name, r.name);
    assert.equal(e.code, r.code);
    assert.equal(e.message, r.message);
    assert.equal((e as VirtFailoverError).detail, r.message.replace(/^internal error: /, ''));
    assert.match(String(e.stack), new RegExp(`^${r.name}: `));
  });
}

test('error: fields callers branch on', () => {
  const c = new QmpCommandError('migrate', 'GenericError', 'boom');
  assert.deepEqual([c.command, c.qmpClass, c.desc], ['migrate', 'GenericError', 'boom']);
  const s = new QmpStateError('idle', 'running');
  assert.deepEqual([s.current, s.required], ['idle', 'running']);
  assert.equal(new QmpTimeoutError('x', 7).timeoutMs, 7);
  assert.equal(new QmpConnectError('x', '/p').socketPath, '/p');
  const cause = new Error('ECONNRESET');
  assert.equal(new QmpDisconnectedError(undefined, { cause }).cause, cause);
  assert.equal(isQmpError(new Error('x')), false);
});
