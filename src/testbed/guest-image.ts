// The tiny test/demo guest: the distribution kernel plus a busybox initramfs whose /init (see guest-init.ts)
// loads the failover modules, configures the failover master and reports its state on the serial console.
// Built once per kernel version + init script + module list, cached under CACHE/guest (util/fs
// cacheBaseDir: /var/cache/virt-failover as root, else $XDG_CACHE_HOME/virt-failover).

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { SystemError } from '../util/errors.js';
import { cacheBaseDir } from '../util/fs.js';
import { FAILOVER_ONLY_MODULES, parseGuestLine, renderInitScript, type GuestEvent } from './guest-init.js';

export { guestKernelArgs, parseGuestLine, GUEST_MODES } from './guest-init.js';
export type { GuestEvent, GuestMode } from './guest-init.js';

const execFileP = promisify(execFile);
const gzipP = promisify(gzip);

export interface GuestImage {
  kernel: string;
  initrd: string;
  kernelVersion: string;
  /** Modules in load order (failover mode). */
  modules: string[];
}

export interface GuestImageOptions {
  /** Where images are kept (default cacheBaseDir()/guest). */
  cacheDir?: string;
  kernelVersion?: string;
  /** For tests: alternative /boot, /lib/modules and busybox locations. */
  bootDir?: string;
  modulesRoot?: string;
  busybox?: string;
}

/** Load order from the notes; dependencies are resolved through modules.dep. */
export const GUEST_MODULES: readonly string[] = [
  'failover', 'net_failover', 'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev',
  'virtio_pci', 'virtio_net', 'e1000e',
];

export const GUEST_PACKAGES: readonly string[] = ['linux-image-amd64', 'busybox-static'];

/** Bump when the image layout changes in a way the hash below does not see. */
const FORMAT = 'vf-guest-1';

/** util/fs cacheBaseDir: /var/cache/virt-failover as root, else $XDG_CACHE_HOME/virt-failover. */
export function defaultCacheBase(env: NodeJS.ProcessEnv = process.env, uid?: number): string {
  return cacheBaseDir(env, uid);
}

function missing(what: string[]): SystemError {
  return new SystemError(
    `cannot build the test guest, missing: ${what.join(', ')}; install the Debian packages: ${GUEST_PACKAGES.join(' ')}`,
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, fsc.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Orders versions like `6.1.0-56-amd64` numerically, part by part. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** The newest kernel that has both /boot/vmlinuz-<v> and /lib/modules/<v>/modules.dep. */
async function pickKernel(bootDir: string, modulesRoot: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(bootDir);
  } catch {
    return undefined;
  }
  const candidates: string[] = [];
  for (const n of names) {
    if (!n.startsWith('vmlinuz-')) continue;
    const v = n.slice('vmlinuz-'.length);
    if (await exists(path.join(modulesRoot, v, 'modules.dep'))) candidates.push(v);
  }
  candidates.sort(compareVersions);
  return candidates.at(-1);
}

/** Module name as the kernel sees it: basename without .ko[.xz|.zst|.gz], '-' -> '_'. */
export function moduleName(file: string): string {
  return path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Parses modules.dep text into name -> { file (relative), deps (names) }. */
export function parseModulesDep(text: string): Map<string, { file: string; deps: string[] }> {
  const out = new Map<string, { file: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const file = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleName);
    out.set(moduleName(file), { file, deps });
  }
  return out;
}

/** Load order for `wanted` (kept in its order), each module preceded by its dependencies. */
export function resolveLoadOrder(dep: Map<string, { deps: string[] }>, wanted: readonly string[]): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const entry = dep.get(name);
    if (!entry) throw new Error(`module ${name} not in modules.dep`);
    if (visiting.has(name)) throw new Error(`module dependency cycle at ${name}`);
    visiting.add(name);
    // modules.dep lists the deepest dependency last; modprobe loads from the end
    for (const d of [...entry.deps].reverse()) visit(d);
    visiting.delete(name);
    done.add(name);
    order.push(name);
  };
  for (const w of wanted) visit(w);
  return order;
}

// ---- newc cpio ------------------------------------------------------------------------------

export type CpioEntry =
  | { type: 'dir'; name: string; mode: number }
  | { type: 'file'; name: string; mode: number; data: Buffer }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'char'; name: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/** Writes a newc ("070701") archive; uid/gid 0, mtime 0, so the output is reproducible. */
