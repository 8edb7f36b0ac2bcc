// The probe cache: keyed by realpath + size + mtime (+ format, accelerators, KVM access),
// written atomically, and a hit never starts QEMU (checked with a counting fake launcher).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CAPS_CACHE_FORMAT,
  capsCacheFile,
  launchProbeProcess,
  defaultCapsCacheDir,
  probeQemuCaps,
  type QemuAccel,
  type QemuLauncher,
  type QmpSession,
} from '../../src/qemu/caps/index.js';
import { InternalError, SystemError } from '../../src/util/errors.js';

/** A QEMU that answers the probe's questions with a tiny fixed model. */
function fakeSession(accel: QemuAccel, opts: { major?: number } = {}): QmpSession {
  const major = opts.major ?? 7;
  const answers: Record<string, (args?: Record<string, unknown>) => unknown> = {
    'query-version': () => ({ qemu: { major, minor: 2, micro: 9 }, package: ' fake-1 ' }),
    'query-target': () => ({ arch: 'x86_64' }),
    'query-qmp-schema': () => [
      { name: 'query-migrate', 'meta-type': 'command', 'arg-type': '0', 'ret-type': 'MI' },
      { name: 'MI', 'meta-type': 'object', members: [{ name: 'blocked-reasons', type: '[str]' }] },
      { name: '[str]', 'meta-type': 'array', 'element-type': 'str' },
      { name: 'str', 'meta-type': 'builtin' },
    ],
    'query-kvm': () => ({ enabled: accel === 'kvm', present: true }),
    'query-command-line-options': () => [{ option: 'sandbox', parameters: [{ name: 'enable' }] }],
    'qom-list-types': () => ['tcg-accel', 'virtio-net-pci', 'vfio-pci', 'e1000e'].map((name) => ({ name })),
    'device-list-properties': (args) => {
      if (args?.typename === 'virtio-net-pci') return [{ name: 'failover' }, { name: 'failover_pair_id' }];
      if (args?.typename === 'vfio-pci') return [{ name: 'host' }, { name: 'failover_pair_id' }];
      throw new InternalError(`unable to execute QEMU command 'device-list-properties': nope`);
    },
    'query-machines': () => [
      { name: 'none', 'cpu-max': 1 },
      { name: `pc-q35-${major}.2`, alias: 'q35', 'cpu-max': 288, 'hotpluggable-cpus': true },
      { name: `pc-i440fx-${major}.2`, alias: 'pc', 'is-default': true, 'cpu-max': 255, acpi: true },
    ],
  };
  return {
    execute: async <T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T> => {
      const a = answers[cmd];
      if (!a) throw new InternalError(`unable to execute QEMU command '${cmd}': The command ${cmd} has not been found`);
      return a(args) as T;
    },
    close: async () => undefined,
  };
}

function counting(make: (accel: QemuAccel) => QmpSession = fakeSession): { launch: QemuLauncher; calls: QemuAccel[]; closed: number } {
  const state = { calls: [] as QemuAccel[], closed: 0, launch: undefined as unknown as QemuLauncher };
  state.launch = async (_binary, accel) => {
    state.calls.push(accel);
    const s = make(accel);
    return { execute: s.execute.bind(s), close: async () => { state.closed++; await s.close(); } };
  };
  return state;
}

function setup(): { dir: string; bin: string; cacheDir: string; done: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vf-caps-test-'));
  const bin = path.join(dir, 'qemu-system-x86_64');
  writeFileSync(bin, '#!/bin/false\n', { mode: 0o755 });
  return { dir, bin, cacheDir: path.join(dir, 'cache', 'caps'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('second call is served from the cache without starting QEMU', async () => {
  const t = setup();
  try {
    const f = counting();
    const a = await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] });
    assert.deepEqual(f.calls, ['tcg']);
    assert.equal(f.closed, 1);
    assert.equal(a.version, 7002009);
    assert.equal(a.package, 'fake-1');
    assert.deepEqual([...a.flags].sort(), ['migration.blocked-reasons', 'seccomp-sandbox', 'tcg', 'vfio-pci', 'virtio-net']);
    assert.deepEqual(a.machines.map((m) => m.name), ['pc-i440fx-7.2', 'pc-q35-7.2'], "default first, 'none' left out");
    assert.equal(a.deviceProps.has('e1000e'), false, 'a failing device-list-properties is left out');

    const b = await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] });
    assert.deepEqual(f.calls, ['tcg'], 'no second launch');
    assert.deepEqual(b, a);
  } finally {
    t.done();
  }
});

