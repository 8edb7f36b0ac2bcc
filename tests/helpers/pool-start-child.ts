// A separate process that starts one domain through its own QemuDriver on a shared state dir, fake
// sysfs and fake ip(8) (tests/unit/network-pool.test.ts runs two at once). Prints "ready", waits for a
// line on stdin (so both start together), starts, prints the outcome as JSON.
import { createInterface } from 'node:readline';
import { fileIpRunner } from './fake-ip.js';
import { fakeQemuDriver } from './fake-qemu-driver.js';
import { describeFakeSysfs, fakeKernel } from './fake-sysfs.js';

const [dir, root, ipFile, name] = process.argv.slice(2) as [string, string, string, string];
const k = fakeKernel(describeFakeSysfs(root));
const driver = fakeQemuDriver({ dir, host: { sysfsRoot: root, write: k.write, ipRunner: fileIpRunner(ipFile), timeoutMs: 5000, pollIntervalMs: 1 } });
const rl = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
rl.once('line', () => {
  rl.close();
  driver.start(name).then(
    (r) => process.stdout.write(JSON.stringify({ ok: true, pid: r.pid, ports: driver.store.readStatus(name)?.ports ?? [] }) + '\n'),
    (e: unknown) => process.stdout.write(JSON.stringify({ ok: false, message: (e as Error).message }) + '\n'),
  );
});
