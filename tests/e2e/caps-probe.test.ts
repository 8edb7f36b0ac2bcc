// Probing the installed QEMU for real (TCG; a KVM pass only if /dev/kvm is usable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  capsCacheFile,
  capsToJson,
  checkFailoverSupport,
  defaultMachine,
  expandMachineAlias,
  formatCapsHuman,
  hasFlag,
  probeQemuCaps,
  supportsFailover,
  type QemuAccel,
  type QemuLauncher,
} from '../../src/qemu/caps/index.js';
import { launchProbeProcess } from '../../src/qemu/caps/probe.js';
import { findQemu, qemuSkip, TEST_QEMU } from '../helpers/qemu-env.js';

// The same lookup as every other QEMU test: a name on PATH or an absolute path.
const skip = qemuSkip();
const QEMU = findQemu() ?? TEST_QEMU;

test('probe the real QEMU, then serve it from the cache', { skip, timeout: 90_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vf-caps-e2e-'));
  try {
    const cacheDir = path.join(dir, 'caps');
    const launched: QemuAccel[] = [];
    const launch: QemuLauncher = (binary, accel, o) => {
      launched.push(accel);
      return launchProbeProcess(binary, accel, o);
    };
    const caps = await probeQemuCaps(QEMU, { cacheDir, launch, timeoutMs: 30_000 });
    assert.ok(launched.length >= 1 && launched[0] === 'tcg');
    assert.ok(caps.version >= 4_002_000, `version ${caps.versionString}`);
    assert.equal(caps.arch, 'x86_64');
    assert.equal(caps.source, 'qmp');
    assert.ok(supportsFailover(caps));
    checkFailoverSupport(caps);
    assert.ok(caps.deviceProps.get('virtio-net-pci')?.has('failover'));
    for (const t of ['vfio-pci', 'e1000e']) assert.ok(caps.deviceProps.get(t)?.has('failover_pair_id'), t);
    assert.ok(caps.deviceProps.get('pcie-root-port')?.has('chassis'));
    for (const f of ['tcg', 'virtio-net', 'vfio-pci', 'pcie-root-port']) assert.ok(hasFlag(caps, f), f);
    if (caps.version >= 6_000_000) assert.ok(hasFlag(caps, 'migration.blocked-reasons'));
    const mm = `${Math.floor(caps.version / 1e6)}.${Math.floor((caps.version % 1e6) / 1e3)}`;
    assert.equal(expandMachineAlias(caps, 'tcg', 'q35'), `pc-q35-${mm}`);
    assert.equal(defaultMachine(caps, 'tcg')?.name, `pc-i440fx-${mm}`);
    assert.ok(caps.cpuModels?.some((c) => c.accel === 'tcg' && c.name === 'qemu64'));
    assert.match(formatCapsHuman(caps), /failover: {2}supported/);
    assert.ok(existsSync(capsCacheFile(cacheDir, realpathSync(QEMU))));

    const n = launched.length;
    const again = await probeQemuCaps(QEMU, { cacheDir, launch });
    assert.equal(launched.length, n, 'served from the cache: no QEMU started');
    assert.deepEqual(capsToJson(again), capsToJson(caps));

    // Nothing left behind: no probe directories of ours, no temp files in the cache.
    assert.deepEqual(readdirSync(cacheDir).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probe directory is private and removed afterwards', { skip, timeout: 60_000 }, async () => {
  const session = await launchProbeProcess(QEMU, 'tcg', { timeoutMs: 30_000 });
  const dir = path.dirname(session.socketPath);
  try {
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(session.socketPath).mode & 0o777, 0o600);
    const v = await session.execute<{ qemu: { major: number } }>('query-version');
    assert.ok(v.qemu.major >= 4);
    const kvm = await session.execute<{ enabled: boolean }>('query-kvm');
    assert.equal(kvm.enabled, false, 'the main probe runs under TCG');
  } finally {
    await session.close();
  }
  assert.equal(existsSync(dir), false);
});
