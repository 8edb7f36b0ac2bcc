// The probe logic run against libvirt's recorded QMP exchange with QEMU 7.2
// (caps_7.2.0_x86_64.replies), checked against libvirt's own result (caps_7.2.0_x86_64.xml).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DERIVED_FLAGS,
  QmpSchema,
  ReplayQmpExecutor,
  defaultMachine,
  expandMachineAlias,
  loadLibvirtCaps,
  parseQmpReplies,
  probeWithExecutor,
  splitJsonStream,
  supportsFailover,
  type QemuCaps,
} from '../../src/qemu/caps/index.js';
import { InternalError } from '../../src/util/errors.js';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';

const have = corpusAvailable();
const capsDir = path.join(corpusDir, 'qemucaps');
const repliesText = have ? readFileSync(path.join(capsDir, 'caps_7.2.0_x86_64.replies'), 'utf8') : '';

/** libvirt's order: one process with KVM (everything), then one with TCG (machines, CPUs). */
async function replay(): Promise<{ caps: QemuCaps; exec: ReplayQmpExecutor }> {
  const exec = ReplayQmpExecutor.fromText(repliesText);
  const caps = await probeWithExecutor('/usr/bin/qemu-system-x86_64', exec, [{ accel: 'tcg', exec }]);
  return { caps, exec };
}

test('replies file: commands paired with replies', { skip: !have }, () => {
  const xs = parseQmpReplies(repliesText);
  assert.equal(xs.length, [...repliesText.matchAll(/"execute":/g)].length);
  assert.equal(xs[0]!.cmd, 'qmp_capabilities');
  const dlp = xs.find((x) => x.cmd === 'device-list-properties' && x.args.typename === 'vfio-pci');
  assert.ok(Array.isArray(dlp?.reply.return));
  const failed = xs.find((x) => x.cmd === 'device-list-properties' && x.args.typename === 'virtio-net-ccw');
  assert.equal(typeof failed?.reply.error?.desc, 'string');
});

test('replay: version, machines, failover properties', { skip: !have }, async () => {
  const { caps } = await replay();
  assert.equal(caps.version, 7002000);
  assert.equal(caps.versionString, '7.2.0');
  assert.equal(caps.package, 'v7.2.0');
  assert.equal(caps.arch, 'x86_64');
  assert.equal(caps.source, 'qmp');
  for (const accel of ['kvm', 'tcg'] as const) {
    const q35 = caps.machines.find((m) => m.accel === accel && m.name === 'pc-q35-7.2');
    assert.equal(q35?.alias, 'q35');
    assert.equal(expandMachineAlias(caps, accel, 'q35'), 'pc-q35-7.2');
    assert.equal(defaultMachine(caps, accel)?.name, 'pc-i440fx-7.2');
  }
  assert.ok(caps.deviceProps.get('virtio-net-pci')?.has('failover'));
  assert.ok(caps.deviceProps.get('vfio-pci')?.has('failover_pair_id'));
  assert.ok(caps.deviceProps.get('pcie-root-port')?.has('hotplug'));
  // libvirt did not record e1000e's properties, so the replay cannot answer for it.
  assert.equal(caps.deviceProps.has('e1000e'), false);
  assert.equal(supportsFailover(caps), true);
});

test('replay: every derived flag agrees with libvirt caps XML', { skip: !have }, async () => {
  const { caps } = await replay();
  const xml = await loadLibvirtCaps(path.join(capsDir, 'caps_7.2.0_x86_64.xml'));
  assert.ok(DERIVED_FLAGS.length > 0);
  for (const { flag } of DERIVED_FLAGS) {
    assert.equal(caps.flags.has(flag), xml.flags.has(flag), `flag '${flag}'`);
  }
  // Nothing outside the table is ever set by a probe.
  const table = new Set(DERIVED_FLAGS.map((d) => d.flag));
  for (const f of caps.flags) assert.ok(table.has(f), `unexpected flag '${f}'`);
});

test('replay: machine lists and CPU models equal libvirt caps XML', { skip: !have }, async () => {
  const { caps } = await replay();
  const xml = await loadLibvirtCaps(path.join(capsDir, 'caps_7.2.0_x86_64.xml'));
  assert.deepEqual(caps.machines, xml.machines);
  const key = (c: { accel: string; name: string }): string => `${c.accel}/${c.name}`;
  const sort = <T extends { accel: string; name: string }>(l: T[]): T[] => [...l].sort((a, b) => key(a).localeCompare(key(b)));
  assert.deepEqual(sort(caps.cpuModels ?? []), sort(xml.cpuModels ?? []));
});

