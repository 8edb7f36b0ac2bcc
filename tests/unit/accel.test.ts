import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { accelProbeArgs, probeAccel, type AccelProbeDeps, type BootProbeRequest } from '../../src/testbed/accel.js';
import type { GuestImage } from '../../src/testbed/guest-image.js';
import { InvalidArgError } from '../../src/util/errors.js';

const image: GuestImage = {
  kernel: '/boot/vmlinuz-6.1.0-56-amd64',
  initrd: '/cache/guest/6.1.0-56-amd64-0123456789abcdef/initrd.cpio.gz',
  kernelVersion: '6.1.0-56-amd64',
  modules: ['failover'],
};

interface Fake {
  deps: AccelProbeDeps;
  boots: BootProbeRequest[];
  opened: string[];
}

function fake(over: { kvm?: true | string; boot?: { ok: boolean; detail: string }; mtimeMs?: number } = {}): Fake {
  const f: Fake = {
    boots: [],
    opened: [],
    deps: {
      openKvm: async (dev) => {
        f.opened.push(dev);
        return over.kvm ?? true;
      },
      resolveBinary: async (bin) => ({ path: bin.includes('/') ? bin : `/usr/bin/${bin}`, mtimeMs: over.mtimeMs ?? 1000 }),
      ensureImage: async () => image,
      bootProbe: async (req) => {
        f.boots.push(req);
        return over.boot ?? { ok: false, detail: 'no output from guest init under KVM within 20000 ms' };
      },
    },
  };
  return f;
}

async function withCache(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-accel-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const cases: {
  name: string;
  env?: Record<string, string>;
  kvm?: true | string;
  boot?: { ok: boolean; detail: string };
  accel: 'kvm' | 'tcg';
  reason: RegExp;
  booted: boolean;
}[] = [
  { name: 'env override tcg', env: { VIRT_FAILOVER_ACCEL: 'tcg' }, accel: 'tcg', reason: /VIRT_FAILOVER_ACCEL=tcg/, booted: false },
  { name: 'env override kvm', env: { VIRT_FAILOVER_ACCEL: 'kvm' }, kvm: 'ENOENT', accel: 'kvm', reason: /=kvm/, booted: false },
  { name: '/dev/kvm not openable', kvm: '/dev/kvm: EACCES', accel: 'tcg', reason: /KVM not available: \/dev\/kvm: EACCES/, booted: false },
  {
    name: 'guest init printed under KVM',
    boot: { ok: true, detail: 'guest init started under KVM in 900 ms' },
    accel: 'kvm',
    reason: /900 ms/,
    booted: true,
  },
  { name: 'KVM boot hangs', accel: 'tcg', reason: /KVM probe failed: no output from guest init/, booted: true },
  {
    name: 'QEMU aborts under KVM',
    boot: { ok: false, detail: 'QEMU exited under KVM (signal SIGABRT): failed to set MSR 0x10a to 0x69' },
    accel: 'tcg',
    reason: /SIGABRT.*MSR 0x10a/,
    booted: true,
  },
];

for (const c of cases) {
  test(`probeAccel: ${c.name}`, () =>
    withCache(async (dir) => {
      const f = fake({ kvm: c.kvm, boot: c.boot });
      const v = await probeAccel({ cacheDir: dir, env: c.env ?? {}, deps: f.deps, timeoutMs: 1234 });
      assert.equal(v.accel, c.accel);
      assert.match(v.reason, c.reason);
      assert.equal(f.boots.length, c.booted ? 1 : 0);
      if (c.booted) assert.deepEqual(f.boots[0], { qemuBinary: '/usr/bin/qemu-system-x86_64', image, timeoutMs: 1234 });
    }));
}

test('probeAccel: invalid override is an InvalidArgError', async () => {
  await assert.rejects(probeAccel({ env: { VIRT_FAILOVER_ACCEL: 'hvf' }, deps: fake().deps }), InvalidArgError);
});

test('probeAccel: verdict cached per binary path+mtime and kernel', () =>
  withCache(async (dir) => {
    const f = fake({ boot: { ok: true, detail: 'ok' } });
    const opts = { cacheDir: dir, env: {}, deps: f.deps, image };
    assert.equal((await probeAccel(opts)).accel, 'kvm');
    const again = await probeAccel(opts);
    assert.equal(again.accel, 'kvm');
    assert.match(again.reason, /^cached \(/);
    assert.equal(f.boots.length, 1);
    const file = path.join(dir, 'accel.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const keys = Object.keys(JSON.parse(await readFile(file, 'utf8')).entries);
    assert.equal(keys.length, 1);
    assert.ok(keys[0].startsWith('/usr/bin/qemu-system-x86_64|1000|6.1.0-56-amd64|'));

    // another binary, another mtime, another kernel: probe again
    await probeAccel({ ...opts, qemuBinary: '/opt/qemu/bin/qemu-system-x86_64' });
    await probeAccel({ ...opts, deps: fake({ mtimeMs: 2000 }).deps });
    await probeAccel({ ...opts, image: { ...image, kernelVersion: '6.12.0-1-amd64' } });
    assert.equal(Object.keys(JSON.parse(await readFile(file, 'utf8')).entries).length, 4);
    assert.equal(f.boots.length, 3); // the mtime case used its own fake

    // /dev/kvm going away wins over a cached kvm verdict; the override wins over everything
    assert.equal((await probeAccel({ ...opts, deps: fake({ kvm: 'ENOENT' }).deps })).accel, 'tcg');
    assert.equal((await probeAccel({ ...opts, env: { VIRT_FAILOVER_ACCEL: 'tcg' } })).accel, 'tcg');
  }));

test('probeAccel: a corrupt cache file is ignored', () =>
  withCache(async (dir) => {
    await writeFile(path.join(dir, 'accel.json'), '{not json', { mode: 0o600 });
    const f = fake();
    assert.equal((await probeAccel({ cacheDir: dir, env: {}, deps: f.deps })).accel, 'tcg');
    assert.equal(f.boots.length, 1);
  }));

test('accelProbeArgs: real KVM with -cpu host, serial console, no NIC', () => {
  const args = accelProbeArgs(image, ['-chardev', 'socket,id=ser0,path=/tmp/x/serial.sock', '-serial', 'chardev:ser0']);
  const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  assert.equal(after('-accel'), 'kvm');
  assert.equal(after('-cpu'), 'host');
  assert.equal(after('-kernel'), image.kernel);
  assert.equal(after('-initrd'), image.initrd);
  assert.equal(after('-append'), 'console=ttyS0 quiet panic=-1 vf.mode=nofailover');
  assert.equal(after('-serial'), 'chardev:ser0');
  assert.ok(args.includes('-nodefaults') && !args.includes('-netdev') && !args.includes('-device'));
});
