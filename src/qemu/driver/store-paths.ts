// Where domain definitions and runtime files live.
//
//   state dir   (persistent)  root: /var/lib/virt-failover
//                             else: $XDG_DATA_HOME/virt-failover (default ~/.local/share/virt-failover)
//                             --state-dir / VIRT_FAILOVER_STATE_DIR override it.
//     domains/NAME.xml        the persistent definitions (canonical XML)
//   runtime dir (0700)        root: /run/virt-failover
//                             else: $XDG_RUNTIME_DIR/virt-failover, or STATE/run when there is no
//                             XDG_RUNTIME_DIR or the state dir was overridden;
//                             VIRT_FAILOVER_RUNTIME_DIR overrides it.
//     NAME.json               status of a started domain (pid, id, state, reason)
//     NAME.pid                QEMU's pid
//     NAME.xml                live XML (ids, aliases, addresses)
//     NAME.log                QEMU's stdout/stderr (appended across starts)
//     locks/NAME.lock         per-domain lock; locks/.store.lock for define and id allocation
//     next-id                 the next domain id
//     UUID/                   per-run private dir (0700) given to QEMU: monitor.sock, ...
import os from 'node:os';
import path from 'node:path';
import { InvalidArgError } from '../../util/errors.js';

export interface StateDirs {
  stateDir: string;
  runtimeDir: string;
}

export interface ResolveDirsOptions {
  /** --state-dir (wins over VIRT_FAILOVER_STATE_DIR). */
  stateDir?: string;
  runtimeDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Effective uid (default process.getuid()); the state and runtime directories must be owned by it. */
  uid?: number;
}

/** sun_path is 108 bytes including the terminating NUL. */
export const UNIX_SOCKET_PATH_MAX = 107;

function absEnv(v: string | undefined): string | undefined {
  return v && path.isAbsolute(v) ? v : undefined; // XDG: relative values are ignored
}

export function resolveStateDirs(opts: ResolveDirsOptions = {}): StateDirs {
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? process.getuid?.() ?? 1000;
  const override = opts.stateDir ?? (env.VIRT_FAILOVER_STATE_DIR || undefined);
  const runtimeOverride = opts.runtimeDir ?? (env.VIRT_FAILOVER_RUNTIME_DIR || undefined);
  if (override !== undefined) {
    const stateDir = path.resolve(override);
    return { stateDir, runtimeDir: path.resolve(runtimeOverride ?? path.join(stateDir, 'run')) };
  }
  if (uid === 0) {
    return { stateDir: '/var/lib/virt-failover', runtimeDir: path.resolve(runtimeOverride ?? '/run/virt-failover') };
  }
  const home = env.HOME || os.homedir();
  const stateDir = path.join(absEnv(env.XDG_DATA_HOME) ?? path.join(home, '.local', 'share'), 'virt-failover');
  const xdgRun = absEnv(env.XDG_RUNTIME_DIR);
  const runtimeDir = runtimeOverride ?? (xdgRun ? path.join(xdgRun, 'virt-failover') : path.join(stateDir, 'run'));
  return { stateDir, runtimeDir: path.resolve(runtimeDir) };
}

/** Longest name a domain may have, in UTF-8 bytes (NAME.xml and its temp files fit NAME_MAX). */
export const DOMAIN_NAME_MAX_BYTES = 200;

/**
 * Names become file names, so some are refused: empty, '.', '..', containing '/',
 * control characters (libvirt refuses '\n'), longer than DOMAIN_NAME_MAX_BYTES, or starting
 * with '.' (our own files are dot-files: locks/.store.lock, locks/.hostdev.lock, temp files).
 */
export function validateDomainName(name: string): void {
  if (name === '') throw new InvalidArgError('domain name must not be empty');
  if (name.includes('/')) throw new InvalidArgError(`name ${name} cannot contain '/'`);
  if (name === '.' || name === '..') throw new InvalidArgError(`domain name '${name}' is not allowed`);
  if (name.startsWith('.')) throw new InvalidArgError(`domain name '${name}' must not start with '.' (names of internal files)`);
  // eslint-disable-next-line no-control-regex
  const ctl = /[\u0000-\u001f\u007f]/.exec(name);
  if (ctl) {
    const hex = ctl[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new InvalidArgError(`invalid char in name: 0x${hex}`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > DOMAIN_NAME_MAX_BYTES) {
    throw new InvalidArgError(`domain name is too long (${bytes} bytes, at most ${DOMAIN_NAME_MAX_BYTES})`);
  }
}

/** Refuses a socket path the kernel cannot bind (> 107 bytes), naming the fix. */
export function checkSocketPath(p: string): void {
  const n = Buffer.byteLength(p);
  if (n > UNIX_SOCKET_PATH_MAX) {
    throw new InvalidArgError(
      `unix socket path '${p}' is ${n} bytes, longer than the ${UNIX_SOCKET_PATH_MAX} a socket address allows; ` +
        'use a shorter --state-dir or set VIRT_FAILOVER_RUNTIME_DIR',
    );
  }
}
