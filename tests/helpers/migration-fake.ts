// A fake world for migrateFailover unit tests: a virtual clock with its own timers, and fake source and
// destination monitors that replay a recorded QMP event script (tests/data/migration/*.json). Nothing
// waits on real time: the driver advances the clock to the next scheduled thing once the code under
// test has gone idle (all microtasks and immediates drained).
import type { DestinationHandle, MigrationEvent, MigrationMonitor, MigrationTimers } from '../../src/qemu/migration/migration.js';

type Json = Record<string, unknown>;

/** One scripted step: an event on one side, the destination's exit, or the caller's abort. */
export interface ScriptStep {
  /** ms after the command that triggers the script (migrate: t=0 of the recorded run). */
  at: number;
  side?: 'src' | 'dst';
  event?: string;
  data?: Json;
  /** Destination process exit, e.g. { "signal": "SIGKILL" } or { "code": 1 }. */
  exit?: { code?: number; signal?: string };
  abort?: string;
  /** The source monitor's connection drops. */
  lose?: string;
}

export interface Scenario {
  name: string;
  from: string;
  options?: Json;
  source: {
    status: { running: boolean; status: string };
    /** Top-level devices; a key with an array is a bridge holding those devices. */
    pci: Record<string, string[] | null>;
    negotiated?: string[];
    macs?: Record<string, string>;
  };
  destination?: { pci?: Record<string, string[] | null>; startFails?: string };
  /** Command name -> steps played when the source gets it. */
  script: Record<string, ScriptStep[]>;
  /** Source query-migrate replies by current status; an array is consumed in order (last one repeats). */
  queryMigrate?: Record<string, Json | Json[]>;
  expect: Json;
}

export class FakeClock {
  now = 0;
  #seq = 0;
  readonly pending = new Map<number, { at: number; fn: () => void }>();

  schedule(at: number, fn: () => void): number {
    const id = ++this.#seq;
    this.pending.set(id, { at: Math.max(at, this.now), fn });
    return id;
  }

  readonly timers: MigrationTimers = {
    setTimeout: (fn, ms) => this.schedule(this.now + ms, fn),
    clearTimeout: (h) => {
      this.pending.delete(h as number);
    },
  };

  /** Runs `p` to the end, advancing time whenever the code under test is idle. */
  async drive<T>(p: Promise<T>, limitMs = 600_000): Promise<T> {
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      for (let i = 0; i < 4; i++) await new Promise<void>((r) => setImmediate(r));
      if (settled) return p;
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0])) next = e;
      if (!next) throw new Error(`fake world: nothing scheduled at ${this.now} ms and the migration has not ended`);
      if (next[1].at > limitMs) throw new Error(`fake world: still running at ${limitMs} ms`);
      this.pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
  }
}

