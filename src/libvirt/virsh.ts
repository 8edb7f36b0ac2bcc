// libvirt's own client, `virsh`, run with argument arrays (never a shell): the one way this project talks
// to a libvirt daemon (no second implementation of its wire protocol). virsh reports a failure as
// `error: CONTEXT` then `error: LIBVIRT MESSAGE`; the last one becomes a typed error with libvirt's text.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  ConfigUnsupportedError,
  InternalError,
  InvalidArgError,
  LibvirtError,
  NoDomainError,
  OperationFailedError,
  OperationInvalidError,
  OperationUnsupportedError,
  type VirtFailoverError,
  XmlError,
} from '../util/errors.js';

/** libvirt's message prefixes that have a class of ours (util/errors.ts mirrors libvirt's codes). */
const PREFIXES: readonly [string, (detail: string) => VirtFailoverError][] = [
  ['Domain not found: ', (d) => new NoDomainError(d)],
  ['Requested operation is not valid: ', (d) => new OperationInvalidError(d)],
  ['operation failed: ', (d) => new OperationFailedError(d)],
  ['internal error: ', (d) => new InternalError(d)],
  ['XML error: ', (d) => new XmlError(d)],
  ['unsupported configuration: ', (d) => new ConfigUnsupportedError(d)],
  ['Operation not supported: ', (d) => new OperationUnsupportedError(d)],
  ['invalid argument: ', (d) => new InvalidArgError(d)],
];

/** The typed error for what virsh wrote to stderr (exit status non-zero). */
export function virshError(stderr: string, args: readonly string[]): VirtFailoverError {
  const lines = stderr.replace(/\s+$/, '').split('\n');
  const errorLines = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith('error: '));
  if (errorLines.length === 0) return new LibvirtError(`virsh ${args[0] ?? ''} failed: ${stderr.trim() || 'no message'}`);
  const [last, at] = errorLines[errorLines.length - 1]!;
  // libvirt's message may continue on the following lines (an XML parse error shows the line and a caret).
  const text = [last.slice('error: '.length), ...lines.slice(at + 1)].join('\n');
  const domain = /^failed to get domain '(.*)'$/.exec(text);
  if (domain) return new NoDomainError(`no domain with matching name '${domain[1]}'`);
  for (const [prefix, make] of PREFIXES) if (text.startsWith(prefix)) return make(text.slice(prefix.length));
  return new LibvirtError(text);
}

export interface VirshRunOptions {
  /** Written to virsh's stdin (e.g. `define /dev/stdin`). */
  input?: string | Uint8Array;
  /** Default 60 s; a migration passes its own. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The virsh executable: VIRT_FAILOVER_VIRSH or `virsh` on PATH. */
export function virshBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIRT_FAILOVER_VIRSH || 'virsh';
}

function notInstalled(binary: string): LibvirtError {
  return new LibvirtError(`cannot run '${binary}': libvirt's client tools are needed for --connect (Debian: apt-get install libvirt-clients)`);
}

/** virsh bound to one connection URI. */
export class Virsh {
  readonly binary: string;
  constructor(readonly uri: string, binary?: string) {
    this.binary = binary ?? virshBinary();
  }

  argv(args: readonly string[]): string[] {
    return ['-c', this.uri, ...args];
  }

  /** Runs one virsh command; resolves with its stdout, rejects with a typed error. */
  run(args: readonly string[], opts: VirshRunOptions = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.binary,
        this.argv(args),
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 60_000, signal: opts.signal, env: { ...process.env, LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          if (e.code === 'ENOENT') return reject(notInstalled(this.binary));
          if (e.name === 'AbortError') return reject(err);
          if (e.killed) return reject(new OperationFailedError(`virsh ${args[0] ?? ''} did not finish within ${opts.timeoutMs ?? 60_000} ms`));
          reject(virshError(stderr, args));
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  }

  /** A long-running virsh (events, a migration): the caller reads its output and ends it. */
  spawn(args: readonly string[]): ChildProcess {
    const child = spawn(this.binary, this.argv(args), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    child.on('error', () => undefined); // reported through 'exit' / the caller's spawn error check
    return child;
  }

  /** Runs `spawn` to its end: stdout, or the typed error. */
  static finished(child: ChildProcess, args: readonly string[], binary: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? notInstalled(binary) : e));
      child.once('close', (code) => (code === 0 ? resolve(out) : reject(virshError(err, args))));
    });
  }
}
