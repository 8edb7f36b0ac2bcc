// `virt-failover agent --stdio`: the destination's end, run by the source through ssh. One session serves
// one incoming migration. It dies with its SSH session: on stdin EOF (or SIGHUP/SIGTERM) an incoming QEMU
// that was not finished is killed, everything claimed is released, and the host is left as it was found.
//
// Requests (protocol.ts): hello, prepare (the destination's refusals, before any QEMU starts), start (one
// listening QEMU per attempt; its QMP events and its exit are forwarded as notifications), qmp (queries, and
// `cont` for --timeout, on that QEMU), kill (the attempt's QEMU), finish (the guest runs here: the domain is ours now),
// abort. The stream listens on this host's address of the SSH connection (SSH_CONNECTION), or, tunnelled,
// on a unix socket in the attempt's private dir that the source's ssh forwards to.
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { OperationInvalidError } from '../../util/errors.js';
import type { IncomingMigration, IncomingOptions, IncomingRequest } from '../driver/index.js';
import {
  AGENT_PROTOCOL,
  type AgentNotice,
  type AgentRequest,
  type HelloParams,
  type HelloResult,
  TOOL_VERSION,
  lineSplitter,
  toWireError,
  versionMismatch,
} from './protocol.js';

/** The QMP commands the source's migration runs on the destination QEMU: queries, and `cont` (--timeout suspend). */
const QMP_ALLOWED = new Set(['query-pci', 'query-status', 'query-migrate', 'cont']);

export interface AgentDriver {
  prepareIncoming(req: IncomingRequest, opts: IncomingOptions): Promise<IncomingMigration>;
}

export interface AgentOptions {
  input: Readable;
  output: Writable;
  driver: AgentDriver;
  env?: NodeJS.ProcessEnv;
  /** Diagnostics (stderr: ssh shows it to the source). */
  log?: (line: string) => void;
}

/** This host's address of the SSH connection the agent runs in (SSH_CONNECTION's third field). */
export function listenHostFromEnv(env: NodeJS.ProcessEnv): string {
  const server = (env.SSH_CONNECTION ?? '').trim().split(/\s+/)[2];
  return server || '127.0.0.1';
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new OperationInvalidError(`agent request: '${what}' missing`);
  return v;
}

