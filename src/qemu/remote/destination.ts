// The other host as the source's migration sees it: an OutgoingDestination whose every call is a request
// to the agent, and whose destination handle (monitor, uri, kill, exited) is the agent's QEMU seen through
// the connection. Losing the connection counts as losing the destination QEMU: the agent kills it when its
// stdin closes, so the run cancels on the source and the guest stays there.
import os from 'node:os';
import type { DomainSummary, IncomingRequest, OutgoingDestination } from '../driver/index.js';
import type { DestinationHandle, MigrationEvent, MigrationMonitor } from '../migration/index.js';
import type { AgentChannel } from './channel.js';
import type { AgentNotice } from './protocol.js';

interface StartReply {
  attempt: number;
  uri: string;
  socket?: string;
}

/** Events of one attempt's QEMU, forwarded by the agent; throws when the connection or QEMU goes. */
function remoteEvents(ch: AgentChannel, attempt: number, names: string[] | null | undefined): AsyncIterable<MigrationEvent> & { close(): void } {
  const queue: MigrationEvent[] = [];
  let wake: (() => void) | undefined;
  let end: { error?: Error } | undefined;
  const stop = (e: { error?: Error }) => {
    if (end) return;
    end = e;
    unsubscribe();
    wake?.();
  };
  const unsubscribe = ch.onNotice((n: AgentNotice) => {
    if (n.attempt !== attempt) return;
    if (n.notify === 'exit') stop({ error: new Error(`the destination QEMU exited (${n.signal ? `signal ${n.signal}` : `code ${n.code}`})`) });
    else if (!names || names.includes(n.event.event)) {
      queue.push({ event: n.event.event, data: n.event.data ?? {} } as MigrationEvent);
      wake?.();
    }
  });
  void ch.lost.then((why) => stop({ error: new Error(`lost the connection to ${ch.target.label}: ${why}`) }));
  return {
    close: () => stop({}),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const ev = queue.shift();
        if (ev) {
          yield ev;
          continue;
        }
        if (end) {
          if (end.error) throw end.error;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
}

export class RemoteDestination implements OutgoingDestination {
  readonly label: string;
  #ch: AgentChannel;
  #tunnelled: boolean;

  constructor(ch: AgentChannel, opts: { tunnelled?: boolean } = {}) {
    this.#ch = ch;
    this.label = ch.target.label;
    this.#tunnelled = !!opts.tunnelled;
  }

  async prepare(req: IncomingRequest): Promise<void> {
    await this.#ch.request('prepare', { ...req, tunnelled: this.#tunnelled, from: os.hostname() }, { timeoutMs: 120_000 });
  }

  async start(opts: { signal?: AbortSignal } = {}): Promise<DestinationHandle> {
    opts.signal?.throwIfAborted();
    const ch = this.#ch;
    const r = await ch.request<StartReply>('start', {}, { timeoutMs: 120_000 });
    const exited = new Promise<{ code: number | null; signal: string | null } | { detail: string }>((resolve) => {
      const off = ch.onNotice((n) => {
        if (n.notify === 'exit' && n.attempt === r.attempt) {
          off();
          resolve({ code: n.code, signal: n.signal });
        }
      });
      void ch.lost.then((why) => {
        off();
        resolve({ detail: `its SSH connection ${ch.target.label} is gone: ${why}` });
      });
    });
    const monitor: MigrationMonitor = {
      execute: <T>(cmd: string, args?: Record<string, unknown>, o?: { timeoutMs?: number }) =>
        ch.request<T>('qmp', { attempt: r.attempt, execute: cmd, arguments: args }, { timeoutMs: o?.timeoutMs ?? 10_000 }),
      events: (names) => remoteEvents(ch, r.attempt, names),
    };
    let uri = r.uri;
    try {
      if (this.#tunnelled) {
        if (!r.socket) throw new Error('the agent did not name its migration socket');
        uri = `unix:${await ch.forward(r.socket)}`;
      }
    } catch (e) {
      await ch.request('kill', { attempt: r.attempt }).catch(() => undefined);
      throw e;
    }
    let killed: Promise<void> | undefined;
    return {
      monitor,
      uri,
      exited,
      kill: () =>
        (killed ??= (async () => {
          if (ch.lostReason !== undefined) return; // the agent kills it on EOF
          await ch.request('kill', { attempt: r.attempt }, { timeoutMs: 30_000 }).catch(() => undefined);
        })()),
    };
  }

  finish(): Promise<DomainSummary> {
    return this.#ch.request<DomainSummary>('finish', {}, { timeoutMs: 60_000 });
  }

  async abort(): Promise<void> {
    if (this.#ch.lostReason !== undefined) return;
    await this.#ch.request('abort', {}, { timeoutMs: 60_000 });
  }
}
