// `virt-failover migrate NAME ssh://HOST` between two real "hosts" on this machine: two network namespaces
// joined by a veth pair, each with an OpenSSH server started here (src/testbed/two-hosts.ts), each with its
// own state dir. The built CLI runs in host A's namespace (as the user would) and, through ssh, the agent
// in host B's (command= points at the same build). The test guest (emulated e1000e primary) goes A -> B
// direct and B -> A tunnelled, with --persistent --undefinesource; then the failures, each of which must
// leave the guest running on the source with its primary back and nothing on the destination: agent
// version mismatch, a UUID taken on the destination, the destination QEMU killed mid-transfer, the SSH
// connection killed during wait-unplug.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureGuestImage, GuestConsole, type GuestImage } from '../../src/testbed/guest-image.js';
import { makeTwoHosts, twoHostsUnavailable, type TestHost, type TwoHosts } from '../../src/testbed/two-hosts.js';
import type { MigrationFailureJson, MigrationReportJson } from '../../src/qemu/migration/migration.js';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { TOOL_VERSION } from '../../src/qemu/remote/protocol.js';
import { isProcessAlive, readCmdline, signalProcess } from '../../src/util/proc.js';
import { cliPath, type CliRun } from '../helpers/cli.js';
import { QEMU } from '../helpers/failover-vm.js';
import { qemuSkip } from '../helpers/qemu-env.js';
import { domainXml, enslaved, released, waitGuest } from '../helpers/ssh-guest.js';

const why = twoHostsUnavailable();
if (why && process.env.CI) throw new Error(`cannot make two test hosts: ${why} (CI requires them)`);
const skip = qemuSkip(QEMU) || why || false;

let hosts: TwoHosts;
let image: GuestImage;
const consoles = new Map<string, GuestConsole>();
const FO = { name: 'fo', uuid: '7d1e8f6a-3a2c-4c64-8b66-4a9b3d2e1f21' };
const BLK = { name: 'blk', uuid: '7d1e8f6a-3a2c-4c64-8b66-4a9b3d2e1f22' };

/** The built CLI in `host`'s namespace with its state dir; optional hook on each stderr chunk. */
function cli(host: TestHost, args: string[], onStderr?: (all: string, child: ReturnType<typeof spawn>) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const argv = hosts.inHost(host, [process.execPath, cliPath, '--state-dir', host.stateDir, ...args]);
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, VIRT_FAILOVER_QEMU: QEMU }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const storeOf = (h: TestHost) => DomainStore.open({ stateDir: h.stateDir, env: {} });
const agentUri = (to: TestHost, command = cliPath) => hosts.uri(to, command);

/** QEMU processes of `uuid` whose command line lies under `host`'s state dir. */
function qemusOn(host: TestHost, uuid: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    const c = readCmdline(pid);
    return !!c && path.basename(c[0] ?? '').startsWith('qemu-system') && c.some((a) => a.includes(uuid)) && c.some((a) => a.includes(`${host.stateDir}/`));
  });
}

/** Nothing of `uuid` on `host`: no QEMU, no status record, no runtime dir, no definition. */
function assertNothingOn(host: TestHost, dom: { name: string; uuid: string }): void {
  const store = storeOf(host);
  assert.deepEqual(qemusOn(host, dom.uuid), [], `no QEMU of ${dom.name} on ${host.ns}`);
  assert.equal(store.readStatus(dom.name), undefined, `no status of ${dom.name} on ${host.ns}`);
  assert.equal(store.hasConfig(dom.name), false, `no definition of ${dom.name} on ${host.ns}`);
  assert.deepEqual(readdirSync(store.runtimeDir).filter((f) => f.startsWith(dom.uuid)), [], `no runtime dir on ${host.ns}`);
}

/** The domain runs on `host` (its record names a live QEMU) with the primary enslaved in the guest. */
function runningOn(host: TestHost, name: string): { pid: number; pidStart?: string } {
  const s = storeOf(host).readStatus(name);
  assert.ok(s?.pid && s.state === 'running' && isProcessAlive(s.pid, s.pidStart), `${name} runs on ${host.ns}`);
  return { pid: s.pid, pidStart: s.pidStart };
}

async function startOnA(dom: { name: string; uuid: string }, mode: 'failover' | 'block-unplug'): Promise<void> {
  const con = await GuestConsole.listen(path.join(hosts.dir, `${dom.name}.serial`));
  consoles.set(dom.name, con);
  const file = path.join(hosts.dir, `${dom.name}.xml`);
  writeFileSync(file, domainXml({ ...dom, image, mode, serial: con.socketPath }));
  for (const args of [['define', file], ['start', dom.name]]) {
    const r = await cli(hosts.a, args);
    assert.equal(r.code, 0, r.stderr);
  }
  await waitGuest(con, `${dom.name}: primary enslaved, link up`, (e) => enslaved(e) && e.kind === 'state' && e.link === 'up', 90_000);
}

