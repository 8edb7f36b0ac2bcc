// Shared set-up for tests that boot real QEMU: skip with a reason when QEMU
// is missing (a failure in CI), and a VM pool with the test guest and the
// accelerator this machine really runs.
import { after, before } from 'node:test';
import { accessSync, constants as fsc } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { probeAccel, type Accel } from '../../src/testbed/accel.js';
import { ensureGuestImage, type GuestImage } from '../../src/testbed/guest-image.js';
import { VmPool } from './failover-vm.js';
import type { DomainStore } from '../../src/qemu/driver/store.js';
import { isProcessAlive, signalProcess } from '../../src/util/proc.js';
import { resolveExecutable } from '../../src/qemu/driver/index.js';
import { prerequisite } from './prereq.js';

export { prerequisite } from './prereq.js';

/** The QEMU the tests run: $VIRT_FAILOVER_QEMU (a name on PATH or an absolute path), else qemu-system-x86_64. */
export const TEST_QEMU = process.env.VIRT_FAILOVER_QEMU || 'qemu-system-x86_64';

/** The absolute path of `binary` (looked up as the driver does), or undefined. */
export function findQemu(binary = TEST_QEMU): string | undefined {
  try {
    const found = resolveExecutable(binary);
    accessSync(found, fsc.X_OK); // an absolute path is taken as given: it must exist and run
    return found;
  } catch {
    return undefined;
  }
}

/** false when `binary` (a name on PATH or an absolute path) is there, else the skip reason; in CI it throws. */
export function qemuSkip(binary = TEST_QEMU): false | string {
  return prerequisite(findQemu(binary) !== undefined, `${binary} not installed`);
}

export interface VmEnv {
  work: string;
  pool: VmPool;
  image: GuestImage;
  accel: Accel;
}

/** Registers before/after hooks that build the guest, probe the accelerator and own a VmPool. */
export function useVmEnv(prefix: string, skip: false | string): VmEnv {
  const env = { accel: 'tcg' } as VmEnv;
  before(async () => {
    if (skip) return;
    env.work = await mkdtemp(path.join(os.tmpdir(), prefix));
    env.pool = new VmPool(env.work);
    env.image = await ensureGuestImage();
    env.accel = (await probeAccel({ image: env.image })).accel;
  });
  after(async () => {
    await env.pool?.dispose();
    if (env.work) await rm(env.work, { recursive: true, force: true });
  });
  return env;
}

/**
 * For after() hooks: whatever a failed test left running is destroyed through
 * `destroy` (driver or CLI), then any pid still alive is SIGKILLed.
 */
export async function stopLeftovers(store: Pick<DomainStore, 'listStatuses'>, destroy: (name: string) => Promise<unknown>): Promise<void> {
  for (const s of store.listStatuses()) {
    if (s.state === 'shutoff') continue;
    await destroy(s.name).catch(() => undefined);
    if (s.pid && isProcessAlive(s.pid, s.pidStart)) signalProcess(s.pid, 'SIGKILL');
  }
}