/** Serves one session; resolves once the input ended and everything was released. */
export async function serveAgent(o: AgentOptions): Promise<void> {
  const env = o.env ?? process.env;
  let hello = false;
  let mismatch: Error | undefined;
  let incoming: IncomingMigration | undefined;
  let finished = false;
  let serial: Promise<unknown> = Promise.resolve();
  let closing = false;
  const send = (msg: unknown): void => {
    if (!closing && o.output.writable) o.output.write(`${JSON.stringify(msg)}\n`);
  };
  const notify = (n: AgentNotice): void => send(n);
  o.output.on('error', () => undefined); // EPIPE: the session is gone, the input's end follows

  /** Forwards the attempt's QMP events and its exit as notifications. */
  const forward = (m: IncomingMigration): void => {
    const a = m.attempt!;
    const events = a.handle.monitor.events(null);
    void (async () => {
      try {
        for await (const ev of events) notify({ notify: 'event', attempt: a.attempt, event: { event: ev.event, data: ev.data, timestamp: ev.timestamp } });
      } catch {
        // QEMU went: its exit is reported below
      }
    })();
    void a.handle.exited.then((x) => {
      events.close();
      notify({ notify: 'exit', attempt: a.attempt, code: x.code, signal: x.signal });
    });
  };

  const handle = async (req: AgentRequest): Promise<unknown> => {
    const p = req.params ?? {};
    if (req.method === 'hello') {
      // Both versions go back in any case: the source names them in its own refusal.
      const there = { protocol: Number(p.protocol), version: String(p.version) } as HelloParams;
      mismatch = versionMismatch({ protocol: AGENT_PROTOCOL, version: TOOL_VERSION }, there, 'the source');
      hello = true;
      return { protocol: AGENT_PROTOCOL, version: TOOL_VERSION, hostname: os.hostname() } satisfies HelloResult;
    }
    if (!hello) throw new OperationInvalidError("agent: the first request must be 'hello'");
    if (mismatch) throw mismatch;
    switch (req.method) {
      case 'prepare': {
        if (incoming) throw new OperationInvalidError('agent: this session already has an incoming migration');
        const r: IncomingRequest = {
          name: str(p.name, 'name'),
          uuid: str(p.uuid, 'uuid'),
          xml: str(p.xml, 'xml'),
          accel: p.accel === 'kvm' ? 'kvm' : 'tcg',
          persistentXml: typeof p.persistentXml === 'string' ? p.persistentXml : undefined,
          tunnelled: p.tunnelled === true,
          from: typeof p.from === 'string' ? p.from : undefined,
        };
        incoming = await o.driver.prepareIncoming(r, { listenHost: listenHostFromEnv(env) });
        o.log?.(`prepared the incoming migration of '${r.name}'`);
        return {};
      }
      case 'start': {
        const m = need(incoming);
        const a = await m.start();
        forward(m);
        return { attempt: a.attempt, uri: a.uri, ...(a.socket ? { socket: a.socket } : {}) };
      }
      case 'qmp': {
        const a = need(incoming).attempt;
        const cmd = str(p.execute, 'execute');
        if (!QMP_ALLOWED.has(cmd)) throw new OperationInvalidError(`agent: QMP command '${cmd}' is not allowed`);
        if (!a || a.attempt !== p.attempt) throw new OperationInvalidError(`agent: no destination QEMU for attempt ${String(p.attempt)}`);
        return a.handle.monitor.execute(cmd, (p.arguments as Record<string, unknown> | undefined) ?? undefined, { timeoutMs: 10_000 });
      }
      case 'kill': {
        const m = need(incoming);
        if (m.attempt && m.attempt.attempt === p.attempt) await m.killAttempt();
        return {};
      }
      case 'finish': {
        const summary = await need(incoming).finish();
        finished = true;
        o.log?.(`'${summary.name}' runs here now (pid ${summary.pid})`);
        return summary;
      }
      case 'abort':
        await incoming?.abort();
        return {};
      default:
        throw new OperationInvalidError(`agent: unknown request '${String(req.method)}'`);
    }
  };

  const onLine = (line: string): void => {
    let req: AgentRequest;
    try {
      req = JSON.parse(line) as AgentRequest;
    } catch {
      o.log?.(`ignored a line that is not JSON: ${line.slice(0, 80)}`);
      return;
    }
    // State changes run one after another; read-only QMP queries do not wait for them.
    const run = () => handle(req).then((result) => send({ id: req.id, result }), (e: unknown) => send({ id: req.id, error: toWireError(e) }));
    if (req.method === 'qmp') void run();
    else serial = serial.then(run);
  };

  const ended = new Promise<void>((resolve) => {
    o.input.on('data', lineSplitter(onLine));
    o.input.once('end', resolve);
    o.input.once('close', resolve);
    o.input.once('error', () => resolve());
  });
  const signals: NodeJS.Signals[] = ['SIGHUP', 'SIGTERM', 'SIGINT'];
  let onSignal: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => {
    onSignal = resolve;
    for (const s of signals) process.on(s, onSignal);
  });
  try {
    await Promise.race([ended, signalled]);
    await serial.catch(() => undefined);
  } finally {
    closing = true;
    for (const s of signals) process.off(s, onSignal);
    if (!finished) {
      await incoming?.abort();
      if (incoming) o.log?.(`the session ended before 'finish': the incoming migration of '${incoming.name}' was given up`);
    }
  }
}

function need(m: IncomingMigration | undefined): IncomingMigration {
  if (!m) throw new OperationInvalidError("agent: no incoming migration ('prepare' first)");
  return m;
}
