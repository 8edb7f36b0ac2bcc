// Probing a QEMU binary over QMP, with a per-binary cache.
//
// Process: `BINARY -machine none -nodefaults -nographic -S -no-user-config -accel tcg
// -qmp unix:SOCK,server=on,wait=off` with SOCK in a fresh 0700 directory; the queries are in
// caps-qmp.ts. When /dev/kvm is readable and writable a second, shorter process runs with
// `-accel kvm` for the KVM machine / CPU lists (as libvirt does); if that fails, the caps
// simply have no KVM entries and no 'kvm' flag.
//
// Cache: one JSON file per binary in CACHE/caps/ (util/fs cacheBaseDir: /var/cache/virt-failover
// as root, else $XDG_CACHE_HOME/virt-failover or ~/.cache/virt-failover), named `<basename>-<sha256(realpath) first 16 hex>.json`:
//   { "format": CAPS_CACHE_FORMAT, "key": { binary (realpath), size, mtimeNs, accels,
//     kvmAccessible }, "probedAt": ISO time, "caps": capsToJson(caps) }
// It is used only when every key field matches; otherwise the binary is probed again and the
// file replaced atomically (temp file, fsync, rename, fsync of the directory).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, open, readFile, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalError, SystemError } from '../../util/errors.js';
import { cacheBaseDir } from '../../util/fs.js';
import { capsFromJson, capsToJson, type QemuCapsJson } from './json.js';
import type { QemuAccel, QemuCaps } from './model.js';
import { assembleCaps, queryAccelPhase, queryMainPhase, type AccelPhase, type QmpExecutor } from './qmp.js';
import { Monitor } from '../monitor/index.js';
import { waitForSocket } from '../monitor/index.js';

/** Bump when the cached JSON or the way flags are derived changes. */
export const CAPS_CACHE_FORMAT = 2; // 2: more derived flags (command-line options)
export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/** A QMP connection to a probe process; close() also ends the process and removes its files. */
export interface QmpSession extends QmpExecutor {
  close(): Promise<void>;
}

/** Starts `binary` for probing under `accel` and returns a ready QMP session. */
export type QemuLauncher = (binary: string, accel: QemuAccel, opts: { timeoutMs: number }) => Promise<QmpSession>;

export interface ProbeOptions {
  /** Cache directory (default: defaultCapsCacheDir()). */
  cacheDir?: string;
  /** Deadline for each step (start, connect, each command, exit); default 30 s. */
  timeoutMs?: number;
  /** Accelerators to probe; default ['tcg', 'kvm'], KVM only when /dev/kvm is usable. */
  accels?: readonly QemuAccel[];
  /** Ignore a valid cache entry and probe again (the entry is rewritten). */
  refresh?: boolean;
  /** How probe processes are started (tests inject a fake). */
  launch?: QemuLauncher;
  /** The KVM device checked before probing KVM (default /dev/kvm). */
  kvmDevice?: string;
}

export interface CapsCacheKey {
  binary: string;
  size: number;
  mtimeNs: string;
  accels: QemuAccel[];
  kvmAccessible: boolean;
}

interface CacheEntry {
  format: number;
  key: CapsCacheKey;
  probedAt: string;
  caps: QemuCapsJson;
}

export function defaultCapsCacheDir(env: NodeJS.ProcessEnv = process.env, uid?: number): string {
  return path.join(cacheBaseDir(env, uid), 'caps');
}

/** The cache file for a binary, given its resolved path. */
export function capsCacheFile(cacheDir: string, binaryRealpath: string): string {
  const hash = createHash('sha256').update(binaryRealpath).digest('hex').slice(0, 16);
  return path.join(cacheDir, `${path.basename(binaryRealpath)}-${hash}.json`);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function canUse(device: string): Promise<boolean> {
  try {
    await access(device, fsc.R_OK | fsc.W_OK);
    return true;
  } catch {
    return false;
  }
}

function sameKey(a: CapsCacheKey, b: CapsCacheKey): boolean {
  return (
    a.binary === b.binary &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.kvmAccessible === b.kvmAccessible &&
    a.accels.length === b.accels.length &&
    a.accels.every((x, i) => b.accels[i] === x)
  );
}

async function readCache(file: string, key: CapsCacheKey): Promise<QemuCaps | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const entry = JSON.parse(text) as Partial<CacheEntry>;
    if (entry.format !== CAPS_CACHE_FORMAT || !entry.key || !sameKey(entry.key, key)) return undefined;
    return capsFromJson(entry.caps);
  } catch {
    return undefined; // damaged entry: probe again and overwrite it
  }
}