test('replay: the probe asks only what it needs', { skip: !have }, async () => {
  const { exec } = await replay();
  const asked = exec.calls.map((c) => (c.cmd === 'device-list-properties' ? `${c.cmd} ${String(c.args.typename)}` : c.cmd));
  assert.deepEqual(asked, [
    'query-version',
    'query-target',
    'query-qmp-schema',
    'query-kvm',
    'qom-list-types',
    'device-list-properties virtio-net-pci',
    'device-list-properties vfio-pci',
    'device-list-properties e1000e',
    'device-list-properties pcie-root-port',
    'query-command-line-options',
    'query-machines',
    'query-cpu-definitions',
    'query-machines',
    'query-cpu-definitions',
  ]);
});

test('ReplayQmpExecutor: recorded errors, unrecorded commands, repeated commands in order', async () => {
  const text = `
{"execute": "a", "id": "1"}
{"return": 1, "id": "1"}
{"execute": "a", "arguments": {"x": 1}, "id": "2"}
{"error": {"class": "GenericError", "desc": "nope"}, "id": "2"}
{"event": "STOP", "timestamp": {"seconds": 0, "microseconds": 0}}
{"execute": "a", "id": "3"}
{"return": 2, "id": "3"}`;
  const r = ReplayQmpExecutor.fromText(text);
  assert.equal(await r.execute('a'), 1);
  assert.equal(await r.execute('a'), 2);
  await assert.rejects(r.execute('a'), (e: unknown) => e instanceof InternalError && /no recorded reply for QEMU command 'a'/.test(e.message));
  await assert.rejects(r.execute('a', { x: 1 }), /unable to execute QEMU command 'a': nope/);
  await assert.rejects(r.execute('b'), /no recorded reply/);
});

test('parseQmpReplies / splitJsonStream reject malformed streams', () => {
  assert.deepEqual(splitJsonStream(' {"a": "}{\\""} \n\n [1, {"b": []}] '), [{ a: '}{"' }, [1, { b: [] }]]);
  assert.throws(() => splitJsonStream('{"a": 1'), /truncated/);
  assert.throws(() => splitJsonStream('x'), /unexpected 'x'/);
  assert.throws(() => splitJsonStream('}'), /unbalanced/);
  assert.throws(() => parseQmpReplies('{"execute": "a"}'), /has no reply/);
  assert.throws(() => parseQmpReplies('{"return": {}}'), /reply without a command/);
  assert.throws(() => parseQmpReplies('{"execute": "a", "id": 1} {"return": {}, "id": 2}'), /does not match/);
  assert.throws(() => parseQmpReplies('{"execute": "a"} {"execute": "b"}'), /has no reply/);
  assert.throws(() => parseQmpReplies('{"foo": 1}'), /neither a command nor a reply/);
});

test('QmpSchema path queries', () => {
  const s = new QmpSchema([
    { name: 'cmd', 'meta-type': 'command', 'arg-type': 'A', 'ret-type': '[R]', features: ['json-cli'] },
    { name: 'EV', 'meta-type': 'event', 'arg-type': 'R' },
    { name: 'A', 'meta-type': 'object', members: [{ name: 'type', type: 'E' }, { name: 'alt', type: 'ALT' }], variants: [{ case: 'x', type: 'X' }] },
    { name: 'E', 'meta-type': 'enum', values: ['x', 'y'] },
    { name: 'X', 'meta-type': 'object', members: [{ name: 'deep', type: 'str' }] },
    { name: 'ALT', 'meta-type': 'alternate', members: [{ type: 'str' }, { type: 'X' }] },
    { name: '[R]', 'meta-type': 'array', 'element-type': 'R' },
    { name: 'R', 'meta-type': 'object', members: [{ name: 'reasons', type: '[str]' }] },
    { name: '[str]', 'meta-type': 'array', 'element-type': 'str' },
    { name: 'str', 'meta-type': 'builtin' },
  ]);
  const yes = ['cmd', 'cmd/$json-cli', 'cmd/arg-type/type/^y', 'cmd/arg-type/+x/deep', 'cmd/ret-type/reasons', 'cmd/arg-type/alt/deep', 'EV/arg-type/reasons'];
  const no = ['nope', 'A', 'cmd/$json-cli-hotplug', 'cmd/arg-type/type/^z', 'cmd/arg-type/+y', 'cmd/arg-type/missing', 'cmd/ret-type/reasons/x', 'cmd/arg-type/^x'];
  for (const p of yes) assert.equal(s.query(p), true, p);
  for (const p of no) assert.equal(s.query(p), false, p);
  assert.equal(s.hasCommand('cmd'), true);
  assert.equal(s.hasCommand('EV'), false);
});