test('cache file: location, modes, content, no temp files left', async () => {
  const t = setup();
  try {
    const f = counting();
    await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] });
    const file = capsCacheFile(t.cacheDir, t.bin);
    assert.match(path.basename(file), /^qemu-system-x86_64-[0-9a-f]{16}\.json$/);
    assert.deepEqual(readdirSync(t.cacheDir), [path.basename(file)]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(t.cacheDir).mode & 0o777, 0o700);
    const entry = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(entry.format, CAPS_CACHE_FORMAT);
    assert.deepEqual(entry.key, {
      binary: t.bin,
      size: statSync(t.bin).size,
      mtimeNs: statSync(t.bin, { bigint: true }).mtimeNs.toString(),
      accels: ['tcg'],
      kvmAccessible: false,
    });
    assert.equal(entry.caps.version, 7002009);
    assert.equal(entry.caps.failover, true);
  } finally {
    t.done();
  }
});

test('a changed binary (mtime or size), another format, or refresh: probe again', async () => {
  const t = setup();
  try {
    const f = counting();
    const opts = { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] as QemuAccel[] };
    await probeQemuCaps(t.bin, opts);
    utimesSync(t.bin, new Date(2001, 1, 1), new Date(2001, 1, 1));
    await probeQemuCaps(t.bin, opts);
    assert.equal(f.calls.length, 2, 'mtime');
    writeFileSync(t.bin, '#!/bin/false\n# bigger\n');
    utimesSync(t.bin, new Date(2001, 1, 1), new Date(2001, 1, 1));
    await probeQemuCaps(t.bin, opts);
    assert.equal(f.calls.length, 3, 'size');
    await probeQemuCaps(t.bin, opts);
    assert.equal(f.calls.length, 3, 'unchanged: cached');

    const file = capsCacheFile(t.cacheDir, t.bin);
    const entry = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...entry, format: CAPS_CACHE_FORMAT + 1 }));
    await probeQemuCaps(t.bin, opts);
    assert.equal(f.calls.length, 4, 'format');

    writeFileSync(file, '{ not json');
    await probeQemuCaps(t.bin, opts);
    assert.equal(f.calls.length, 5, 'damaged entry');

    await probeQemuCaps(t.bin, { ...opts, refresh: true });
    assert.equal(f.calls.length, 6, 'refresh');
    await probeQemuCaps(t.bin, { ...opts, accels: ['tcg', 'kvm'], kvmDevice: path.join(t.dir, 'no-kvm') });
    assert.equal(f.calls.length, 7, 'other accelerator list');
  } finally {
    t.done();
  }
});

test('cache is keyed by realpath; the returned binary is the path asked for', async () => {
  const t = setup();
  try {
    const f = counting();
    const link = path.join(t.dir, 'qemu-link');
    symlinkSync(t.bin, link);
    const a = await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] });
    const b = await probeQemuCaps(link, { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] });
    assert.equal(f.calls.length, 1);
    assert.equal(a.binary, t.bin);
    assert.equal(b.binary, link);
  } finally {
    t.done();
  }
});

test('KVM: a second process when the KVM device is usable; KVM failures are not fatal', async () => {
  const t = setup();
  try {
    const kvmDevice = path.join(t.dir, 'kvm');
    writeFileSync(kvmDevice, '');
    const f = counting();
    const caps = await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: f.launch, kvmDevice });
    assert.deepEqual(f.calls, ['tcg', 'kvm']);
    assert.equal(f.closed, 2);
    assert.ok(caps.flags.has('kvm'));
    assert.deepEqual(caps.machines.map((m) => `${m.accel}/${m.name}`), [
      'tcg/pc-i440fx-7.2', 'tcg/pc-q35-7.2', 'kvm/pc-i440fx-7.2', 'kvm/pc-q35-7.2',
    ]);

    const broken = counting((accel) => {
      if (accel === 'kvm') throw new InternalError('Failed to probe QEMU binary with QMP: Could not access KVM kernel module');
      return fakeSession(accel);
    });
    const c2 = await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: broken.launch, kvmDevice, refresh: true });
    assert.deepEqual(broken.calls, ['tcg', 'kvm']);
    assert.ok(!c2.flags.has('kvm'));
    assert.ok(c2.machines.every((m) => m.accel === 'tcg'));

    // KVM present but not enabled in the -accel kvm process: no KVM entries either.
    const off = counting(() => fakeSession('tcg'));
    const c3 = await probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: off.launch, kvmDevice, refresh: true });
    assert.deepEqual(off.calls, ['tcg', 'kvm']);
    assert.ok(!c3.flags.has('kvm'));
  } finally {
    t.done();
  }
});

