// Failover support checks and the JSON / human output, on hand-made caps (tests/data/caps/*.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  capsFromJson,
  capsToJson,
  checkFailoverSupport,
  defaultMachine,
  expandMachineAlias,
  formatCapsHuman,
  hasFlag,
  supportsFailover,
  type QemuCaps,
} from '../../src/qemu/caps/index.js';
import { ConfigUnsupportedError } from '../../src/util/errors.js';
import { testDataDir } from '../helpers/paths.js';

interface Case {
  description: string;
  caps: unknown;
  failover: boolean;
  error?: string;
}

const dir = path.join(testDataDir, 'caps');
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f.replace(/\.json$/, ''), c: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Case }));

test('hand-made caps cases exist', () => {
  assert.ok(cases.length >= 4);
});

for (const { name, c } of cases) {
  test(`failover support: ${name} (${c.description})`, () => {
    const caps = capsFromJson(c.caps);
    assert.equal(supportsFailover(caps), c.failover);
    if (c.failover) {
      assert.equal(c.error, undefined, 'a supported case has no error');
      checkFailoverSupport(caps);
    } else {
      assert.throws(
        () => checkFailoverSupport(caps),
        (e: unknown) => {
          assert.ok(e instanceof ConfigUnsupportedError);
          assert.equal(e.code, 'CONFIG_UNSUPPORTED');
          assert.equal(e.message, c.error);
          return true;
        },
      );
    }
  });

  test(`JSON round trip: ${name}`, () => {
    const caps = capsFromJson(c.caps);
    const json = capsToJson(caps);
    assert.equal(json.failover, c.failover);
    const again = capsFromJson(JSON.parse(JSON.stringify(json)));
    assert.deepEqual(capsToJson(again), json);
    assert.deepEqual(again.flags, caps.flags);
    assert.deepEqual(again.deviceProps, caps.deviceProps);
  });
}

function tiny(): QemuCaps {
  return capsFromJson(cases.find((x) => x.name === 'qemu-4.1-no-failover')!.c.caps);
}

test('machine helpers on a hand-made caps object', () => {
  const caps = tiny();
  assert.equal(expandMachineAlias(caps, 'tcg', 'q35'), 'pc-q35-4.1');
  assert.equal(expandMachineAlias(caps, 'tcg', 'pc'), 'pc-i440fx-4.1');
  assert.equal(expandMachineAlias(caps, 'tcg', 'pc-q35-4.1'), 'pc-q35-4.1');
  assert.equal(expandMachineAlias(caps, 'tcg', 'nosuch'), 'nosuch');
  assert.equal(expandMachineAlias(caps, 'kvm', 'q35'), 'q35', 'no KVM machines: unchanged');
  assert.equal(defaultMachine(caps, 'tcg')?.name, 'pc-i440fx-4.1');
  assert.equal(defaultMachine(caps, 'kvm'), undefined);
  assert.ok(hasFlag(caps, 'virtio-net'));
  assert.ok(!hasFlag(caps, 'migration.blocked-reasons'));
});

test('capsToJson sorts flags and properties and derives the default machines', () => {
  const json = capsToJson(tiny());
  assert.deepEqual(json.flags, [...json.flags].sort());
  assert.deepEqual(json.deviceProps['vfio-pci'], ['addr', 'bus', 'host', 'rombar']);
  assert.deepEqual(json.defaultMachine, { tcg: 'pc-i440fx-4.1' });
  assert.equal(json.versionString, '4.1.0');
});

test('formatCapsHuman: short summary', () => {
  const text = formatCapsHuman(tiny());
  assert.equal(
    text,
    [
      'binary:    /opt/qemu-4.1/bin/qemu-system-x86_64',
      'version:   4.1.0',
      'arch:      x86_64',
      'failover:  NOT supported (virtio-net failover needs QEMU 4.2 or newer)',
      'accels:    tcg',
      'machines (tcg): 2, default pc-i440fx-4.1',
      '  aliases: pc -> pc-i440fx-4.1, q35 -> pc-q35-4.1',
      '',
    ].join('\n'),
  );
});

test('capsFromJson rejects malformed input', () => {
  for (const bad of [null, 42, {}, { binary: 'x', version: 1, arch: 'x86_64', flags: [], machines: [] }]) {
    assert.throws(() => capsFromJson(bad), /malformed QEMU capabilities JSON/);
  }
});
