// shutdown with a guest that does act on the ACPI power button: the distribution kernel and a
// tiny busybox initramfs whose /init waits for an event from the "Power Button" input device
// and then powers off (it reports 'ready' once the device is open, so no press is missed). Also: a guest that powers off on its own leaves QEMU (-no-shutdown) in
// state 'shutdown'; the next reader ends it and reports shut off (shutdown).
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdtempSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { QemuDriver } from '../../src/qemu/driver/driver.js';
import { ensureGuestImage, writeNewcCpio, type CpioEntry } from '../../src/testbed/guest-image.js';
import { Monitor } from '../../src/qemu/monitor/monitor.js';
import { isProcessAlive } from '../../src/util/proc.js';
import { prerequisite, qemuSkip, stopLeftovers } from '../helpers/qemu-env.js';
import { SystemError } from '../../src/util/errors.js';
import { QEMU_BINARY } from '../helpers/qemu-spawn.js';

const INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox insmod /evdev.ko
/bin/busybox insmod /button.ko
dev=
for e in /sys/class/input/event*; do
  [ "$(/bin/busybox cat $e/device/name 2>/dev/null)" = "Power Button" ] && dev=/dev/input/\${e##*/}
done
exec 3< "$dev"
echo "VFACPI ready dev=$dev"
/bin/busybox head -c 1 <&3 > /dev/null
echo "VFACPI power button"
/bin/busybox poweroff -f
`;

let dir = '';
let driver: QemuDriver;
let guest: { kernel: string; initrd: string } | undefined;
let skip: string | false = qemuSkip(QEMU_BINARY);

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-acpi-'));
  driver = QemuDriver.open({ stateDir: path.join(dir, 'state'), qemuBinary: QEMU_BINARY });
  if (skip) return;
  try {
    const image = await ensureGuestImage();
    const mods = `/lib/modules/${image.kernelVersion}/kernel/drivers`;
    const entries: CpioEntry[] = [
      ...['bin', 'proc', 'sys', 'dev'].map((name) => ({ type: 'dir' as const, name, mode: 0o755 })),
      { type: 'file', name: 'bin/busybox', mode: 0o755, data: readFileSync(existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox') },
      { type: 'file', name: 'evdev.ko', mode: 0o644, data: readFileSync(`${mods}/input/evdev.ko`) },
      { type: 'file', name: 'button.ko', mode: 0o644, data: readFileSync(`${mods}/acpi/button.ko`) },
      { type: 'file', name: 'init', mode: 0o755, data: Buffer.from(INIT) },
    ];
    const initrd = path.join(dir, 'acpi-initrd.gz');
    writeFileSync(initrd, gzipSync(writeNewcCpio(entries), { level: 1 }));
    guest = { kernel: image.kernel, initrd };
  } catch (e) {
    // Only missing packages may skip (never under CI: prerequisite throws there); any other error fails.
    if (!(e instanceof SystemError && e.message.startsWith('cannot build the test guest, missing:'))) throw e;
    skip = prerequisite(false, `no test guest: ${e.message}`);
  }
});
after(async () => {
  await stopLeftovers(driver.store, (name) => driver.destroy(name));
  rmSync(dir, { recursive: true, force: true });
});

function guestXml(name: string, serial: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${guest!.kernel}</kernel>
    <initrd>${guest!.initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='file'>
      <source path='${serial}'/>
      <target port='0'/>
    </serial>
    <console type='file'>
      <source path='${serial}'/>
      <target type='serial' port='0'/>
    </console>
  </devices>
</domain>
`;
}

/** Resolves when `file` contains `text` (file events, deadline). */
function waitForText(file: string, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = watch(path.dirname(file), () => check());
    const timer = setTimeout(() => {
      w.close();
      reject(new Error(`'${text}' not seen in ${file} within ${timeoutMs} ms: ${existsSync(file) ? readFileSync(file, 'utf8').slice(-500) : '(no file)'}`));
    }, timeoutMs);
    const check = (): void => {
      if (existsSync(file) && readFileSync(file, 'utf8').includes(text)) {
        clearTimeout(timer);
        w.close();
        resolve();
      }
    };
    check();
  });
}

const T = { timeout: 110_000 };

test('shutdown: the guest powers off on the ACPI button; QEMU is gone; shut off (shutdown)', T, async (t) => {
  if (skip) return t.skip(skip);
  const serial = path.join(dir, 'g1.serial');
  await driver.define(guestXml('g1', serial));
  const r = await driver.start('g1');
  await waitForText(serial, 'VFACPI ready dev=/dev/input/event', 60_000);
  const t0 = Date.now();
  assert.deepEqual(await driver.shutdown('g1', { timeoutMs: 30_000 }), { name: 'g1', state: 'shutoff' });
  assert.ok(Date.now() - t0 < 30_000);
  assert.match(readFileSync(serial, 'utf8'), /VFACPI power button/);
  assert.equal(isProcessAlive(r.pid), false);
  const st = await driver.getState('g1');
  assert.deepEqual([st.state, st.reason], ['shutoff', 'shutdown']);
  assert.equal(existsSync(driver.store.runDirFor(st.uuid)), false);
});

test('a guest that powers itself off: the next reader ends QEMU and reports shut off (shutdown)', T, async (t) => {
  if (skip) return t.skip(skip);
  const serial = path.join(dir, 'g2.serial');
  await driver.define(guestXml('g2', serial));
  const r = await driver.start('g2');
  await waitForText(serial, 'VFACPI ready', 60_000);
  // Press the button behind the driver's back (as a guest-side `poweroff` would end up).
  const monitor = driver.store.readStatus('g2')!.monitor!;
  const m = await Monitor.connect(monitor, { timeoutMs: 10_000 });
  const down = m.waitEvent('SHUTDOWN', { timeoutMs: 30_000 });
  await m.execute('system_powerdown');
  assert.equal((await down).data.reason, 'guest-shutdown');
  assert.equal((await m.execute<{ status: string }>('query-status')).status, 'shutdown', 'QEMU waits (-no-shutdown)');
  await m.close();
  assert.ok(isProcessAlive(r.pid));
  const st = await driver.getState('g2');
  assert.deepEqual([st.state, st.reason, st.active], ['shutoff', 'shutdown', false]);
  assert.equal(isProcessAlive(r.pid), false);
  assert.deepEqual(await driver.list(), []);
});
