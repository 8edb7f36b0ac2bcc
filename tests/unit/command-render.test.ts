// The three text forms of a command (libvirt's .args layout, one argument per line,
// one shell line) and the property encodings (JSON, QEMU key=value).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderArgsFile, renderArgvLines, renderShellLine, shellQuote } from '../../src/qemu/command/render.js';
import { escapeComma, propsToJson, propsToKeyval } from '../../src/qemu/command/props.js';

const quoting: [string, string][] = [
  ['plain', 'plain'],
  ['', "''"],
  ['a b', "'a b'"],
  ['{"driver":"x"}', `'{"driver":"x"}'`],
  ["it's", "'it'\\''s'"],
  ['guest=a,,b', 'guest=a,,b'],
  ['/path/with-dash_and.dot:colon=eq', '/path/with-dash_and.dot:colon=eq'],
  ['tab\there', "'tab\there'"],
];

for (const [raw, quoted] of quoting) {
  test(`shellQuote(${JSON.stringify(raw)})`, () => assert.equal(shellQuote(raw), quoted));
}

test('renderArgsFile keeps each option with its value and quotes JSON', () => {
  const out = renderArgsFile({
    env: [['LC_ALL', 'C'], ['HOME', '/var/lib/x y']],
    binary: '/usr/bin/qemu-system-x86_64',
    args: ['-name', 'guest=g,debug-threads=on', '-S', '-device', '{"driver":"e1000"}'],
  });
  assert.equal(out, [
    'LC_ALL=C \\',
    "HOME='/var/lib/x y' \\",
    '/usr/bin/qemu-system-x86_64 \\',
    '-name guest=g,debug-threads=on \\',
    '-S \\',
    `-device '{"driver":"e1000"}'`,
    '',
  ].join('\n'));
});

test('renderArgsFile: a second value stays on its line only when an option follows somewhere', () => {
  // virCommandToStringBuf: "-a x y -b" keeps x and y beside -a; trailing values after the last option break.
  assert.equal(renderArgsFile({ env: [], binary: 'q', args: ['-a', 'x', 'y', '-b'] }), 'q \\\n-a x y \\\n-b\n');
  assert.equal(renderArgsFile({ env: [], binary: 'q', args: ['-a', 'x', 'y'] }), 'q \\\n-a x \\\ny\n');
  assert.equal(renderArgsFile({ env: [], binary: 'q', args: ['value'] }), 'q \\\nvalue\n');
});

test('renderArgvLines and renderShellLine', () => {
  const cmd = { env: [['A', 'b c']] as [string, string][], binary: '/bin/q', args: ['-x', "it's"] };
  assert.equal(renderArgvLines(cmd), "A=b c\n/bin/q\n-x\nit's\n");
  assert.equal(renderShellLine(cmd), "A='b c' /bin/q -x 'it'\\''s'\n");
});

test('props: JSON keeps insertion order and drops unset values', () => {
  assert.equal(propsToJson({ driver: 'vfio-pci', host: '0000:03:07.1', bootindex: undefined, ramfb: true }),
    '{"driver":"vfio-pci","host":"0000:03:07.1","ramfb":true}');
});

test('props: key=value form', () => {
  assert.equal(escapeComma('a,b'), 'a,,b');
  assert.equal(propsToKeyval({ driver: 'virtio-net-pci', failover: true, netdev: 'hostnet0', mac: '52:54:00:00:00:01', x: undefined }, 'driver'),
    'virtio-net-pci,failover=on,netdev=hostnet0,mac=52:54:00:00:00:01');
  assert.equal(propsToKeyval({ type: 'stream', addr: { type: 'unix', path: '/a,b' }, server: false, id: 'n' }, 'type'),
    'stream,addr.type=unix,addr.path=/a,,b,server=off,id=n');
});
