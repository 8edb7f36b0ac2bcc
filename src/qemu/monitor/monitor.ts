// QMP client over a unix socket: greeting, qmp_capabilities, execute with ids, events.
// One state field ('idle' | 'connecting' | 'running' | 'disconnecting'); guarded operations throw
// QmpStateError(current, required); any failure rejects everything pending with the error that
// ended the session and brings the monitor back to 'idle'.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type MonitorState,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from './errors.js';
import { EventStream, type QmpEvent, type QmpEventFilter } from './events.js';
import { LineSplitter } from './lines.js';

export * from './errors.js';
export { EventStream, type QmpEvent, type QmpEventFilter } from './events.js';
export { QMP_MAX_LINE_BYTES } from './lines.js';

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  /** Capabilities QEMU offers (e.g. 'oob'); not necessarily enabled. */
  capabilities: string[];
}

export interface ConnectOptions {
  /** Deadline for socket connect + greeting + qmp_capabilities (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Capabilities to enable in qmp_capabilities, e.g. ['oob']; default none. */
  capabilities?: string[];
  /**
   * Retry a refused connect (QEMU has bound the socket but is not listening yet) every
   * intervalMs for up to forMs; false: fail at once. Default { intervalMs: 10, forMs: 2000 }.
   */
  retryRefused?: { intervalMs: number; forMs: number } | false;
}

export interface ExecuteOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Send as 'exec-oob' (needs the 'oob' capability enabled at connect). */
  oob?: boolean;
}