export function writeNewcCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, nlink: number, data: Buffer, rdev = [0, 0]): void => {
    const nameBuf = Buffer.from(`${name}\0`, 'utf8');
    const header =
      '070701' +
      [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0].map(hex8).join('');
    parts.push(Buffer.from(header, 'ascii'), nameBuf, pad4(110 + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) {
    if (e.name.startsWith('/') || e.name.split('/').includes('..')) throw new Error(`bad cpio name ${e.name}`);
    switch (e.type) {
      case 'dir':
        add(e.name, S_IFDIR | e.mode, 2, Buffer.alloc(0));
        break;
      case 'file':
        add(e.name, S_IFREG | e.mode, 1, e.data);
        break;
      case 'symlink':
        add(e.name, S_IFLNK | 0o777, 1, Buffer.from(e.target, 'utf8'));
        break;
      case 'char':
        add(e.name, S_IFCHR | e.mode, 1, Buffer.alloc(0), [e.major, e.minor]);
        break;
    }
  }
  ino = 0;
  add('TRAILER!!!', 0, 1, Buffer.alloc(0));
  return Buffer.concat(parts);
}

// ---- build ----------------------------------------------------------------------------------

async function readModule(file: string): Promise<Buffer> {
  const max = { encoding: 'buffer' as const, maxBuffer: 64 * 1024 * 1024 };
  if (file.endsWith('.ko')) return readFile(file);
  if (file.endsWith('.ko.gz')) return gunzipSync(await readFile(file));
  if (file.endsWith('.ko.xz')) return (await execFileP('xz', ['-dc', '--', file], max)).stdout;
  if (file.endsWith('.ko.zst')) return (await execFileP('zstd', ['-dcq', '--', file], max)).stdout;
  throw new Error(`unsupported module file ${file}`);
}

/** True when the ELF file has no PT_INTERP, i.e. is statically linked. */
async function isStaticElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const hdr = Buffer.alloc(64);
    await fh.read(hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[4] !== 2) return false; // ELF64 only
    const phoff = Number(hdr.readBigUInt64LE(0x20));
    const phentsize = hdr.readUInt16LE(0x36);
    const phnum = hdr.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    await fh.close();
  }
}

interface Plan {
  kernelVersion: string;
  kernel: string;
  busybox: string;
  modules: { name: string; file: string }[];
  noFailover: string[];
  init: string;
  key: string;
}

async function plan(opts: GuestImageOptions): Promise<Plan> {
  const bootDir = opts.bootDir ?? '/boot';
  const modulesRoot = opts.modulesRoot ?? '/lib/modules';
  const kernelVersion = opts.kernelVersion ?? (await pickKernel(bootDir, modulesRoot));
  if (!kernelVersion) throw missing([`${bootDir}/vmlinuz-* with ${modulesRoot}/<version>/modules.dep`]);
  const kernel = path.join(bootDir, `vmlinuz-${kernelVersion}`);
  const modDir = path.join(modulesRoot, kernelVersion);
  const depFile = path.join(modDir, 'modules.dep');
  const bbCandidates = opts.busybox ? [opts.busybox] : ['/bin/busybox', '/usr/bin/busybox'];
  let busybox: string | undefined;
  for (const c of bbCandidates) if (await exists(c)) { busybox = c; break; }
  const lacking: string[] = [];
  if (!(await exists(kernel))) lacking.push(kernel);
  if (!(await exists(depFile))) lacking.push(depFile);
  if (!busybox) lacking.push(bbCandidates.join(' or '));
  else if (!(await isStaticElf(busybox))) lacking.push(`a static busybox (${busybox} is dynamically linked)`);
  if (lacking.length) throw missing(lacking);

  const dep = parseModulesDep(await readFile(depFile, 'utf8'));
  let order: string[];
  let noFailover: string[];
  try {
    order = resolveLoadOrder(dep, GUEST_MODULES);
    noFailover = resolveLoadOrder(dep, GUEST_MODULES.filter((m) => !FAILOVER_ONLY_MODULES.includes(m)));
  } catch (e) {
    throw new SystemError(`${depFile}: ${(e as Error).message}; install the Debian packages: ${GUEST_PACKAGES.join(' ')}`, {
      cause: e,
    });
  }
  if (noFailover.some((m) => FAILOVER_ONLY_MODULES.includes(m))) {
    throw new SystemError(`${depFile}: the virtio transport or e1000e depends on the failover modules`);
  }
  const modules = order.map((name) => ({ name, file: path.join(modDir, dep.get(name)!.file) }));
  const init = renderInitScript({ modules: order, noFailoverModules: noFailover });
  const ids: unknown[] = [];
  for (const f of [busybox!, ...modules.map((m) => m.file)]) {
    const st = await stat(f);
    ids.push(f, st.size, Math.trunc(st.mtimeMs));
  }
  const hash = createHash('sha256')
    .update(JSON.stringify([FORMAT, kernelVersion, init, ids]))
    .digest('hex')
    .slice(0, 16);
  return { kernelVersion, kernel, busybox: busybox!, modules, noFailover, init, key: `${kernelVersion}-${hash}` };
}

