import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  FAILOVER_ONLY_MODULES,
  guestKernelArgs,
  parseGuestLine,
  renderInitScript,
  type GuestEvent,
} from '../../src/testbed/guest-init.js';
import {
  ensureGuestImage,
  GUEST_MODULES,
  parseModulesDep,
  resolveLoadOrder,
  writeNewcCpio,
} from '../../src/testbed/guest-image.js';
import { SystemError } from '../../src/util/errors.js';
import { prerequisite } from '../helpers/prereq.js';

const execFileP = promisify(execFile);

const ORDER = [...GUEST_MODULES];
const NOFO = ORDER.filter((m) => !FAILOVER_ONLY_MODULES.includes(m));

// ---- parseGuestLine: lines as they appear on the serial console --------------------------------

const lines: [string, GuestEvent | undefined][] = [
  ['64 bytes from 10.0.2.2: seq=0 ttl=255 time=2059.276 ms', { kind: 'ping', from: '10.0.2.2', seq: 0, ttl: 255, timeMs: 2059.276 }],
  ['64 bytes from 10.0.2.2: seq=277 ttl=255 time=0.737 ms\r', { kind: 'ping', from: '10.0.2.2', seq: 277, ttl: 255, timeMs: 0.737 }],
  ['PING 10.0.2.2 (10.0.2.2): 56 data bytes', undefined],
  ['VFINIT t=1630 mode=failover', { kind: 'init', t: 1630, mode: 'failover' }],
  [
    'VFMODULES t=1870 loaded=failover,net_failover,virtio_ring',
    { kind: 'modules', t: 1870, loaded: ['failover', 'net_failover', 'virtio_ring'] },
  ],
  ['VFMODULES t=10 loaded=-', { kind: 'modules', t: 10, loaded: [] }],
  [
    'VFSTATE t=1880 master=eth0 standby=eth1 primary=eth2 enslaved=1 link=down ifs=eth0,eth1,eth2',
    {
      kind: 'state', t: 1880, master: 'eth0', standby: 'eth1', primary: 'eth2', enslaved: true, link: 'down',
      ifs: ['eth0', 'eth1', 'eth2'],
    },
  ],
  [
    'VFSTATE t=5790 master=eth0 standby=eth1 primary=- enslaved=0 link=- ifs=eth0,eth1',
    { kind: 'state', t: 5790, master: 'eth0', standby: 'eth1', primary: null, enslaved: false, link: null, ifs: ['eth0', 'eth1'] },
  ],
  [
    'VFSTATE t=1770 master=- standby=- primary=- enslaved=0 link=- ifs=-',
    { kind: 'state', t: 1770, master: null, standby: null, primary: null, enslaved: false, link: null, ifs: [] },
  ],
  // without the optional ifs= field
  [
    'VFSTATE t=4070 master=eth0 standby=eth1 primary=eth2 enslaved=1 link=up',
    { kind: 'state', t: 4070, master: 'eth0', standby: 'eth1', primary: 'eth2', enslaved: true, link: 'up', ifs: [] },
  ],
  ['VFSTATE t=1 master=eth0 enslaved=2 link=up', undefined],
  ['VFSTATE t=1 master=eth0 enslaved=1 link=sideways', undefined],
  ['VFREADY t=2080 master=eth0', { kind: 'ready', t: 2080, master: 'eth0' }],
  ['VFREADY t=2080', undefined],
  ['VFBLOCK t=2100 gpe=gpe01', { kind: 'block', t: 2100, gpes: ['gpe01'] }],
  ['VFBLOCK t=2100 gpe=-', { kind: 'block', t: 2100, gpes: [] }],
  [
    'VFKMSG t=1960 [    1.880240] virtio_net virtio0 eth0: failover primary slave:eth2 registered',
    { kind: 'kmsg', t: 1960, text: '[    1.880240] virtio_net virtio0 eth0: failover primary slave:eth2 registered' },
  ],
  ['VFERROR t=5 insmod e1000e failed', { kind: 'error', t: 5, text: 'insmod e1000e failed' }],
  ['VFPING t=9000 restart', { kind: 'ping-restart', t: 9000 }],
  ['VFNOPE t=1 x=y', undefined],
  ['VFINIT t=abc mode=failover', undefined],
  ['Probing EDD (edd=off to disable)... ok', undefined],
  ['virtio_net virtio0 eth0: failover master:eth0 registered', undefined],
  ['', undefined],
];

for (const [line, want] of lines) {
  test(`parseGuestLine ${JSON.stringify(line)}`, () => {
    assert.deepEqual(parseGuestLine(line), want);
  });
}

// ---- kernel args --------------------------------------------------------------------------------