/** The guest lost its primary (unplug) and has it again afterwards: it answers, with the primary. */
async function replugSeen(dom: { name: string }, where: string, from: number): Promise<void> {
  const con = consoles.get(dom.name)!;
  const next = await waitGuest(con, `${dom.name}: primary released (unplug)`, released, 60_000, from);
  await waitGuest(con, `${dom.name}: primary enslaved again ${where}`, enslaved, 60_000, next);
}

before(async () => {
  if (skip) return;
  hosts = await makeTwoHosts();
  image = await ensureGuestImage();
  await Promise.all([startOnA(FO, 'failover'), startOnA(BLK, 'block-unplug')]);
});

after(async () => {
  if (!hosts) return;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (pid !== process.pid && readCmdline(pid)?.some((a) => a.includes(hosts.dir))) signalProcess(pid, 'SIGKILL');
  }
  for (const c of consoles.values()) await c.close();
  await hosts.dispose();
});

function migrated(r: CliRun): MigrationReportJson & { domain: { pid: number; state: string; reason: string; persistent: boolean }; destination: { hostname: string; source: string; uri: string } } {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('A -> B over ssh:// (direct TCP), --persistent --undefinesource: the guest runs on B, defined only there', { skip, timeout: 120_000 }, async () => {
  const src = runningOn(hosts.a, FO.name);
  const from = consoles.get(FO.name)!.lines.length;
  const r = await cli(hosts.a, ['migrate', FO.name, agentUri(hosts.b), '--persistent', '--undefinesource', '--json']);
  const rep = migrated(r);
  const phases = rep.timeline.filter((e) => e.event === undefined).map((e) => e.phase);
  assert.deepEqual(phases, ['negotiated', 'setup', 'wait-unplug', 'active', 'completed', 'replugged']);
  assert.deepEqual(rep.pairs, [{ id: 'ua-primary0', standbyId: 'ua-standby0', failover: true, unplugRequested: true, replugged: true }]);
  const listening = rep.timeline.find((e) => e.event === 'dst:listening')?.detail ?? '';
  assert.match(listening, new RegExp(`^tcp:${hosts.b.addr.replace(/\./g, '\\.')}:\\d+$`), 'QEMU listens on B\'s address');
  assert.deepEqual([rep.domain.state, rep.domain.reason, rep.domain.persistent], ['running', 'migrated', true]);
  assert.equal(rep.destination.source, 'undefined');
  const dst = runningOn(hosts.b, FO.name);
  assert.equal(rep.domain.pid, dst.pid);
  assert.equal(isProcessAlive(src.pid, src.pidStart), false, 'the source QEMU has quit');
  assertNothingOn(hosts.a, FO);
  assert.equal((await cli(hosts.b, ['domstate', '--reason', FO.name])).stdout, 'running (migrated)\n\n');
  assert.ok(storeOf(hosts.b).hasConfig(FO.name), 'defined on B');
  await replugSeen(FO, 'on B', from);
});

test('B -> A --tunnelled: the stream goes through the SSH connection; defined only on A again', { skip, timeout: 120_000 }, async () => {
  const src = runningOn(hosts.b, FO.name);
  const from = consoles.get(FO.name)!.lines.length;
  const r = await cli(hosts.b, ['migrate', FO.name, agentUri(hosts.a), '--persistent', '--undefinesource', '--tunnelled']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ua-primary0 \(standby ua-standby0\): unplugged on the source, re-plugged on the destination\n/);
  const dst = runningOn(hosts.a, FO.name);
  assert.ok(r.stdout.endsWith(`in QEMU pid ${dst.pid}; it is no longer defined here\n\n`), r.stdout);
  assert.equal(isProcessAlive(src.pid, src.pidStart), false);
  assertNothingOn(hosts.b, FO);
  assert.ok(storeOf(hosts.a).hasConfig(FO.name));
  // the destination QEMU listened on a unix socket only, and the source sent to ssh's local socket
  const qemuArgs = readCmdline(dst.pid) ?? [];
  assert.ok(!qemuArgs.some((a) => a.startsWith('tcp:')), qemuArgs.join(' '));
  await replugSeen(FO, 'on A', from);
});

test('agent version mismatch: refused naming both versions; nothing starts on B', { skip, timeout: 60_000 }, async () => {
  const old = path.join(hosts.dir, 'old-virt-failover.mjs');
  const bundle = readFileSync(cliPath, 'utf8');
  const marker = `TOOL_VERSION = "${TOOL_VERSION}"`;
  assert.equal(bundle.split(marker).length, 2, `the bundle holds ${marker} once`);
  writeFileSync(old, bundle.replace(marker, 'TOOL_VERSION = "0.0.9"'), { mode: 0o755 });
  const before = runningOn(hosts.a, FO.name);
  const r = await cli(hosts.a, ['migrate', FO.name, agentUri(hosts.b, old)]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `error: operation failed: virt-failover 0.0.9 (agent protocol 1) on ssh://root@${hosts.b.addr}:2222 does not match ` +
      `virt-failover ${TOOL_VERSION} (agent protocol 1) here: install the same version on both hosts\n`,
  );
  assert.deepEqual(runningOn(hosts.a, FO.name), before);
  assertNothingOn(hosts.b, FO);
});

test('a UUID already defined on B: refused before any QEMU starts there', { skip, timeout: 60_000 }, async () => {
  const other = path.join(hosts.dir, 'other.xml');
  writeFileSync(other, `<domain type='qemu'><name>other</name><uuid>${BLK.uuid}</uuid><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os></domain>\n`);
  assert.equal((await cli(hosts.b, ['define', other])).code, 0);
  const before = runningOn(hosts.a, BLK.name);
  const r = await cli(hosts.a, ['migrate', BLK.name, agentUri(hosts.b)]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: operation failed: domain 'other' is already defined with uuid ${BLK.uuid}\n`);
  assert.deepEqual(qemusOn(hosts.b, BLK.uuid), []);
  assert.deepEqual(runningOn(hosts.a, BLK.name), before);
  assert.equal((await cli(hosts.b, ['undefine', 'other'])).code, 0);
  assertNothingOn(hosts.b, BLK);
});

test('the destination QEMU killed mid-transfer: the guest stays on A with its primary; nothing left on B', { skip, timeout: 120_000 }, async () => {
  const before = runningOn(hosts.a, FO.name);
  const from = consoles.get(FO.name)!.lines.length;
  let killed = 0;
  const r = await cli(hosts.a, ['migrate', FO.name, agentUri(hosts.b), '--json'], (err) => {
    if (killed || !/ {2}active\n/.test(err)) return;
    for (const pid of qemusOn(hosts.b, FO.uuid)) if (signalProcess(pid, 'SIGKILL')) killed = pid;
  });
  assert.ok(killed, `killed B's QEMU while active (stderr: ${r.stderr})`);
  assert.equal(r.code, 1, r.stderr);
  const fail = JSON.parse(r.stdout) as MigrationFailureJson;
  assert.match(fail.error.message, /the guest keeps running on the source; failover primary 'ua-primary0' re-plugged there$/);
  assert.deepEqual(runningOn(hosts.a, FO.name), before);
  assertNothingOn(hosts.b, FO);
  await replugSeen(FO, 'on A after the failure', from);
});

test('the SSH connection killed during wait-unplug: cancelled, the guest stays on A; the agent gave everything back', { skip, timeout: 150_000 }, async () => {
  const before = runningOn(hosts.a, BLK.name);
  let sshKilled = false;
  const r = await cli(hosts.a, ['migrate', BLK.name, agentUri(hosts.b), '--unplug-timeout', '120', '--json'], (err, child) => {
    if (sshKilled || !/ {2}wait-unplug\n/.test(err)) return;
    // the ssh client the CLI runs (its child): the connection ends, sshd closes the agent's stdin
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
      const c = readCmdline(pid);
      if (c?.[0] === 'ssh' && c.some((a) => a.endsWith(' agent --stdio')) && readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[3] === String(child.pid)) {
        sshKilled = signalProcess(pid, 'SIGKILL');
      }
    }
  });
  assert.ok(sshKilled, `killed ssh during wait-unplug (stderr: ${r.stderr})`);
  assert.equal(r.code, 1, r.stderr);
  const fail = JSON.parse(r.stdout) as MigrationFailureJson;
  assert.match(fail.error.message, /the guest keeps running on the source; failover primary 'ua-primary0' re-plugged there$/);
  assert.ok(fail.timeline.some((e) => e.event === 'migrate_cancel'));
  assert.deepEqual(runningOn(hosts.a, BLK.name), before);
  // the agent may still be releasing: give it a moment (it exits on its own)
  for (let i = 0; i < 50 && qemusOn(hosts.b, BLK.uuid).length; i++) await new Promise((res) => setTimeout(res, 100));
  assertNothingOn(hosts.b, BLK);
  assert.ok(!existsSync(path.join(hosts.b.stateDir, 'run', 'blk.json')));
});
