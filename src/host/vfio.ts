// Binding a PCI function to vfio-pci and back, the way libvirt does for managed='yes'
// (virPCIDeviceBindToStub / virPCIDeviceUnbindFromStub):
//   bind:   DEV/driver_override = vfio-pci; DRIVER/unbind = ADDR; drivers_probe = ADDR
//   unbind: vfio-pci/unbind = ADDR; DEV/driver_override = "\n"; drivers_probe = ADDR
// The kernel's side (the `driver` link moving) is checked, not assumed: after each step the
// link is re-read until it says what it should, under one deadline. sysfs has no event for
// it, so this polls at an interval the caller chooses. Writes go through an injectable
// writer: tests pass one that plays the kernel on a fake tree.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SystemError } from '../util/errors.js';
import { VFIO_DRIVER } from './sriov.js';
import { type HostPciAddr, type SysfsOptions, errnoText, pciDeviceDir, pciPaths, readPciDevice, readPciDriver } from './sysfs-pci.js';

/** Writes one sysfs attribute. The default writes the file; the kernel acts on it. */
export type SysfsWriter = (file: string, value: string) => void | Promise<void>;

export const writeSysfsFile: SysfsWriter = (file, value) => writeFileSync(file, value);

export interface VfioOptions extends SysfsOptions {
  write?: SysfsWriter;
  /** How long the driver link may take to move, for the whole operation (default 10 s). */
  timeoutMs?: number;
  /** How often the link is re-read while waiting (default 10 ms). */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

export interface VfioResult {
  address: string;
  /** The driver bound now (undefined: none). */
  driver?: string;
  /** The driver bound before (bind: what unbindVfio should restore). */
  previousDriver?: string;
  /** False when nothing had to be done. */
  changed: boolean;
}

interface Ctx {
  address: string;
  devDir: string;
  write: SysfsWriter;
  deadline: number;
  timeoutMs: number;
  pollMs: number;
  signal?: AbortSignal;
  opts: SysfsOptions;
}

function context(addr: HostPciAddr, opts: VfioOptions): Ctx {
  const devDir = pciDeviceDir(addr, opts);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    address: path.basename(devDir),
    devDir,
    write: opts.write ?? writeSysfsFile,
    deadline: Date.now() + timeoutMs,
    timeoutMs,
    pollMs: opts.pollIntervalMs ?? 10,
    signal: opts.signal,
    opts: { sysfsRoot: opts.sysfsRoot },
  };
}

async function writeAttr(ctx: Ctx, file: string, value: string, what: string): Promise<void> {
  try {
    await ctx.write(file, value);
  } catch (e) {
    throw new SystemError(`Failed to ${what} (writing '${value.trim() || '\\n'}' to '${file}'): ${errnoText(e)}`, { cause: e });
  }
}

/** Re-reads DEV/driver until `ok` holds; SystemError naming the link at the deadline. */
async function waitForDriver(ctx: Ctx, ok: (driver: string | undefined) => boolean, expected: string): Promise<string | undefined> {
  while (true) {
    const driver = readPciDriver(ctx.address, ctx.opts);
    if (ok(driver)) return driver;
    if (Date.now() >= ctx.deadline) {
      throw new SystemError(
        `PCI device ${ctx.address}: '${path.join(ctx.devDir, 'driver')}' is ${driver ? `'${driver}'` : 'absent'} ` +
          `after ${ctx.timeoutMs} ms, expected ${expected}`,
      );
    }
    await delay(ctx.pollMs, undefined, { signal: ctx.signal });
  }
}

function requireVfioDriver(ctx: Ctx): void {
  const dir = pciPaths(ctx.opts).driver(VFIO_DRIVER);
  if (!existsSync(dir)) {
    throw new SystemError(`Cannot bind PCI device ${ctx.address} to ${VFIO_DRIVER}: '${dir}' does not exist (load the module: modprobe ${VFIO_DRIVER})`);
  }
}

