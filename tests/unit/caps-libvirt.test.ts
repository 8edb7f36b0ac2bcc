// Loading libvirt's capabilities cache XML: every caps_*.xml in the conformance corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  QEMU_ACCELS,
  checkFailoverSupport,
  defaultMachine,
  expandMachineAlias,
  findMachine,
  loadLibvirtCaps,
  machinesFor,
  parseLibvirtCaps,
  supportsFailover,
} from '../../src/qemu/caps/index.js';
import { SystemError, XmlError } from '../../src/util/errors.js';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';

const have = corpusAvailable();
const capsDir = path.join(corpusDir, 'qemucaps');
const files = have ? readdirSync(capsDir).filter((f) => /^caps_.*\.xml$/.test(f)).sort() : [];

test('corpus has libvirt caps XML', { skip: !have }, () => {
  assert.deepEqual(files, ['caps_10.0.0_x86_64.xml', 'caps_7.2.0_x86_64.xml']);
});

for (const f of files) {
  const m = /^caps_(\d+)\.(\d+)\.(\d+)_(\w+)\.xml$/.exec(f)!;
  const [major, minor, micro] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const arch = m[4];

  test(`loadLibvirtCaps ${f}`, async () => {
    const file = path.join(capsDir, f);
    const text = readFileSync(file, 'utf8');
    const caps = await loadLibvirtCaps(file);
    assert.equal(caps.source, 'libvirt-xml');
    assert.equal(caps.binary, '/usr/bin/qemu-system-x86_64');
    assert.equal(caps.version, major * 1e6 + minor * 1e3 + micro);
    assert.equal(caps.versionString, `${major}.${minor}.${micro}`);
    assert.equal(caps.package, `v${major}.${minor}.${micro}`);
    assert.equal(caps.arch, arch);
    assert.equal(caps.kvmVersion, undefined);
    assert.equal(caps.deviceProps.size, 0);

    // Every flag, machine and CPU model in the file is kept (counted independently).
    const flagNames = [...text.matchAll(/<flag name='([^']+)'\/>/g)].map((x) => x[1]);
    assert.deepEqual([...caps.flags], flagNames);
    for (const accel of QEMU_ACCELS) {
      const count = [...text.matchAll(new RegExp(`<machine type='${accel}' `, 'g'))].length;
      assert.ok(count > 0);
      assert.equal(machinesFor(caps, accel).length, count, `${accel} machines`);
      const cpus = [...text.matchAll(new RegExp(`<cpu type='${accel}' `, 'g'))].length;
      assert.equal(caps.cpuModels?.filter((c) => c.accel === accel).length, cpus, `${accel} CPU models`);
    }

    // Machine aliases and defaults, per accelerator.
    const mm = `${major}.${minor}`;
    for (const accel of QEMU_ACCELS) {
      assert.equal(defaultMachine(caps, accel)?.name, `pc-i440fx-${mm}`);
      assert.equal(expandMachineAlias(caps, accel, 'q35'), `pc-q35-${mm}`);
      assert.equal(expandMachineAlias(caps, accel, 'pc'), `pc-i440fx-${mm}`);
      const q35 = findMachine(caps, accel, 'q35')!;
      assert.equal(q35.alias, 'q35');
      assert.equal(q35.isDefault, false);
      assert.equal(q35.defaultCPU, 'qemu64-x86_64-cpu');
      assert.equal(q35.defaultRAMid, 'pc.ram');
      assert.equal(q35.hotplugCpus, true);
      assert.ok(q35.maxCpus >= 288);
    }
    const xremote = findMachine(caps, 'tcg', 'x-remote')!;
    assert.equal(xremote.maxCpus, 1);
    assert.equal(xremote.hotplugCpus, undefined);
    assert.equal(xremote.acpi, major >= 10 ? false : undefined);

    // The retired failover flag is not in caps XML; libvirt 11.3 assumes failover.
    assert.ok(!caps.flags.has('virtio-net.failover'));
    assert.ok(caps.flags.has('virtio-net') && caps.flags.has('vfio-pci'));
    assert.equal(supportsFailover(caps), true);
    checkFailoverSupport(caps);
    assert.ok(caps.flags.has('migration.blocked-reasons'));
  });
}

test('CPU models keep usability and blockers', { skip: !have }, async () => {
  const caps = await loadLibvirtCaps(path.join(capsDir, 'caps_7.2.0_x86_64.xml'));
  const phenom = caps.cpuModels!.find((c) => c.accel === 'kvm' && c.name === 'phenom')!;
  assert.deepEqual(phenom, {
    accel: 'kvm',
    name: 'phenom',
    typename: 'phenom-x86_64-cpu',
    usable: false,
    blockers: ['3dnowext', '3dnow'],
  });
});

test('parseLibvirtCaps errors', async () => {
  assert.throws(() => parseLibvirtCaps('<domain/>', 'x.xml'), (e: unknown) => e instanceof XmlError && /expected root element <qemuCaps>/.test(e.message));
  assert.throws(() => parseLibvirtCaps('<qemuCaps><arch>x86_64</arch></qemuCaps>'), /missing <version>/);
  assert.throws(() => parseLibvirtCaps('<qemuCaps><version>7002000</version></qemuCaps>'), /missing <arch>/);
  assert.throws(() => parseLibvirtCaps('<qemuCaps><version>7.2</version><arch>x86_64</arch></qemuCaps>'), /invalid version '7.2'/);
  assert.throws(() => parseLibvirtCaps('<qemuCaps><version>'), XmlError);
  await assert.rejects(loadLibvirtCaps('/nonexistent/caps.xml'), SystemError);
});

test('parseLibvirtCaps: minimal document, kvmVersion, machines without type, unknown accelerators', () => {
  const caps = parseLibvirtCaps(
    `<qemuCaps>
       <version>4002000</version><kvmVersion>0</kvmVersion><arch>x86_64</arch>
       <flag name='virtio-net'/>
       <machine name='pc-i440fx-4.2' alias='pc' maxCpus='255' default='yes'/>
       <machine type='hvf' name='pc-q35-4.2' maxCpus='288'/>
     </qemuCaps>`,
  );
  assert.equal(caps.kvmVersion, 0);
  assert.equal(caps.versionString, '4.2.0');
  assert.equal(caps.binary, '');
  assert.equal(caps.package, undefined);
  assert.deepEqual(caps.machines, [{ accel: 'kvm', name: 'pc-i440fx-4.2', alias: 'pc', isDefault: true, maxCpus: 255 }]);
  assert.equal(caps.cpuModels, undefined);
  assert.equal(supportsFailover(caps), false, 'no vfio-pci flag');
});