async function buildInitrd(p: Plan): Promise<Buffer> {
  const { stdout } = await execFileP(p.busybox, ['--list'], { encoding: 'utf8' });
  const applets = stdout.split('\n').map((s) => s.trim()).filter((s) => /^[A-Za-z0-9_.[-]+$/.test(s) && s !== 'busybox');
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules'].map((name) => ({ type: 'dir' as const, name, mode: 0o755 })),
    { type: 'dir', name: 'tmp', mode: 0o1777 },
    { type: 'char', name: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { type: 'file', name: 'bin/busybox', mode: 0o755, data: await readFile(p.busybox) },
    ...applets.map((a) => ({ type: 'symlink' as const, name: `bin/${a}`, target: 'busybox' })),
    { type: 'file', name: 'init', mode: 0o755, data: Buffer.from(p.init, 'utf8') },
  ];
  for (const m of p.modules) {
    entries.push({ type: 'file', name: `lib/modules/${m.name}.ko`, mode: 0o644, data: await readModule(m.file) });
  }
  return gzipP(writeNewcCpio(entries), { level: 6 });
}

/**
 * Returns the test guest (kernel + initramfs), building the initramfs if it is not cached yet.
 * Throws SystemError naming the Debian packages when the kernel, its modules or busybox-static are missing.
 */
export async function ensureGuestImage(opts: GuestImageOptions = {}): Promise<GuestImage> {
  const p = await plan(opts);
  const cacheDir = opts.cacheDir ?? path.join(defaultCacheBase(), 'guest');
  const dir = path.join(cacheDir, p.key);
  const initrd = path.join(dir, 'initrd.cpio.gz');
  const image: GuestImage = {
    kernel: p.kernel,
    initrd,
    kernelVersion: p.kernelVersion,
    modules: p.modules.map((m) => m.name),
  };
  const complete = async (): Promise<boolean> =>
    (await exists(path.join(dir, 'image.json'))) && (await exists(initrd));
  if (await complete()) return image;

  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(path.join(cacheDir, '.build-'));
  try {
    await writeFile(path.join(tmp, 'initrd.cpio.gz'), await buildInitrd(p), { mode: 0o644 });
    await writeFile(path.join(tmp, 'init'), p.init, { mode: 0o644 });
    const meta = { ...image, initrd: 'initrd.cpio.gz', noFailoverModules: p.noFailover, builtAt: new Date().toISOString() };
    await writeFile(path.join(tmp, 'image.json'), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o644 });
    await chmod(tmp, 0o755);
    try {
      await rename(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      if (!(await complete())) {
        // a damaged entry (files removed by hand): replace it
        await rm(dir, { recursive: true, force: true });
        await rename(tmp, dir);
      } // else: another process finished the same build first
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return image;
}

// ---- serial console -------------------------------------------------------------------------

export interface ConsoleLine {
  /** Host monotonic time (performance.now(), ms) at which the line was complete. */
  t: number;
  line: string;
  event: GuestEvent | undefined;
}

/**
 * The guest's serial console: a unix socket server that QEMU connects to as a client, so no output
 * is lost before we attach. Pass `qemuArgs` to QEMU. Emits 'line' (ConsoleLine) and keeps the history.
 */
export class GuestConsole extends EventEmitter {
  readonly lines: ConsoleLine[] = [];
  private server: net.Server;
  private sockets = new Set<net.Socket>();

  private constructor(readonly socketPath: string, server: net.Server) {
    super();
    this.server = server;
    server.on('connection', (s) => this.attach(s));
  }

  static async listen(socketPath: string): Promise<GuestConsole> {
    if (socketPath.includes(',')) throw new Error(`socket path must not contain ',': ${socketPath}`);
    const server = net.createServer();
    const c = new GuestConsole(socketPath, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(socketPath, 0o600);
    return c;
  }

  /** `-chardev socket,id=<id>,path=... -serial chardev:<id>` (QEMU connects to us). */
  qemuArgs(id = 'ser0'): string[] {
    return ['-chardev', `socket,id=${id},path=${this.socketPath}`, '-serial', `chardev:${id}`];
  }

  private attach(s: net.Socket): void {
    this.sockets.add(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        const rec: ConsoleLine = { t: performance.now(), line, event: parseGuestLine(line) };
        this.lines.push(rec);
        this.emit('line', rec);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
  }

  /**
   * Resolves with the first line (from index `from` of the history on) that satisfies `pred`;
   * rejects after `timeoutMs` or when `signal` aborts.
   */
  waitFor(pred: (l: ConsoleLine) => boolean, timeoutMs: number, from = 0, signal?: AbortSignal): Promise<ConsoleLine> {
    for (let i = from; i < this.lines.length; i++) if (pred(this.lines[i])) return Promise.resolve(this.lines[i]);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('line', onLine);
        signal?.removeEventListener('abort', onAbort);
      };
      const onLine = (l: ConsoleLine): void => {
        if (pred(l)) {
          done();
          resolve(l);
        }
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`guest console: no matching line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('line', onLine);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