class FakeStream implements AsyncIterable<MigrationEvent> {
  #queue: MigrationEvent[] = [];
  #waiters: { resolve: (r: IteratorResult<MigrationEvent>) => void; reject: (e: unknown) => void }[] = [];
  #end: { error?: unknown } | undefined;
  constructor(readonly names: Set<string> | null, readonly onClose: (s: FakeStream) => void) {}
  deliver(e: MigrationEvent): void {
    if (this.#end || (this.names && !this.names.has(e.event))) return;
    const w = this.#waiters.shift();
    if (w) w.resolve({ value: e, done: false });
    else this.#queue.push(e);
  }
  finish(error?: unknown): void {
    if (this.#end) return;
    this.#end = { error };
    this.onClose(this);
    for (const w of this.#waiters.splice(0)) {
      if (error) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
  }
  close(): void {
    this.#queue = [];
    this.finish();
  }
  [Symbol.asyncIterator](): AsyncIterator<MigrationEvent> {
    return {
      next: () => {
        const q = this.#queue.shift();
        if (q) return Promise.resolve({ value: q, done: false });
        if (this.#end) return this.#end.error ? Promise.reject(this.#end.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export class QmpFakeError extends Error {}

export class FakeMonitor implements MigrationMonitor {
  readonly calls: { cmd: string; args?: Json; at: number }[] = [];
  readonly #streams = new Set<FakeStream>();
  #lost: unknown;
  constructor(
    readonly clock: FakeClock,
    readonly handlers: Record<string, (args: Json | undefined) => unknown>,
  ) {}

  execute<T = unknown>(cmd: string, args?: Json): Promise<T> {
    this.calls.push(args === undefined ? { cmd, at: this.clock.now } : { cmd, args, at: this.clock.now });
    if (this.#lost) return Promise.reject(this.#lost);
    const h = this.handlers[cmd];
    if (!h) return Promise.reject(new QmpFakeError(`fake: unexpected command '${cmd}'`));
    try {
      return Promise.resolve(h(args) as T);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  events(names?: string[] | null): FakeStream {
    const s = new FakeStream(names ? new Set(names) : null, (x) => this.#streams.delete(x));
    if (this.#lost) s.finish(this.#lost);
    else this.#streams.add(s);
    return s;
  }

  emit(event: string, data: Json = {}): void {
    for (const s of [...this.#streams]) s.deliver({ event, data });
  }

  lose(error: unknown): void {
    this.#lost = error;
    for (const s of [...this.#streams]) s.finish(error);
  }

  commands(): string[] {
    return this.calls.map((c) => c.cmd);
  }
}

/** query-pci shaped reply: one root bus; bridges hold their devices under pci_bridge. */
export function fakePci(layout: Record<string, string[] | null>): unknown {
  let slot = 1;
  const dev = (id: string, children: string[] | null): Json => ({
    bus: 0,
    slot: slot++,
    function: 0,
    qdev_id: id,
    class_info: { class: children ? 1540 : 512 },
    ...(children ? { pci_bridge: { bus: { number: slot }, devices: children.map((c) => dev(c, null)) } } : {}),
  });
  return [{ bus: 0, devices: Object.entries(layout).map(([id, ch]) => dev(id, ch)) }];
}

export interface FakeWorld {
  clock: FakeClock;
  src: FakeMonitor;
  dst: FakeMonitor;
  abort: AbortController;
  destination: { start(o?: { signal?: AbortSignal }): Promise<DestinationHandle> };
  dstStarts: number;
  dstKilled: boolean;
}

/** Builds the fake source, destination launcher and clock that replay `scn`. */
export function fakeWorld(scn: Scenario): FakeWorld {
  const clock = new FakeClock();
  const abort = new AbortController();
  let srcStatus = { ...scn.source.status };
  let migStatus: string | undefined;
  const served = new Map<string, number>();
  let dstExit: (x: unknown) => void = () => undefined;
  const dstExited = new Promise<unknown>((r) => (dstExit = r));
  let dstGone = false;

  const world: Partial<FakeWorld> = { clock, abort, dstStarts: 0, dstKilled: false };
  const dst = new FakeMonitor(clock, {
    'query-pci': () => fakePci(scn.destination?.pci ?? scn.source.pci),
    'query-status': () => ({ running: true, status: 'running' }),
    cont: () => {
      play(scn.script['dst:cont']);
      return {};
    },
  });
  const dstDies = (x: unknown): void => {
    if (dstGone) return;
    dstGone = true;
    dst.lose(new QmpFakeError('fake: destination monitor closed'));
    dstExit(x);
  };

  const play = (steps: ScriptStep[] | undefined): void => {
    const t0 = clock.now;
    for (const st of steps ?? []) {
      clock.schedule(t0 + st.at, () => {
        if (st.abort !== undefined) abort.abort(st.abort);
        else if (st.lose !== undefined) src.lose(new QmpFakeError(st.lose));
        else if (st.exit) dstDies(st.exit);
        else if (st.side === 'dst') {
          if (!dstGone) dst.emit(String(st.event), st.data);
        } else {
          if (st.event === 'MIGRATION') migStatus = String(st.data?.status);
          if (st.event === 'STOP') srcStatus = { running: false, status: migStatus === 'completed' ? 'postmigrate' : 'finish-migrate' };
          if (st.event === 'RESUME') srcStatus = { running: true, status: 'running' };
          if (st.event === 'MIGRATION' && st.data?.status === 'completed') srcStatus = { running: false, status: 'postmigrate' };
          src.emit(String(st.event), st.data);
        }
      });
    }
  };

  const src: FakeMonitor = new FakeMonitor(clock, {
    'query-status': () => ({ ...srcStatus }),
    'query-pci': () => fakePci(scn.source.pci),
    'qom-get': (a) => {
      const id = String(a?.path).split('/').pop() ?? '';
      const mac = scn.source.macs?.[id];
      if (mac === undefined) throw new QmpFakeError(`Device '${id}' not found`);
      return mac;
    },
    cont: () => {
      srcStatus = { running: true, status: 'running' };
      play(scn.script.cont);
      return {};
    },
    'migrate-set-capabilities': () => ({}),
    'query-migrate-parameters': () => ({ 'downtime-limit': 300, 'max-bandwidth': 134217728 }),
    'migrate-set-parameters': () => ({}),
    stop: () => {
      srcStatus = { running: false, status: 'paused' };
      play(scn.script.stop);
      return {};
    },
    migrate: () => {
      migStatus = 'setup';
      play(scn.script.migrate);
      return {};
    },
    migrate_cancel: () => {
      play(scn.script.migrate_cancel);
      return {};
    },
    'query-migrate': () => {
      const r = migStatus ? scn.queryMigrate?.[migStatus] : undefined;
      if (Array.isArray(r)) {
        const n = served.get(migStatus!) ?? 0;
        served.set(migStatus!, n + 1);
        return r[Math.min(n, r.length - 1)];
      }
      return r ?? (migStatus ? { status: migStatus } : {});
    },
  });

  world.src = src;
  world.dst = dst;
  world.destination = {
    start: async () => {
      world.dstStarts = (world.dstStarts ?? 0) + 1;
      if (scn.destination?.startFails) throw new QmpFakeError(scn.destination.startFails);
      return {
        monitor: dst,
        uri: 'tcp:127.0.0.1:49152',
        exited: dstExited,
        kill: async () => {
          world.dstKilled = true;
          dstDies({ signal: 'SIGKILL' });
        },
      };
    },
  };
  return world as FakeWorld;
}
