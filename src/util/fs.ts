// File helpers: bounded reads with libvirt-style messages, atomic writes.
import { closeSync, constants as fsc, fchmodSync, fstatSync, fsyncSync, lstatSync, openSync, writeSync, renameSync, unlinkSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SystemError } from './errors.js';
import { XML_MAX_BYTES } from './xml.js';

/** strerror()'s text for the common errno codes (as libvirt's messages end), else Node's message. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': return 'Permission denied';
    case 'EISDIR': return 'Is a directory';
    case 'ENOTDIR': return 'Not a directory';
    case 'ENOSPC': return 'No space left on device';
    case 'EDQUOT': return 'Disk quota exceeded';
    case 'EROFS': return 'Read-only file system';
    default: return (e as Error).message;
  }
}

/** Read a whole file of at most `maxBytes` (virsh reads XML files up to 10 MiB). */
export async function readFileBounded(file: string, maxBytes = XML_MAX_BYTES): Promise<Buffer> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw new SystemError(`Failed to open file '${file}': ${errnoText(e)}`, { cause: e });
  }
  if (st.isDirectory()) throw new SystemError(`Failed to read file '${file}': Is a directory`);
  if (st.isFile() && st.size > maxBytes) {
    throw new SystemError(`Failed to read file '${file}': file is larger than ${maxBytes} bytes`);
  }
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new SystemError(`Failed to open file '${file}': ${errnoText(e)}`, { cause: e });
  }
  try {
    // Read at most maxBytes+1 so pipes and growing files are bounded too.
    const buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(st.size + 1, 65536)));
    let len = 0;
    let chunk = buf;
    while (true) {
      if (len === chunk.length) {
        if (chunk.length > maxBytes) break;
        const bigger = Buffer.alloc(Math.min(maxBytes + 1, chunk.length * 2));
        chunk.copy(bigger, 0, 0, len);
        chunk = bigger;
      }
      const { bytesRead } = await fh.read(chunk, len, chunk.length - len, null);
      if (bytesRead === 0) break;
      len += bytesRead;
    }
    if (len > maxBytes) throw new SystemError(`Failed to read file '${file}': file is larger than ${maxBytes} bytes`);
    return chunk.subarray(0, len);
  } catch (e) {
    if (e instanceof SystemError) throw e;
    throw new SystemError(`Failed to read file '${file}': ${errnoText(e)}`, { cause: e });
  } finally {
    await fh.close();
  }
}

/** Write via temp file + fsync + rename, so a crash never leaves a half-written file. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new SystemError(`Failed to write file '${file}': ${errnoText(e)}`, { cause: e });
  }
}

/**
 * Where our caches live: /var/cache/virt-failover as root (never root-owned files in a
 * $HOME that may be a user's, as with sudo), else $XDG_CACHE_HOME/virt-failover or
 * ~/.cache/virt-failover. VIRT_FAILOVER_CACHE_DIR (absolute) overrides both.
 */
export function cacheBaseDir(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 1000): string {
  const override = env.VIRT_FAILOVER_CACHE_DIR;
  if (override && path.isAbsolute(override)) return override;
  if (uid === 0) return '/var/cache/virt-failover';
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says relative values are to be ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'virt-failover');
}

/**
 * Refuses a directory we would keep definitions, locks or sockets in unless it is really ours:
 * not a symbolic link, a directory, owned by our effective uid, not writable by group or
 * others. With `mode`, it is then set to that mode through a descriptor opened without
 * following links (so a chmod never lands on a link's target).
 */
export function checkPrivateDir(dir: string, what: string, opts: { mode?: number; uid?: number } = {}): void {
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  const refuse = (why: string): never => {
    throw new SystemError(`refusing to use ${what} '${dir}': ${why}`);
  };
  let fd: number;
  try {
    if (lstatSync(dir).isSymbolicLink()) refuse('it is a symbolic link');
    fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  } catch (e) {
    if (e instanceof SystemError) throw e;
    throw new SystemError(`cannot open ${what} '${dir}': ${errnoText(e)}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isDirectory()) refuse('not a directory');
    if (st.uid !== uid) refuse(`it is owned by uid ${st.uid}, not by uid ${uid}`);
    if ((st.mode & 0o022) !== 0) refuse(`it is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`);
    if (opts.mode !== undefined && (st.mode & 0o7777) !== opts.mode) fchmodSync(fd, opts.mode);
  } finally {
    closeSync(fd);
  }
}
