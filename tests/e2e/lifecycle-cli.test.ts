// The lifecycle verbs through the built CLI against a real QEMU (TCG), in a temporary
// --state-dir: exact virsh-style output, two concurrent starts, a QEMU killed with SIGKILL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { waitForExit } from '../../src/qemu/driver/process.js';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { checkedPid, isProcessAlive, signalProcess } from '../../src/util/proc.js';
import { stopLeftovers } from '../helpers/qemu-env.js';
import { runCliProcess } from '../helpers/cli.js';
import { QEMU_BINARY } from '../helpers/qemu-spawn.js';

let dir = '';
let stateDir = '';
let store: DomainStore;
const env = { VIRT_FAILOVER_QEMU: QEMU_BINARY };
const cli = (...args: string[]) => runCliProcess(['--state-dir', stateDir, ...args], { env, timeoutMs: 60_000 });

const xml = (name: string) => `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
</domain>
`;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-life-cli-'));
  stateDir = path.join(dir, 'state');
  store = DomainStore.open({ stateDir, env: {} });
});
after(async () => {
  await stopLeftovers(store, (name) => cli('destroy', name));
  rmSync(dir, { recursive: true, force: true });
});

const T = { timeout: 100_000 };

async function define(name: string): Promise<void> {
  const f = path.join(dir, `${name}.xml`);
  writeFileSync(f, xml(name));
  const r = await cli('define', f);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, `Domain '${name}' defined from ${f}\n\n`);
}

test('define, start, list, domstate, dumpxml, destroy: exact output', T, async () => {
  await define('c1');
  const s = await cli('start', 'c1');
  assert.equal(s.stderr, '');
  assert.equal(s.stdout, "Domain 'c1' started\n\n");
  assert.equal(s.code, 0);
  const id = store.readStatus('c1')!.id!;
  assert.equal((await cli('list')).stdout, ` Id   Name   State\n----------------------\n ${id}    c1     running\n\n`);
  assert.equal((await cli('domstate', 'c1')).stdout, 'running\n\n');
  assert.equal((await cli('domstate', '--reason', 'c1')).stdout, 'running (booted)\n\n');
  assert.match((await cli('dumpxml', 'c1')).stdout, new RegExp(`^<domain type='qemu' id='${id}'>\n  <name>c1</name>`));
  const started = JSON.parse((await cli('--json', 'domstate', 'c1')).stdout);
  assert.deepEqual(started, { name: 'c1', state: 'running', reason: 'booted' });

  const d = await cli('destroy', 'c1');
  assert.equal(d.stdout, "Domain 'c1' destroyed\n\n");
  assert.equal((await cli('domstate', '--reason', 'c1')).stdout, 'shut off (destroyed)\n\n');
  assert.equal((await cli('list')).stdout, ' Id   Name   State\n--------------------\n\n');
});

test('two start commands at once: one starts the domain, the other fails with a clear error', T, async () => {
  await define('c2');
  const [a, b] = await Promise.all([cli('start', 'c2'), cli('start', 'c2')]);
  const ok = [a, b].filter((r) => r.code === 0);
  const failed = [a, b].filter((r) => r.code !== 0);
  assert.equal(ok.length, 1, `one winner: ${JSON.stringify([a, b])}`);
  assert.equal(ok[0].stdout, "Domain 'c2' started\n\n");
  assert.equal(failed.length, 1);
  assert.equal(failed[0].code, 1);
  assert.match(
    failed[0].stderr,
    /^error: Failed to start domain 'c2'\nerror: Requested operation is not valid: (domain 'c2' is locked by another virt-failover process \(pid \d+\)|domain is already running)\n$/,
  );
  const pids = store.listStatuses().filter((s) => s.name === 'c2' && s.pid).map((s) => s.pid);
  assert.equal(pids.length, 1);
  assert.equal((await cli('destroy', 'c2')).code, 0);
});

test('kill -9 QEMU: domstate says shut off (crashed); start works again', T, async () => {
  await define('c3');
  assert.equal((await cli('start', 'c3')).code, 0);
  const st = store.readStatus('c3')!;
  signalProcess(checkedPid(st.pid, 'c3'), 'SIGKILL');
  assert.equal(await waitForExit(st.pid!, st.pidStart, { timeoutMs: 10_000 }), true);
  const out = (await cli('domstate', '--reason', 'c3')).stdout;
  assert.equal(out, 'shut off (crashed)\n\n');
  assert.equal((await cli('list')).stdout, ' Id   Name   State\n--------------------\n\n');
  const again = await cli('start', 'c3');
  assert.equal(again.stdout, "Domain 'c3' started\n\n");
  const st2 = store.readStatus('c3')!;
  assert.notEqual(st2.pid, st.pid);
  assert.equal((await cli('domstate', 'c3')).stdout, 'running\n\n');
  assert.equal((await cli('destroy', 'c3')).stdout, "Domain 'c3' destroyed\n\n");
  assert.equal(isProcessAlive(st2.pid!, st2.pidStart), false);
});