/** Write `data` to `file` atomically: temp file in the same directory, fsync, rename, fsync dir. */
async function writeFileAtomic(file: string, data: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

interface CacheSlot {
  key: CapsCacheKey;
  file: string;
  cacheDir: string;
}

/** The cache key of `binary` (realpath, size, mtime: a stat, nothing is run) and its cache file. */
async function cacheSlot(binary: string, opts: ProbeOptions): Promise<CacheSlot> {
  let real: string;
  let st: { size: bigint; mtimeNs: bigint; isFile(): boolean };
  try {
    real = await realpath(binary);
    st = await stat(real, { bigint: true });
  } catch (e) {
    throw new SystemError(`Cannot find QEMU binary ${binary}: ${errText(e)}`, { cause: e });
  }
  if (!st.isFile()) throw new SystemError(`Cannot find QEMU binary ${binary}: not a regular file`);
  const wanted = opts.accels ?? ['tcg', 'kvm'];
  const kvmAccessible = wanted.includes('kvm') && (await canUse(opts.kvmDevice ?? '/dev/kvm'));
  const key: CapsCacheKey = {
    binary: real,
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    accels: [...wanted],
    kvmAccessible,
  };
  const cacheDir = opts.cacheDir ?? defaultCapsCacheDir();
  return { key, cacheDir, file: capsCacheFile(cacheDir, real) };
}

/**
 * The cached capabilities of `binary` when a valid entry exists, else undefined. Never starts
 * the binary: for verbs that read files from others (lint, format, domxml-to-native).
 */
export async function cachedQemuCaps(binary: string, opts: ProbeOptions = {}): Promise<QemuCaps | undefined> {
  let slot: CacheSlot;
  try {
    slot = await cacheSlot(binary, opts);
  } catch {
    return undefined;
  }
  const cached = await readCache(slot.file, slot.key);
  if (cached) cached.binary = binary;
  return cached;
}

/**
 * Capabilities of `binary`: from the cache when its entry matches the binary's realpath,
 * size and mtime (and our format version), else by starting QEMU and asking over QMP.
 */
export async function probeQemuCaps(binary: string, opts: ProbeOptions = {}): Promise<QemuCaps> {
  const { key, file, cacheDir } = await cacheSlot(binary, opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const wanted = key.accels;
  const kvmAccessible = key.kvmAccessible;
  if (!opts.refresh) {
    const cached = await readCache(file, key);
    if (cached) {
      cached.binary = binary;
      return cached;
    }
  }

  const launch = opts.launch ?? launchProbeProcess;
  const mainAccel: QemuAccel = wanted.includes('tcg') ? 'tcg' : 'kvm';
  const session = await launch(binary, mainAccel, { timeoutMs });
  let main;
  try {
    main = await queryMainPhase(session);
  } finally {
    await session.close();
  }
  const extra: AccelPhase[] = [];
  if (kvmAccessible && main.accel !== 'kvm') {
    // A KVM that cannot start (no module, nesting refused...) just means no KVM entries.
    try {
      const kvmSession = await launch(binary, 'kvm', { timeoutMs });
      try {
        const p = await queryAccelPhase(kvmSession, 'kvm', { hasCpuDefs: main.schema.hasCommand('query-cpu-definitions') });
        if (p) extra.push(p);
      } finally {
        await kvmSession.close();
      }
    } catch {
      // leave KVM out
    }
  }
  const caps = assembleCaps(binary, main, extra);

  const entry: CacheEntry = { format: CAPS_CACHE_FORMAT, key, probedAt: new Date().toISOString(), caps: capsToJson(caps) };
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, JSON.stringify(entry, null, 1) + '\n');
  } catch {
    // The cache is an optimisation; an unwritable cache directory must not fail the probe.
  }
  return caps;
}

/** Escape a value for QEMU's key=value option syntax (commas are doubled). */
function qemuOptValue(s: string): string {
  return s.replace(/,/g, ',,');
}

function waitClose(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('close', onClose);
      resolve(false);
    }, timeoutMs);
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('close', onClose);
  });
}

/** The default QemuLauncher: a real QEMU process with a QMP unix socket in a private 0700 directory. */
export async function launchProbeProcess(
  binary: string,
  accel: QemuAccel,
  opts: { timeoutMs: number; tmpDir?: string },
): Promise<QmpSession & { socketPath: string }> {
  const { timeoutMs } = opts;
  const dir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'virt-failover-caps-'));
  await chmod(dir, 0o700);
  const sock = path.join(dir, 'qmp.sock');
  const args = [
    '-machine', 'none',
    '-nodefaults',
    '-nographic',
    '-S',
    '-no-user-config',
    '-accel', accel,
    '-qmp', `unix:${qemuOptValue(sock)},server=on,wait=off`,
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (stderr.length < 65536) stderr += s;
  });
  const gone = new AbortController();
  child.once('error', (err) => gone.abort(new InternalError(`Failed to start QEMU binary ${binary} for probing: ${err.message}`)));
  child.once('close', (code, signal) => {
    const why = stderr.trim() || `exited with ${signal ? `signal ${signal}` : `status ${code}`}`;
    gone.abort(new InternalError(`Failed to probe QEMU binary with QMP: ${why}`));
  });

  const cleanup = async (): Promise<void> => {
    if (!(await waitClose(child, timeoutMs))) {
      child.kill('SIGKILL');
      await waitClose(child, timeoutMs);
    }
    await rm(dir, { recursive: true, force: true });
  };

  let mon: Monitor;
  try {
    await waitForSocket(sock, { timeoutMs, signal: gone.signal });
    await chmod(sock, 0o600);
    mon = await Monitor.connect(sock, { timeoutMs, signal: gone.signal });
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await cleanup();
    throw gone.signal.aborted ? gone.signal.reason : e;
  }
  return {
    socketPath: sock,
    execute: <T = unknown>(cmd: string, cmdArgs?: Record<string, unknown>) =>
      mon.execute<T>(cmd, cmdArgs, { timeoutMs, signal: gone.signal }),
    close: async () => {
      try {
        await mon.execute('quit', undefined, { timeoutMs });
      } catch {
        // QEMU may close the socket before or right after answering
      }
      await mon.close();
      await cleanup();
    },
  };
}