export interface WaitEventOptions {
  filter?: QmpEventFilter;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRY_REFUSED = { intervalMs: 10, forMs: 2000 } as const;

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clip(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

function parseGreeting(msg: JsonObject, line: string): QmpGreeting {
  const qmp = msg.QMP;
  const version = isObject(qmp) ? qmp.version : undefined;
  const qemu = isObject(version) ? version.qemu : undefined;
  const caps = isObject(qmp) ? qmp.capabilities : undefined;
  if (
    !isObject(version) ||
    !isObject(qemu) ||
    !['major', 'minor', 'micro'].every((k) => typeof qemu[k] === 'number') ||
    !Array.isArray(caps) ||
    !caps.every((c) => typeof c === 'string')
  ) {
    throw new QmpProtocolError(`unexpected QMP greeting '${clip(line)}'`);
  }
  return {
    version: {
      qemu: { major: qemu.major as number, minor: qemu.minor as number, micro: qemu.micro as number },
      package: typeof version.package === 'string' ? version.package : '',
    },
    capabilities: caps as string[],
  };
}

function parseEvent(msg: JsonObject, line: string): QmpEvent {
  const ts = msg.timestamp;
  if (
    typeof msg.event !== 'string' ||
    (msg.data !== undefined && !isObject(msg.data)) ||
    !isObject(ts) ||
    typeof ts.seconds !== 'number' ||
    typeof ts.microseconds !== 'number'
  ) {
    throw new QmpProtocolError(`malformed QMP event '${clip(line)}'`);
  }
  return {
    event: msg.event,
    data: (msg.data as JsonObject | undefined) ?? {},
    timestamp: { seconds: ts.seconds, microseconds: ts.microseconds },
    receivedAt: performance.now(),
  };
}

export class Monitor {
  readonly socketPath: string;
  /** Valid once connect() has resolved. */
  greeting!: QmpGreeting;
  /** Capabilities enabled by qmp_capabilities. */
  capabilities: readonly string[] = [];
  /**
   * Resolves (never rejects) once the session is over and the state is back to 'idle':
   * undefined after close(), else the error that ended it (QmpDisconnectedError on EOF or
   * socket error, QmpProtocolError on garbage).
   */
  readonly onClose: Promise<Error | undefined>;

  #state: MonitorState = 'idle';
  #socket: net.Socket | undefined;
  #socketClosed = false;
  #splitter = new LineSplitter();
  #nextId = 0;
  #pending = new Map<string, Pending>();
  /** Ids given up on (timeout, abort): their late replies are dropped, not protocol errors. */
  #abandoned = new Set<string>();
  #streams = new Set<EventStream>();
  #greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: unknown) => void } | undefined;
  #endError: Error | undefined;
  #tornDown = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #resolveClose!: (e: Error | undefined) => void;

  private constructor(socketPath: string) {
    this.socketPath = socketPath;
    this.onClose = new Promise((resolve) => {
      this.#resolveClose = resolve;
    });
  }

  get state(): MonitorState {
    return this.#state;
  }

  /**
   * Connects, reads the greeting and negotiates capabilities. Rejects with QmpConnectError
   * (socket unreachable, closed before the handshake ended), QmpProtocolError (bad greeting,
   * garbage, capabilities refused), QmpTimeoutError, or the signal's reason.
   */
  static async connect(socketPath: string, opts: ConnectOptions = {}): Promise<Monitor> {
    const m = new Monitor(socketPath);
    await m.#connect(opts);
    return m;
  }

  async #connect(opts: ConnectOptions): Promise<void> {
    this.#require('idle');
    const { signal } = opts;
    if (signal?.aborted) throw signal.reason;
    this.#state = 'connecting';
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timer = setTimeout(
      () =>
        this.#teardown(
          new QmpTimeoutError(`timed out connecting to QEMU monitor '${this.socketPath}' after ${timeoutMs} ms`, timeoutMs),
        ),
      timeoutMs,
    );
    const onAbort = (): void => this.#teardown(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const greeting = new Promise<QmpGreeting>((resolve, reject) => {
        this.#greetingWaiter = { resolve, reject };
      });
      const retry = opts.retryRefused === undefined ? DEFAULT_RETRY_REFUSED : opts.retryRefused;
      this.#open(retry ? { ...retry, until: performance.now() + retry.forMs } : undefined);
      this.greeting = await greeting;
      const enable = opts.capabilities ?? [];
      try {
        await this.#command('qmp_capabilities', enable.length ? { enable } : undefined, {});
      } catch (err) {
        if (err instanceof QmpCommandError) {
          throw new QmpProtocolError(`QMP capabilities negotiation failed: ${err.desc}`, { cause: err });
        }
        throw err;
      }
      this.capabilities = [...enable];
      this.#state = 'running';
    } catch (err) {
      this.#teardown(err instanceof Error ? err : new QmpConnectError(String(err), this.socketPath));
      await this.onClose;
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Opens the socket. QEMU creates the socket file (bind) before it listens, so a connect in
   * between is refused: with `retry`, ECONNREFUSED is retried every intervalMs until `until`.
   */
  #open(retry: { intervalMs: number; until: number } | undefined): void {
    if (this.#tornDown) return;
    const socket = net.createConnection({ path: this.socketPath });
    this.#socket = socket;
    let connected = false;
    socket.on('connect', () => {
      connected = true;
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      if (this.#socket === socket) this.#teardown(this.#eofError());
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.#socket !== socket) return;
      if (!connected && retry && err.code === 'ECONNREFUSED' && performance.now() < retry.until && !this.#tornDown) {
        this.#socket = undefined;
        socket.destroy();
        this.#retryTimer = setTimeout(() => this.#open(retry), retry.intervalMs);
        return;
      }
      this.#teardown(this.#socketError(err));
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#onSocketClose();
    });
  }

  /**
   * Runs one command and resolves with its `return` value. Rejects with QmpCommandError,
   * QmpTimeoutError (the reply, if it comes later, is dropped), the signal's reason,
   * QmpStateError when not 'running', or the session's error if the monitor goes away.
   */
  async execute<T = unknown>(cmd: string, args?: Record<string, unknown>, opts: ExecuteOptions = {}): Promise<T> {
    this.#require('running');
    return (await this.#command(cmd, args, opts)) as T;
  }

  /**
   * Subscribes now (so call it before the command that causes the event) to events named in
   * `names` (null/undefined: all) that pass `filter`. See EventStream for how it ends.
   * Throws QmpStateError when not 'running'.
   */
  events(names?: string[] | null, filter?: QmpEventFilter, opts: { signal?: AbortSignal } = {}): EventStream {
    this.#require('running');
    const s = new EventStream(names, filter, opts.signal, (x) => this.#streams.delete(x));
    if (!s.ended) this.#streams.add(s);
    return s;
  }

  /**
   * The first event `name` (passing `filter`) from now on. Subscribes at call time, so it may
   * be created before the command that causes the event; an unawaited rejection of the
   * returned promise is not reported as unhandled.
   */
  waitEvent(name: string, opts: WaitEventOptions = {}): Promise<QmpEvent> {
    let s: EventStream;
    try {
      s = this.events([name], opts.filter, { signal: opts.signal });
    } catch (err) {
      return Promise.reject(err);
    }
    const p = s.next(opts.timeoutMs).finally(() => s.close());
    p.catch(() => undefined);
    return p;
  }

  /** Ends the session: pending commands and streams get QmpDisconnectedError. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'idle') return;
    this.#teardown(undefined);
    await this.onClose;
  }

  #require(required: MonitorState): void {
    if (this.#state !== required) throw new QmpStateError(this.#state, required);
  }

  #command(cmd: string, args: Record<string, unknown> | undefined, opts: ExecuteOptions): Promise<unknown> {
    const { signal, timeoutMs } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = `vf-${++this.#nextId}`;
    const msg: JsonObject = { [opts.oob ? 'exec-oob' : 'execute']: cmd };
    if (args !== undefined) msg.arguments = args;
    msg.id = id;
    let line: string;
    try {
      line = `${JSON.stringify(msg)}\n`;
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<unknown>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const abandon = (err: unknown): void => {
        if (!this.#pending.has(id)) return;
        this.#pending.delete(id);
        this.#abandoned.add(id);
        cleanup();
        reject(err);
      };
      const onAbort = (): void => abandon(signal?.reason);
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.#pending.set(id, { command: cmd, resolve, reject, cleanup });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () =>
            abandon(new QmpTimeoutError(`timed out waiting for reply to QEMU command '${cmd}' after ${timeoutMs} ms`, timeoutMs)),
          timeoutMs,
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#socket?.write(line);
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#tornDown) return;
    try {
      this.#splitter.push(chunk, (line) => {
        if (!this.#tornDown) this.#onLine(line);
      });
    } catch (err) {
      this.#teardown(err instanceof Error ? err : new QmpProtocolError(String(err)));
    }
  }

  #onLine(line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      throw new QmpProtocolError(`cannot parse json ${clip(line)}: ${(err as Error).message}`, { cause: err });
    }
    if (!isObject(msg)) throw new QmpProtocolError(`cannot parse json ${clip(line)}: not a JSON object`);

    if (this.#greetingWaiter) {
      const g = parseGreeting(msg, line);
      const w = this.#greetingWaiter;
      this.#greetingWaiter = undefined;
      w.resolve(g);
      return;
    }
    if ('event' in msg) {
      const e = parseEvent(msg, line);
      for (const s of [...this.#streams]) s.deliver(e);
      return;
    }
    if (('return' in msg || 'error' in msg) && typeof msg.id === 'string') {
      const p = this.#pending.get(msg.id);
      if (!p) {
        if (this.#abandoned.delete(msg.id)) return;
        throw new QmpProtocolError(`Unexpected JSON reply '${clip(line)}'`);
      }
      this.#pending.delete(msg.id);
      p.cleanup();
      if ('return' in msg) {
        p.resolve(msg.return);
        return;
      }
      const e = msg.error;
      if (!isObject(e) || typeof e.class !== 'string' || typeof e.desc !== 'string') {
        p.reject(new QmpProtocolError(`malformed QMP error reply '${clip(line)}'`));
        return;
      }
      p.reject(new QmpCommandError(p.command, e.class, e.desc));
      return;
    }
    throw new QmpProtocolError(`Unexpected JSON reply '${clip(line)}'`);
  }

  #eofError(): Error {
    return this.#state === 'connecting'
      ? new QmpConnectError('QEMU monitor closed before the QMP handshake finished', this.socketPath)
      : new QmpDisconnectedError();
  }

  #socketError(err: Error): Error {
    if (this.#state !== 'connecting') return new QmpDisconnectedError(undefined, { cause: err });
    return new QmpConnectError(`failed to connect to monitor socket '${this.socketPath}': ${err.message}`, this.socketPath, {
      cause: err,
    });
  }

  /**
   * The one way out of a session: `err` undefined for close(), else the failure. Rejects
   * everything waiting, destroys the socket; 'idle' follows when the socket has closed.
   */
  #teardown(err: Error | undefined): void {
    if (this.#tornDown) return;
    this.#tornDown = true;
    this.#state = 'disconnecting';
    this.#endError = err;
    clearTimeout(this.#retryTimer);
    const reason = err ?? new QmpDisconnectedError('QEMU monitor was closed');
    if (this.#greetingWaiter) {
      this.#greetingWaiter.reject(reason);
      this.#greetingWaiter = undefined;
    }
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#abandoned.clear();
    for (const p of pending) {
      p.cleanup();
      p.reject(reason);
    }
    for (const s of [...this.#streams]) s.end(reason);
    this.#streams.clear();
    if (!this.#socket || this.#socketClosed) this.#finishClose();
    else this.#socket.destroy();
  }

  #onSocketClose(): void {
    this.#socketClosed = true;
    if (!this.#tornDown) this.#teardown(this.#eofError());
    else this.#finishClose();
  }

  #finishClose(): void {
    if (this.#state === 'idle') return;
    this.#state = 'idle';
    this.#resolveClose(this.#endError);
  }
}
