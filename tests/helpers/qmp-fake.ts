// A scripted fake QMP server on a unix socket: each test scripts what "QEMU"
// says and checks what the client sent. Used by the monitor tests.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { LineSplitter } from '../../src/qemu/monitor/lines.js';

export type Json = Record<string, unknown>;

export const GREETING = {
  QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'fake 7.2' }, capabilities: ['oob'] },
};
export const ev = (event: string, data: Json = {}): Json => ({ event, data, timestamp: { seconds: 1700000000, microseconds: 42 } });

/** The server side of one connection, as the script sees it. */
export class FakeConn {
  #lines: string[] = [];
  #waiters: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  #eof = false;
  readonly received: Json[] = [];

  constructor(readonly sock: net.Socket) {
    const splitter = new LineSplitter();
    sock.on('data', (chunk: Buffer) =>
      splitter.push(chunk, (line) => {
        const w = this.#waiters.shift();
        if (w) w.resolve(line);
        else this.#lines.push(line);
      }),
    );
    sock.on('close', () => {
      this.#eof = true;
      for (const w of this.#waiters.splice(0)) w.reject(new Error('fake: client closed'));
    });
    sock.on('error', () => undefined);
  }

  /** The next command the client sent, parsed. */
  async recv(): Promise<Json> {
    const line =
      this.#lines.shift() ??
      (this.#eof
        ? Promise.reject(new Error('fake: client closed'))
        : new Promise<string>((resolve, reject) => this.#waiters.push({ resolve, reject })));
    const msg = JSON.parse(await line) as Json;
    this.received.push(msg);
    return msg;
  }

  send(obj: unknown): void {
    this.sock.write(`${JSON.stringify(obj)}\r\n`);
  }

  raw(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** Resolves once the client has closed its side. */
  closed(): Promise<void> {
    return this.#eof ? Promise.resolve() : new Promise((r) => this.sock.once('close', () => r()));
  }

  /** Greeting + qmp_capabilities, as QEMU does it. */
  async handshake(): Promise<void> {
    this.send(GREETING);
    const caps = await this.recv();
    assert.equal(caps.execute, 'qmp_capabilities');
    this.send({ return: {}, id: caps.id });
  }
}

let serial = 0;
/** Starts a server in `dir` that runs `script` on its first connection; `served` settles with it. */
export async function fake(dir: string, script: (c: FakeConn) => Promise<void>) {
  const socketPath = path.join(dir, `s${++serial}.sock`);
  const conns: net.Socket[] = [];
  let resolveServed!: (v: Promise<void>) => void;
  const served = new Promise<void>((r) => {
    resolveServed = r;
  });
  const server = net.createServer((sock) => {
    conns.push(sock);
    resolveServed(script(new FakeConn(sock)));
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    socketPath,
    served,
    async close(): Promise<void> {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Runs `client` against `script`, then checks the script finished without failing. */
export async function withFake(dir: string, script: (c: FakeConn) => Promise<void>, client: (socketPath: string) => Promise<void>) {
  const f = await fake(dir, script);
  try {
    await client(f.socketPath);
    await f.served;
  } finally {
    await f.close();
  }
}