function requireOverride(ctx: Ctx): string {
  const file = path.join(ctx.devDir, 'driver_override');
  if (!existsSync(file)) throw new SystemError(`PCI device ${ctx.address}: '${file}' does not exist (kernel without driver_override)`);
  return file;
}

/**
 * Hands a PCI function to vfio-pci (libvirt's managed='yes' detach). Nothing to do when it is
 * bound to vfio-pci already. On failure the override is cleared and the device re-probed, so
 * it goes back to its driver, and the error names the sysfs path that failed.
 */
export async function bindVfio(addr: HostPciAddr, opts: VfioOptions = {}): Promise<VfioResult> {
  const ctx = context(addr, opts);
  const before = readPciDevice(ctx.address, ctx.opts);
  if (before.driver === VFIO_DRIVER) return { address: ctx.address, driver: VFIO_DRIVER, changed: false };
  requireVfioDriver(ctx);
  const overrideFile = requireOverride(ctx);
  const { driversProbe, driver: driverDir } = pciPaths(ctx.opts);
  const result: VfioResult = { address: ctx.address, changed: true };
  if (before.driver) result.previousDriver = before.driver;

  await writeAttr(ctx, overrideFile, VFIO_DRIVER, `set driver_override of PCI device ${ctx.address}`);
  try {
    if (before.driver) {
      await writeAttr(ctx, path.join(driverDir(before.driver), 'unbind'), ctx.address,
        `unbind PCI device ${ctx.address} from ${before.driver}`);
      await waitForDriver(ctx, (d) => d === undefined, 'no driver after unbind');
    }
    await writeAttr(ctx, driversProbe, ctx.address, `trigger a probe for PCI device ${ctx.address}`);
    result.driver = await waitForDriver(ctx, (d) => d === VFIO_DRIVER, `'${VFIO_DRIVER}'`);
    return result;
  } catch (e) {
    // Undo: clear the override and let the kernel give the device back to its driver.
    try {
      await ctx.write(overrideFile, '\n');
      if (readPciDriver(ctx.address, ctx.opts) === undefined) await ctx.write(driversProbe, ctx.address);
    } catch {
      /* the first error is the one to report */
    }
    throw e;
  }
}

/**
 * Gives a PCI function back to the host (libvirt's managed='yes' reattach): unbind from
 * vfio-pci, clear driver_override, re-probe. With `originalDriver`, waits until that driver
 * has it. Nothing to do when the device is not on vfio-pci (a leftover override is cleared).
 */
export async function unbindVfio(addr: HostPciAddr, originalDriver?: string, opts: VfioOptions = {}): Promise<VfioResult> {
  const ctx = context(addr, opts);
  const before = readPciDevice(ctx.address, ctx.opts);
  const overrideFile = path.join(ctx.devDir, 'driver_override');
  const { driversProbe, driver: driverDir } = pciPaths(ctx.opts);
  if (before.driver !== VFIO_DRIVER) {
    if (before.driverOverride === VFIO_DRIVER) {
      await writeAttr(ctx, overrideFile, '\n', `clear driver_override of PCI device ${ctx.address}`);
    }
    const r: VfioResult = { address: ctx.address, changed: false };
    if (before.driver) r.driver = before.driver;
    return r;
  }
  await writeAttr(ctx, path.join(driverDir(VFIO_DRIVER), 'unbind'), ctx.address, `unbind PCI device ${ctx.address} from ${VFIO_DRIVER}`);
  await waitForDriver(ctx, (d) => d === undefined, 'no driver after unbind');
  if (existsSync(overrideFile)) {
    await writeAttr(ctx, overrideFile, '\n', `clear driver_override of PCI device ${ctx.address}`);
  }
  await writeAttr(ctx, driversProbe, ctx.address, `trigger a probe for PCI device ${ctx.address}`);
  const result: VfioResult = { address: ctx.address, previousDriver: VFIO_DRIVER, changed: true };
  const driver = originalDriver
    ? await waitForDriver(ctx, (d) => d === originalDriver, `'${originalDriver}'`)
    : readPciDriver(ctx.address, ctx.opts);
  if (driver) result.driver = driver;
  return result;
}
