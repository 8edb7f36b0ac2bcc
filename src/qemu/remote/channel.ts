// The source's end of an agent connection: `ssh ... virt-failover agent --stdio`, requests with ids, the
// agent's notifications, and the end of the connection (ssh exited, or its stdout closed) seen at once by
// every pending request and by whoever waits on `lost`.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OperationFailedError } from '../../util/errors.js';
import {
  AGENT_PROTOCOL,
  type AgentMethod,
  type AgentNotice,
  type AgentResponse,
  type HelloResult,
  TOOL_VERSION,
  fromWireError,
  lineSplitter,
  versionMismatch,
} from './protocol.js';
import { type SshTarget, agentSshArgs, forwardUnixSocket, sshBinary } from './ssh.js';

const STDERR_KEEP = 8 * 1024;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
}

export interface OpenChannelOptions {
  /** Make the ssh a connection master so that migration streams can be tunnelled through it. */
  tunnelled?: boolean;
  /** Deadline for the connection and the hello exchange (default 30 s). */
  timeoutMs?: number;
  /** Extra environment for ssh (e.g. SSH_AUTH_SOCK is inherited anyway). */
  env?: NodeJS.ProcessEnv;
}

export class AgentChannel {
  readonly target: SshTarget;
  /** What the agent said in the hello exchange. */
  remote: HelloResult = { protocol: 0, version: '', hostname: '' };
  /** Settles (never rejects) with the reason once the connection is gone. */
  readonly lost: Promise<string>;
  #child: ChildProcess;
  #dir: string;
  #control: string | undefined;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Set<(n: AgentNotice) => void>();
  #stderr = '';
  #lostReason: string | undefined;
  #setLost!: (why: string) => void;
  #forwards = 0;

  private constructor(target: SshTarget, child: ChildProcess, dir: string, control: string | undefined) {
    this.target = target;
    this.#child = child;
    this.#dir = dir;
    this.#control = control;
    this.lost = new Promise<string>((resolve) => (this.#setLost = resolve));
  }

  /** Connects, exchanges versions; a mismatch or an unreachable host is a clear error. */
  static async open(target: SshTarget, opts: OpenChannelOptions = {}): Promise<AgentChannel> {
    // Private dir for the control socket and the tunnel's local sockets (short: sun_path is 108 bytes).
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-ssh-'));
    await chmod(dir, 0o700);
    const control = opts.tunnelled ? path.join(dir, 'ctl') : undefined;
    const child = spawn(sshBinary(), agentSshArgs(target, control), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    const ch = new AgentChannel(target, child, dir, control);
    ch.#wire();
    try {
      const hello = await ch.request<HelloResult>('hello', { protocol: AGENT_PROTOCOL, version: TOOL_VERSION }, { timeoutMs: opts.timeoutMs ?? 30_000 });
      const mismatch = versionMismatch({ protocol: AGENT_PROTOCOL, version: TOOL_VERSION }, hello, target.label);
      if (mismatch) throw mismatch;
      ch.remote = hello;
      return ch;
    } catch (e) {
      await ch.close();
      throw e;
    }
  }

  #wire(): void {
    const child = this.#child;
    child.stdout!.on('data', lineSplitter((line) => this.#onLine(line)));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (this.#stderr = (this.#stderr + d).slice(-STDERR_KEEP)));
    child.stdin!.on('error', () => undefined); // EPIPE after the agent went: seen as 'close' below
    child.once('error', (e) => this.#end(`cannot run ssh: ${e.message}`));
    child.once('close', (code, signal) => {
      const said = this.#stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
      this.#end(`ssh ${signal ? `was killed (${signal})` : `exited with status ${code}`}${said ? `: ${said}` : ''}`);
    });
  }

  #onLine(line: string): void {
    let msg: AgentResponse | AgentNotice;
    try {
      msg = JSON.parse(line) as AgentResponse | AgentNotice;
    } catch {
      this.#stderr = (this.#stderr + `(not JSON from the agent) ${line}\n`).slice(-STDERR_KEEP);
      return;
    }
    if ('notify' in msg) {
      for (const l of this.#listeners) l(msg);
      return;
    }
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if ('error' in msg) p.reject(fromWireError(msg.error));
    else p.resolve(msg.result);
  }

  #end(why: string): void {
    if (this.#lostReason !== undefined) return;
    this.#lostReason = why;
    const err = new OperationFailedError(`lost the connection to ${this.target.label}: ${why}`);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    this.#setLost(why);
  }

  /** Why the connection is gone, or undefined while it is up. */
  get lostReason(): string | undefined {
    return this.#lostReason;
  }

  request<T = unknown>(method: AgentMethod, params?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.#lostReason !== undefined) {
      return Promise.reject(new OperationFailedError(`lost the connection to ${this.target.label}: ${this.#lostReason}`));
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (opts.timeoutMs) {
        p.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new OperationFailedError(`${this.target.label} did not answer '${method}' within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.#pending.set(id, p);
      this.#child.stdin!.write(`${JSON.stringify({ id, method, params })}\n`);
    });
  }

  /** Subscribes to the agent's notifications; returns the unsubscribe function. */
  onNotice(fn: (n: AgentNotice) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** --tunnelled: forwards a new local socket to `remote` through this connection; returns its path. */
  async forward(remote: string): Promise<string> {
    if (!this.#control) throw new OperationFailedError('this connection was not opened for tunnelling');
    const local = path.join(this.#dir, `mig-${++this.#forwards}.sock`);
    await forwardUnixSocket(this.target, this.#control, local, remote);
    return local;
  }

  /**
   * Ends the session: stdin closed (the agent sees EOF, releases what it holds and exits), ssh waited
   * for (bounded), then killed if it is still there; the private dir removed.
   */
  async close(waitMs = 10_000): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
      await this.lost;
      clearTimeout(timer);
    }
    await rm(this.#dir, { recursive: true, force: true });
  }
}
