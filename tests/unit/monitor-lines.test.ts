// QMP line framing, one row per way QEMU's output can be cut into chunks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, QMP_MAX_LINE_BYTES } from '../../src/qemu/monitor/lines.js';
import { QmpProtocolError } from '../../src/qemu/monitor/errors.js';

const snowman = Buffer.from('\u2603'); // 3 bytes
const cases: { name: string; chunks: (string | Buffer)[]; lines: string[]; buffered?: number; max?: number }[] = [
  { name: 'one line', chunks: ['{"a":1}\r\n'], lines: ['{"a":1}'] },
  { name: 'several lines in one chunk', chunks: ['1\r\n2\r\n3\r\n'], lines: ['1', '2', '3'] },
  { name: 'line split over chunks', chunks: ['{"a"', ':1', '}\r\n'], lines: ['{"a":1}'] },
  { name: 'split between \\r and \\n', chunks: ['x\r', '\ny\r\n'], lines: ['x', 'y'] },
  { name: 'bare \\n ends a line too', chunks: ['x\ny\n'], lines: ['x', 'y'] },
  { name: 'empty line', chunks: ['\r\n'], lines: [''] },
  { name: 'tail kept for later', chunks: ['a\r\nbc'], lines: ['a'], buffered: 2 },
  {
    name: 'UTF-8 sequence split across chunks',
    chunks: [Buffer.concat([Buffer.from('"'), snowman.subarray(0, 1)]), Buffer.concat([snowman.subarray(1), Buffer.from('"\r\n')])],
    lines: ['"\u2603"'],
  },
  { name: 'line at exactly the limit', chunks: ['abcd', '\r\n'], lines: [], max: 4 }, // "abcd\r" is 5 bytes
  { name: 'line under the limit', chunks: ['abc', '\r\n'], lines: ['abc'], max: 4 },
];

for (const tc of cases) {
  test(`lines: ${tc.name}`, () => {
    const s = new LineSplitter(tc.max);
    const got: string[] = [];
    let error: unknown;
    try {
      for (const c of tc.chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c, (l) => got.push(l));
    } catch (e) {
      error = e;
    }
    assert.deepEqual(got, tc.lines);
    if (tc.max !== undefined && tc.lines.length === 0) assert.ok(error instanceof QmpProtocolError);
    else assert.equal(error, undefined);
    assert.equal(s.buffered, tc.buffered ?? 0);
  });
}

test('lines: overflow is reported after the good lines of the same chunk', () => {
  const s = new LineSplitter(8);
  const got: string[] = [];
  assert.throws(() => s.push(Buffer.from('ok\r\n0123456789'), (l) => got.push(l)), {
    name: 'QmpProtocolError',
    code: 'QMP_PROTOCOL',
    message: 'internal error: QEMU monitor reply exceeds buffer size (8 bytes)',
  });
  assert.deepEqual(got, ['ok']);
});

test('lines: the default limit is 16 MiB', () => {
  assert.equal(QMP_MAX_LINE_BYTES, 16 * 1024 * 1024);
  assert.equal(new LineSplitter().maxLineBytes, QMP_MAX_LINE_BYTES);
});
