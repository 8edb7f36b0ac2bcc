// Accelerator probe: is KVM really usable, or must QEMU run under TCG?
// The presence (even the openability) of /dev/kvm proves nothing: on nested hosts KVM can abort or hang the guest
// in the kernel decompressor. So we boot the test guest with `-accel kvm -cpu host` and wait, with a deadline,
// for the first line from its /init. The verdict is cached per QEMU binary (path + mtime), guest kernel and host
// kernel release. VIRT_FAILOVER_ACCEL=kvm|tcg overrides everything.

import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidArgError } from '../util/errors.js';
import { defaultCacheBase, ensureGuestImage, GuestConsole, type GuestImage } from './guest-image.js';
import { guestKernelArgs } from './guest-init.js';

export type Accel = 'kvm' | 'tcg';

export interface AccelVerdict {
  accel: Accel;
  reason: string;
}

export interface BootProbeRequest {
  qemuBinary: string;
  image: GuestImage;
  timeoutMs: number;
}

/** Side effects of the probe, injectable for tests. */
export interface AccelProbeDeps {
  /** Resolves when the device can be opened read/write; otherwise returns the reason. */
  openKvm(device: string): Promise<true | string>;
  /** Absolute path and mtime of the QEMU binary (PATH lookup for a bare name). */
  resolveBinary(binary: string, env: NodeJS.ProcessEnv): Promise<{ path: string; mtimeMs: number }>;
  ensureImage(cacheBase: string): Promise<GuestImage>;
  /** Boots the guest under KVM; ok when init printed its first line before the deadline. */
  bootProbe(req: BootProbeRequest): Promise<{ ok: boolean; detail: string }>;
}

export interface ProbeAccelOptions {
  qemuBinary?: string;
  /** Deadline for the KVM boot (default 20 s). */
  timeoutMs?: number;
  image?: GuestImage;
  /** Base cache directory (default util/fs cacheBaseDir()); the verdicts go to accel.json there. */
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  kvmDevice?: string;
  deps?: Partial<AccelProbeDeps>;
}

export const ACCEL_ENV = 'VIRT_FAILOVER_ACCEL';
const DEFAULT_TIMEOUT_MS = 20_000;

/** The QEMU argv of the KVM probe boot (no NICs; `nofailover` mode, init prints VFINIT first). */
export function accelProbeArgs(image: GuestImage, consoleArgs: string[]): string[] {
  return [
    '-name', 'vf-accel-probe', '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host', '-m', '256', '-smp', '1',
    '-nodefaults', '-display', 'none', '-no-user-config',
    '-kernel', image.kernel, '-initrd', image.initrd, '-append', guestKernelArgs('nofailover'),
    ...consoleArgs,
  ];
}