test('guestKernelArgs', () => {
  assert.equal(guestKernelArgs('failover'), 'console=ttyS0 quiet panic=-1 vf.mode=failover');
  assert.equal(guestKernelArgs('nofailover'), 'console=ttyS0 quiet panic=-1 vf.mode=nofailover');
  assert.equal(guestKernelArgs('block-unplug'), 'console=ttyS0 quiet panic=-1 vf.mode=block-unplug');
  assert.equal(guestKernelArgs('no-primary-driver'), 'console=ttyS0 quiet panic=-1 vf.mode=no-primary-driver');
  assert.throws(() => guestKernelArgs('bogus' as never));
});

// ---- init script --------------------------------------------------------------------------------

const script = renderInitScript({ modules: ORDER, noFailoverModules: NOFO });

test('init script is deterministic and starts with a shebang', () => {
  assert.equal(renderInitScript({ modules: ORDER, noFailoverModules: NOFO }), script);
  assert.match(script, /^#!\/bin\/sh\n/);
});

test('init script loads the module lists per mode', () => {
  assert.ok(script.includes(`nofailover) mods="${NOFO.join(' ')}" ;;`));
  assert.ok(script.includes(`*) mods="${ORDER.join(' ')}" ;;`));
  assert.ok(!NOFO.includes('virtio_net') && !NOFO.includes('net_failover'));
  assert.ok(script.includes('[ "$mode" = no-primary-driver ] && [ "$m" = e1000e ] && continue'), 'no-primary-driver skips e1000e');
});

test('init script pings to the console without a pipe, and mounts first', () => {
  assert.match(script, /ping -i 0\.01 10\.0\.2\.2 > \/dev\/console 2>&1 &/);
  assert.doesNotMatch(script, /ping -i[^\n]*\|/);
  assert.doesNotMatch(script, /\|\s*while read/);
  const mounts = ['mount -t proc', 'mount -t sysfs', 'mount -t devtmpfs'].map((s) => script.indexOf(s));
  assert.ok(mounts.every((i) => i > 0 && i < script.indexOf('VFINIT')));
  assert.ok(script.includes('ip addr replace 10.0.2.15/24 dev "$master"'));
  assert.ok(script.includes('ip route replace default via 10.0.2.2'));
  assert.ok(script.includes('sleep 0.100'));
});

test('init script options are validated', () => {
  assert.throws(() => renderInitScript({ modules: ['ok', 'bad;rm'], noFailoverModules: [] }));
  assert.throws(() => renderInitScript({ modules: ORDER, noFailoverModules: NOFO, address: '10.0.2.15/24; reboot' }));
  assert.throws(() => renderInitScript({ modules: ORDER, noFailoverModules: NOFO, pollMs: 1 }));
  const fast = renderInitScript({ modules: ORDER, noFailoverModules: NOFO, pollMs: 50, pingInterval: 0.2 });
  assert.ok(fast.includes('sleep 0.050') && fast.includes('ping -i 0.2 '));
});

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

test('init script parses with busybox sh -n', { skip: prerequisite(!!busybox, 'busybox not installed (Debian busybox-static)') }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-init-'));
  try {
    const file = path.join(dir, 'init');
    await writeFile(file, script, { mode: 0o600 });
    await execFileP(busybox!, ['sh', '-n', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('uptime arithmetic of the script (now) gives ms', { skip: prerequisite(!!busybox, 'busybox not installed (Debian busybox-static)') }, async () => {
  const now = /^now\(\) \{.*\}$/m.exec(script)?.[0];
  assert.ok(now && now.includes('/proc/uptime'));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-init-'));
  try {
    const file = path.join(dir, 'uptime');
    const body = now.replace('/proc/uptime', file);
    for (const [uptime, ms] of [['0.05', 50], ['12.34', 12340], ['7.09', 7090], ['100.00', 100000]] as const) {
      await writeFile(file, `${uptime} 1.00\n`, { mode: 0o600 });
      const { stdout } = await execFileP(busybox!, ['sh', '-c', `${body}\nnow; echo $T`]);
      assert.equal(stdout.trim(), String(ms), uptime);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- image helpers (pure) -------------------------------------------------------------------------

const DEP = `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz: kernel/drivers/ptp/ptp.ko.xz kernel/drivers/pps/pps_core.ko.xz
kernel/drivers/ptp/ptp.ko.xz: kernel/drivers/pps/pps_core.ko.xz
kernel/drivers/pps/pps_core.ko.xz:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
`;

test('modules.dep: the notes order is kept, missing deps are inserted first', () => {
  const dep = parseModulesDep(DEP);
  assert.equal(dep.get('e1000e')?.file, 'kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz');
  assert.deepEqual(dep.get('virtio_net')?.deps, ['net_failover', 'failover', 'virtio', 'virtio_ring']);
  assert.deepEqual(resolveLoadOrder(dep, ORDER), [...ORDER.slice(0, -1), 'pps_core', 'ptp', 'e1000e']);
  assert.deepEqual(resolveLoadOrder(dep, ['virtio_net']), ['virtio_ring', 'virtio', 'failover', 'net_failover', 'virtio_net']);
  assert.throws(() => resolveLoadOrder(dep, ['igb']), /igb not in modules.dep/);
});

test('newc cpio writer: headers, alignment, trailer', () => {
  const buf = writeNewcCpio([
    { type: 'dir', name: 'bin', mode: 0o755 },
    { type: 'file', name: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
    { type: 'symlink', name: 'bin/sh', target: 'busybox' },
    { type: 'char', name: 'dev/console', mode: 0o600, major: 5, minor: 1 },
  ]);
  assert.equal(buf.length % 4, 0);
  const seen: { name: string; mode: number; size: number; rdev: [number, number]; data: string }[] = [];
  let off = 0;
  for (;;) {
    const h = buf.toString('ascii', off, off + 110);
    assert.equal(h.slice(0, 6), '070701');
    const f = (i: number): number => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const namesize = f(11);
    const size = f(6);
    const name = buf.toString('utf8', off + 110, off + 110 + namesize - 1);
    const dataOff = Math.ceil((off + 110 + namesize) / 4) * 4;
    seen.push({ name, mode: f(1), size, rdev: [f(9), f(10)], data: buf.toString('utf8', dataOff, dataOff + size) });
    off = Math.ceil((dataOff + size) / 4) * 4;
    if (name === 'TRAILER!!!') break;
  }
  assert.equal(off, buf.length);
  assert.deepEqual(seen.map((s) => [s.name, s.mode.toString(8)]), [
    ['bin', '40755'], ['init', '100755'], ['bin/sh', '120777'], ['dev/console', '20600'], ['TRAILER!!!', '0'],
  ]);
  assert.equal(seen[1].data, '#!/bin/sh\n');
  assert.equal(seen[2].data, 'busybox');
  assert.deepEqual(seen[3].rdev, [5, 1]);
  assert.throws(() => writeNewcCpio([{ type: 'dir', name: '../x', mode: 0o755 }]));
});

test('ensureGuestImage: missing kernel/busybox is a SystemError naming the Debian packages', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-img-'));
  try {
    const err = await ensureGuestImage({
      cacheDir: path.join(dir, 'cache'), bootDir: path.join(dir, 'boot'), modulesRoot: path.join(dir, 'lib'),
      busybox: path.join(dir, 'busybox'),
    }).catch((e: unknown) => e);
    assert.ok(err instanceof SystemError);
    assert.match(err.message, /install the Debian packages: linux-image-amd64 busybox-static/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const xz = ['/usr/bin/xz', '/bin/xz'].some((p) => existsSync(p));

test('ensureGuestImage: resolves modules.dep, decompresses .ko.xz/.ko.gz, caches', {
  skip: prerequisite(!!busybox && xz, 'needs busybox and xz'),
}, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-img-'));
  try {
    const ver = '9.9.9-1-test';
    const boot = path.join(dir, 'boot');
    const mods = path.join(dir, 'lib', ver);
    await mkdir(boot, { recursive: true });
    await mkdir(path.join(mods, 'kernel'), { recursive: true });
    await writeFile(path.join(boot, `vmlinuz-${ver}`), 'kernel');
    const deps = DEP.replace(/kernel\/[^\s:]*\//g, 'kernel/').replace(/ptp\.ko\.xz/g, 'ptp.ko.gz');
    await writeFile(path.join(mods, 'modules.dep'), deps);
    for (const { file } of parseModulesDep(deps).values()) {
      const body = Buffer.from(`\x7fELF fake ${path.basename(file)}`);
      const out = path.join(mods, file);
      if (file.endsWith('.ko.xz')) {
        await writeFile(out.slice(0, -3), body);
        await execFileP('xz', ['-z', '--', out.slice(0, -3)]);
      } else if (file.endsWith('.ko.gz')) await writeFile(out, gzipSync(body));
      else await writeFile(out, body);
    }
    const opts = { cacheDir: path.join(dir, 'cache'), bootDir: boot, modulesRoot: path.join(dir, 'lib'), busybox };
    const img = await ensureGuestImage(opts);
    assert.equal(img.kernel, path.join(boot, `vmlinuz-${ver}`));
    assert.equal(img.kernelVersion, ver);
    assert.deepEqual(img.modules.slice(-3), ['pps_core', 'ptp', 'e1000e']);
    const cpio = gunzipSync(await readFile(img.initrd)).toString('latin1');
    assert.ok(cpio.includes('lib/modules/e1000e.ko\0'));
    assert.ok(cpio.includes('\x7fELF fake e1000e.ko'), 'xz module stored decompressed');
    assert.ok(cpio.includes('\x7fELF fake ptp.ko'), 'gz module stored decompressed');
    assert.ok(cpio.includes('nofailover) mods="virtio_ring virtio virtio_pci_modern_dev'));
    assert.deepEqual(await ensureGuestImage(opts), img);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
