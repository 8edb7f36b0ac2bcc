// QMP event subscriptions. Each EventStream keeps its own FIFO (like qemu.qmp's EventListener),
// is filled from the moment it is created, and never goes silent: when the session ends it
// hands out what it already holds and then throws the error that ended the session.
import { QmpTimeoutError } from './errors.js';

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** QEMU's clock, when QEMU emitted the event. */
  timestamp: { seconds: number; microseconds: number };
  /** performance.now() (ms) when the line was read. */
  receivedAt: number;
}

export type QmpEventFilter = (e: QmpEvent) => boolean;

interface Waiter {
  resolve: (e: QmpEvent) => void;
  reject: (err: unknown) => void;
  timer?: NodeJS.Timeout;
}

type Ending =
  | { kind: 'closed'; error: unknown } // close() by the owner: the iterator ends quietly
  | { kind: 'aborted'; error: unknown } // the signal aborted: the iterator ends quietly
  | { kind: 'session'; error: unknown }; // the monitor went away: the iterator throws

export class EventStream implements AsyncIterable<QmpEvent> {
  readonly names: ReadonlySet<string> | null;
  #filter: QmpEventFilter | undefined;
  #queue: QmpEvent[] = [];
  #waiters: Waiter[] = [];
  #ending: Ending | undefined;
  #signal: AbortSignal | undefined;
  #onAbort = (): void => this.#finish({ kind: 'aborted', error: this.#signal?.reason }, true);
  #unsubscribe: (s: EventStream) => void;

  /** Made by Monitor.events(); `unsubscribe` is called once, when the stream ends. */
  constructor(
    names: readonly string[] | null | undefined,
    filter: QmpEventFilter | undefined,
    signal: AbortSignal | undefined,
    unsubscribe: (s: EventStream) => void,
  ) {
    this.names = names ? new Set(names) : null;
    this.#filter = filter;
    this.#unsubscribe = unsubscribe;
    this.#signal = signal;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** True once the stream takes no more events (it may still hold some, after a disconnect). */
  get ended(): boolean {
    return this.#ending !== undefined;
  }

  /** Events received and not yet taken. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Called by the monitor for every event; a throwing filter counts as "no match". */
  deliver(e: QmpEvent): void {
    if (this.#ending) return;
    if (this.names && !this.names.has(e.event)) return;
    if (this.#filter) {
      try {
        if (!this.#filter(e)) return;
      } catch {
        return;
      }
    }
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(e);
    } else {
      this.#queue.push(e);
    }
  }

  /** Called by the monitor when the session ends; queued events stay readable. */
  end(error: unknown): void {
    this.#finish({ kind: 'session', error }, false);
  }

  /**
   * The next matching event. Rejects with QmpTimeoutError after `timeoutMs` (the stream stays
   * open), with the session's error once the monitor has gone and the queue is empty
   * (QmpDisconnectedError or QmpProtocolError), with the signal's reason once aborted, and
   * with an AbortError once close() was called.
   */
  next(timeoutMs?: number): Promise<QmpEvent> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ending) return Promise.reject(this.#ending.error);
    return new Promise<QmpEvent>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new QmpTimeoutError(`timed out waiting for QEMU event ${this.#describe()} after ${timeoutMs} ms`, timeoutMs));
        }, timeoutMs);
      }
      this.#waiters.push(w);
    });
  }

  /** Stops the subscription and drops queued events. Idempotent. */
  close(): void {
    this.#finish({ kind: 'closed', error: new DOMException('event stream closed', 'AbortError') }, true);
  }

  /**
   * `for await` yields events until close() or the signal aborts (then it ends quietly), and
   * throws the session's error when the monitor disconnects. Leaving the loop closes the stream.
   */
  [Symbol.asyncIterator](): AsyncIterator<QmpEvent, undefined> {
    return {
      next: async (): Promise<IteratorResult<QmpEvent, undefined>> => {
        try {
          return { value: await this.next(), done: false };
        } catch (err) {
          if (this.#ending && this.#ending.kind !== 'session' && err === this.#ending.error) {
            return { value: undefined, done: true };
          }
          throw err;
        }
      },
      return: async (): Promise<IteratorResult<QmpEvent, undefined>> => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  #finish(ending: Ending, dropQueue: boolean): void {
    if (dropQueue) this.#queue = [];
    if (this.#ending) return;
    this.#ending = ending;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#unsubscribe(this);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(ending.error);
    }
  }

  #describe(): string {
    return this.names ? [...this.names].map((n) => `'${n}'`).join(', ') : '(any)';
  }
}
