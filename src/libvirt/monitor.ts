// QEMU's monitor of a libvirt domain, through virsh: `qemu-monitor-command` for (read-only) QMP queries and
// `qemu-monitor-event --loop` for events. It satisfies the migration code's MigrationMonitor, so the same
// pre-checks and failover inspection run on a libvirt domain. libvirt marks a domain whose monitor was
// used this way as tainted ('custom-monitor'); it changes nothing else.
import type { ChildProcess } from 'node:child_process';
import { QmpCommandError, QmpDisconnectedError } from '../qemu/monitor/index.js';
import type { MigrationEvent, MigrationMonitor } from '../qemu/migration/index.js';
import { Virsh } from './virsh.js';

/** One line of `virsh qemu-monitor-event`: `event NAME at SECS.USECS for domain 'DOM': DATA|<null>`. */
export function parseEventLine(line: string): (MigrationEvent & { domain: string; seconds: number }) | undefined {
  const m = /^event (\S+) at (\d+(?:\.\d+)?) for domain '(.*?)': (.*)$/.exec(line);
  if (!m) return undefined;
  let data: Record<string, unknown> = {};
  if (m[4] !== '<null>') {
    try {
      const v: unknown = JSON.parse(m[4]!);
      if (v && typeof v === 'object') data = v as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
  return { event: m[1]!, seconds: Number(m[2]), domain: m[3]!, data };
}

/** The events of one virsh process; iteration ends on close() and throws when virsh ends by itself. */
export class VirshEventStream implements AsyncIterable<MigrationEvent> {
  readonly #child: ChildProcess;
  readonly #queue: MigrationEvent[] = [];
  #waiter: { resolve: (v: IteratorResult<MigrationEvent>) => void; reject: (e: unknown) => void } | undefined;
  #ended: { error?: unknown } | undefined;
  #buf = '';
  #stderr = '';

  constructor(child: ChildProcess, accept: (ev: MigrationEvent & { domain: string }) => boolean) {
    this.#child = child;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.#buf += d;
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const ev = parseEventLine(this.#buf.slice(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
        if (ev && accept(ev)) this.#push({ event: ev.event, data: ev.data });
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.#stderr += d));
    child.once('close', (code, signal) => {
      const why = this.#stderr.trim().split('\n').pop() ?? '';
      this.#end({ error: new QmpDisconnectedError(`virsh qemu-monitor-event ended (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}`) });
    });
    child.once('error', (error) => this.#end({ error }));
  }

  /** Adds an event of our own making (a failure libvirt reported but QEMU did not). */
  inject(ev: MigrationEvent): void {
    if (!this.#ended) this.#push(ev);
  }

  #push(ev: MigrationEvent): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ value: ev, done: false });
    } else this.#queue.push(ev);
  }

  #end(how: { error?: unknown }): void {
    if (this.#ended) return;
    this.#ended = how;
    const w = this.#waiter;
    this.#waiter = undefined;
    if (w && how.error) w.reject(how.error);
    else if (w) w.resolve({ value: undefined, done: true });
  }

  close(): void {
    this.#end({});
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
  }

  [Symbol.asyncIterator](): AsyncIterator<MigrationEvent> {
    return {
      next: () => {
        const ev = this.#queue.shift();
        if (ev) return Promise.resolve({ value: ev, done: false });
        if (this.#ended) return this.#ended.error ? Promise.reject(this.#ended.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** QMP of domain `name` on the libvirt connection of `virsh`. */
export class VirshMonitor implements MigrationMonitor {
  constructor(readonly virsh: Virsh, readonly domain: string) {}

  async execute<T = unknown>(cmd: string, args?: Record<string, unknown>, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const request = JSON.stringify(args === undefined ? { execute: cmd } : { execute: cmd, arguments: args });
    const out = await this.virsh.run(['qemu-monitor-command', this.domain, request], { timeoutMs: opts.timeoutMs, signal: opts.signal });
    const reply = JSON.parse(out) as { return?: T; error?: { class?: string; desc?: string } };
    if (reply.error) throw new QmpCommandError(cmd, reply.error.class ?? 'GenericError', reply.error.desc ?? '');
    return reply.return as T;
  }

  /**
   * QEMU events of this domain (or, with `anyDomainNamed`, of the domain that will get this name on a
   * destination that does not have it yet: virsh listens on the whole connection then).
   */
  events(names?: string[] | null, opts: { wholeConnection?: boolean } = {}): VirshEventStream {
    const args = ['qemu-monitor-event', '--loop', ...(opts.wholeConnection ? [] : ['--domain', this.domain])];
    const wanted = names ? new Set(names) : undefined;
    return new VirshEventStream(this.virsh.spawn(args), (ev) => ev.domain === this.domain && (!wanted || wanted.has(ev.event)));
  }
}