test('an unwritable cache directory does not fail the probe', async () => {
  const t = setup();
  try {
    const blocker = path.join(t.dir, 'file');
    writeFileSync(blocker, '');
    const f = counting();
    const caps = await probeQemuCaps(t.bin, { cacheDir: path.join(blocker, 'caps'), launch: f.launch, accels: ['tcg'] });
    assert.equal(caps.version, 7002009);
  } finally {
    t.done();
  }
});

test('a failing main probe closes the session and caches nothing', async () => {
  const t = setup();
  try {
    const f = counting(() => ({
      execute: async () => {
        throw new InternalError("unable to execute QEMU command 'query-version': boom");
      },
      close: async () => undefined,
    }));
    await assert.rejects(probeQemuCaps(t.bin, { cacheDir: t.cacheDir, launch: f.launch, accels: ['tcg'] }), /boom/);
    assert.equal(f.closed, 1);
    assert.throws(() => readdirSync(t.cacheDir));
  } finally {
    t.done();
  }
});

test('missing or non-file binary: SystemError naming it', async () => {
  const t = setup();
  try {
    const f = counting();
    await assert.rejects(
      probeQemuCaps(path.join(t.dir, 'nope'), { cacheDir: t.cacheDir, launch: f.launch }),
      (e: unknown) => e instanceof SystemError && e.message.startsWith(`Cannot find QEMU binary ${path.join(t.dir, 'nope')}:`),
    );
    await assert.rejects(probeQemuCaps(t.dir, { cacheDir: t.cacheDir, launch: f.launch }), /not a regular file/);
    assert.equal(f.calls.length, 0);
  } finally {
    t.done();
  }
});

test('the real launcher reports a binary that cannot run, and cleans up', async () => {
  const t = setup();
  try {
    const runDir = path.join(t.dir, 'run');
    mkdirSync(runDir);
    const launch: QemuLauncher = (binary, accel, o) => launchProbeProcess(binary, accel, { ...o, tmpDir: runDir });
    chmodSync(t.bin, 0o644);
    await assert.rejects(
      probeQemuCaps(t.bin, { cacheDir: t.cacheDir, accels: ['tcg'], timeoutMs: 5000, launch }),
      (e: unknown) => e instanceof InternalError && e.message.startsWith(`internal error: Failed to start QEMU binary ${t.bin} for probing:`),
    );
    assert.deepEqual(readdirSync(runDir), []);
    const script = path.join(t.dir, 'fails');
    writeFileSync(script, '#!/bin/sh\necho "qemu: unsupported accelerator" >&2\nexit 1\n', { mode: 0o755 });
    await assert.rejects(
      probeQemuCaps(script, { cacheDir: t.cacheDir, accels: ['tcg'], timeoutMs: 5000, launch }),
      (e: unknown) => e instanceof InternalError && e.message === 'internal error: Failed to probe QEMU binary with QMP: qemu: unsupported accelerator',
    );
    assert.deepEqual(readdirSync(runDir), []);
  } finally {
    t.done();
  }
});

test('defaultCapsCacheDir follows XDG_CACHE_HOME, else ~/.cache; as root /var/cache, never $HOME', () => {
  assert.equal(defaultCapsCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' }, 1000), '/x/cache/virt-failover/caps');
  assert.equal(defaultCapsCacheDir({ HOME: '/home/u' }, 1000), '/home/u/.cache/virt-failover/caps');
  assert.equal(defaultCapsCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' }, 1000), '/home/u/.cache/virt-failover/caps');
  assert.equal(defaultCapsCacheDir({ XDG_CACHE_HOME: '/home/u/.cache', HOME: '/home/u' }, 0), '/var/cache/virt-failover/caps');
  assert.equal(defaultCapsCacheDir({ VIRT_FAILOVER_CACHE_DIR: '/srv/vf', HOME: '/home/u' }, 0), '/srv/vf/caps');
});
