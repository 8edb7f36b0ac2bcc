// A QemuDriver whose QEMU is a node script speaking just enough QMP (status, cont, quit), and whose
// host is a fake sysfs tree (tests/helpers/fake-sysfs.ts) with its fake kernel and a fake ip(8): the
// driver's real start/stop/crash paths run, and no device or guest is needed.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { QemuCaps } from '../../src/qemu/caps/index.js';
import type { NetworkResolver } from '../../src/qemu/command/index.js';
import { type HostdevHostOptions, QemuDriver } from '../../src/qemu/driver/index.js';

/** Plays QEMU for the driver: QMP on the monitor socket (argv[4]); argv[5] 'exit' fails at once. */
export const FAKE_QEMU = `
import net from 'node:net';
const [, , , , sock, mode] = process.argv;
if (mode === 'exit') { process.stderr.write('fake: vfio 0000:3b:02.0: failed\\n'); process.exit(1); }
let running = false;
net.createServer((c) => {
  c.on('error', () => {});
  c.write(JSON.stringify({ QMP: { version: { qemu: { major: 8, minor: 2, micro: 0 }, package: '' }, capabilities: [] } }) + '\\r\\n');
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const m = JSON.parse(line);
      let ret = {};
      if (m.execute === 'query-status') ret = { status: running ? 'running' : 'prelaunch', running };
      if (m.execute === 'cont') running = true;
      c.write(JSON.stringify({ return: ret, id: m.id }) + '\\r\\n');
      if (m.execute === 'quit') process.exit(0);
    }
  });
}).listen(sock);
process.on('SIGTERM', () => process.exit(0));
`;

export interface FakeQemuDriverOptions {
  /** Holds the fake QEMU script and the state dir. */
  dir: string;
  host: HostdevHostOptions;
  /** Domains whose QEMU exits at once. */
  fail?: ReadonlySet<string>;
  /** Sees the argv options the driver passes (e.g. the network resolver), before the fake QEMU runs. */
  onBuild?: (opts: { runtimeDir: string; accel: string; networks?: NetworkResolver }) => void;
}

export function fakeQemuDriver(o: FakeQemuDriverOptions): QemuDriver {
  const script = path.join(o.dir, 'fake-qemu.mjs');
  // Written once: other processes of the same test (concurrent starts) reuse it.
  if (!existsSync(script)) writeFileSync(script, FAKE_QEMU);
  return QemuDriver.open({
    stateDir: path.join(o.dir, 'state'),
    env: {},
    probeCaps: async () => ({}) as QemuCaps,
    postParse: () => undefined,
    chooseAccel: async () => 'tcg',
    buildCommand: (dom, _caps, opts) => {
      o.onBuild?.(opts);
      return {
        env: [],
        binary: process.execPath,
        args: [script, '-S', dom.uuid!, path.join(opts.runtimeDir, 'monitor.sock'), o.fail?.has(dom.name) ? 'exit' : 'run'],
      };
    },
    timeouts: { monitorMs: 10_000, termMs: 2000, killMs: 2000, pollMs: 5 },
    host: o.host,
  });
}