async function openKvm(device: string): Promise<true | string> {
  try {
    const fh = await open(device, 'r+');
    await fh.close();
    return true;
  } catch (e) {
    return `${device}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

async function resolveBinary(binary: string, env: NodeJS.ProcessEnv): Promise<{ path: string; mtimeMs: number }> {
  const candidates = binary.includes('/')
    ? [path.resolve(binary)]
    : (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.join(d, binary));
  for (const c of candidates) {
    try {
      await access(c, fsc.X_OK);
      const st = await stat(c);
      if (st.isFile()) return { path: c, mtimeMs: st.mtimeMs };
    } catch {
      // next
    }
  }
  throw new InvalidArgError(`QEMU binary '${binary}' not found`);
}

/** Boots under KVM and waits for the first line from init (VFINIT), QEMU's exit, or the deadline. */
async function bootProbe(req: BootProbeRequest): Promise<{ ok: boolean; detail: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-accel-'));
  let console_: GuestConsole | undefined;
  try {
    console_ = await GuestConsole.listen(path.join(dir, 'serial.sock'));
    const child = spawn(req.qemuBinary, accelProbeArgs(req.image, console_.qemuArgs()), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (e) => {
        stderr += String(e.message);
        resolve({ code: null, signal: null });
      });
    });
    const abort = new AbortController();
    const t0 = performance.now();
    const outcome = await Promise.race([
      console_
        .waitFor((l) => l.event?.kind === 'init', req.timeoutMs, 0, abort.signal)
        .then(() => ({ kind: 'init' as const }), () => ({ kind: 'timeout' as const })),
      exited.then((x) => ({ kind: 'exit' as const, ...x })),
    ]);
    abort.abort();
    const ms = Math.round(performance.now() - t0);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    const lastErr = stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    if (outcome.kind === 'init') return { ok: true, detail: `guest init started under KVM in ${ms} ms` };
    if (outcome.kind === 'timeout') {
      const seen = console_.lines.at(-1)?.line.trim();
      return {
        ok: false,
        detail: `no output from guest init under KVM within ${req.timeoutMs} ms` +
          (seen ? ` (last serial line: ${JSON.stringify(seen)})` : ''),
      };
    }
    return {
      ok: false,
      detail: `QEMU exited under KVM (${outcome.signal ? `signal ${outcome.signal}` : `code ${outcome.code}`})` +
        (lastErr ? `: ${lastErr}` : ''),
    };
  } finally {
    await console_?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const realDeps: AccelProbeDeps = {
  openKvm,
  resolveBinary,
  ensureImage: (cacheBase) => ensureGuestImage({ cacheDir: path.join(cacheBase, 'guest') }),
  bootProbe,
};

interface CacheFile {
  entries: Record<string, AccelVerdict & { probedAt: string }>;
}

async function readCache(file: string): Promise<CacheFile> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as CacheFile;
    if (parsed && typeof parsed.entries === 'object' && parsed.entries) return parsed;
  } catch {
    // missing or corrupt: start over
  }
  return { entries: {} };
}

async function writeCache(file: string, data: CacheFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * Decides between KVM and TCG. Order: the VIRT_FAILOVER_ACCEL override; /dev/kvm not openable read/write -> tcg;
 * a cached verdict; a real KVM boot of the test guest with a deadline (default 20 s) -> kvm, else tcg.
 */
export async function probeAccel(opts: ProbeAccelOptions = {}): Promise<AccelVerdict> {
  const env = opts.env ?? process.env;
  const deps: AccelProbeDeps = { ...realDeps, ...opts.deps };
  const override = env[ACCEL_ENV]?.trim();
  if (override) {
    if (override !== 'kvm' && override !== 'tcg') {
      throw new InvalidArgError(`${ACCEL_ENV} must be 'kvm' or 'tcg', not '${override}'`);
    }
    return { accel: override, reason: `${ACCEL_ENV}=${override}` };
  }
  const device = opts.kvmDevice ?? '/dev/kvm';
  const kvm = await deps.openKvm(device);
  if (kvm !== true) return { accel: 'tcg', reason: `KVM not available: ${kvm}` };

  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const cacheBase = opts.cacheDir ?? defaultCacheBase(env);
  const bin = await deps.resolveBinary(opts.qemuBinary ?? 'qemu-system-x86_64', env);
  const image = opts.image ?? (await deps.ensureImage(cacheBase));
  const key = [bin.path, Math.trunc(bin.mtimeMs), image.kernelVersion, os.release()].join('|');
  const cacheFile = path.join(cacheBase, 'accel.json');
  const hit = (await readCache(cacheFile)).entries[key];
  if (hit && (hit.accel === 'kvm' || hit.accel === 'tcg')) {
    return { accel: hit.accel, reason: `cached (${hit.probedAt}): ${hit.reason}` };
  }

  const res = await deps.bootProbe({ qemuBinary: bin.path, image, timeoutMs });
  const verdict: AccelVerdict = res.ok
    ? { accel: 'kvm', reason: res.detail }
    : { accel: 'tcg', reason: `KVM probe failed: ${res.detail}` };
  const latest = await readCache(cacheFile); // keep entries written meanwhile by other probes
  latest.entries[key] = { ...verdict, probedAt: new Date().toISOString() };
  await writeCache(cacheFile, latest);
  return verdict;
}
