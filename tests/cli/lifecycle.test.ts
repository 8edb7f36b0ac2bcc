// The domain verbs through the built CLI, without QEMU: definitions are seeded into a
// temporary --state-dir. Exact virsh-style output (note virsh's empty line after each command).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { runCliProcess } from '../helpers/cli.js';

let dir = '';
let stateDir = '';
let store: DomainStore;
const UA = '11111111-2222-3333-4444-555555555555';
const UB = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const xmlOf = (name: string, uuid: string) => `<domain type='qemu'>\n  <name>${name}</name>\n  <uuid>${uuid}</uuid>\n  <devices/>\n</domain>\n`;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-cli-life-'));
  stateDir = path.join(dir, 'state');
  store = DomainStore.open({ stateDir, env: {} });
  mkdirSync(store.configDir, { recursive: true });
  writeFileSync(store.configPath('vm-b'), xmlOf('vm-b', UB));
  writeFileSync(store.configPath('vm-A'), xmlOf('vm-A', UA));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCliProcess(['--state-dir', stateDir, ...args]);

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

interface Case {
  name: string;
  args: string[];
  stdout: string;
  stderr?: string;
  code?: number;
}

const cases: Case[] = [
  {
    name: 'list: active only (none)',
    args: ['list'],
    stdout: ' Id   Name   State\n--------------------\n\n',
  },
  {
    name: 'list --all: virsh table, inactive sorted by name case-insensitively',
    args: ['list', '--all'],
    stdout: ' Id   Name   State\n-----------------------\n -    vm-A   shut off\n -    vm-b   shut off\n\n',
  },
  { name: 'domstate', args: ['domstate', 'vm-A'], stdout: 'shut off\n\n' },
  { name: 'domstate --reason', args: ['domstate', 'vm-A', '--reason'], stdout: 'shut off (unknown)\n\n' },
  { name: 'domstate by uuid', args: ['domstate', UB], stdout: 'shut off\n\n' },
  { name: 'dumpxml: the stored definition, then the empty line', args: ['dumpxml', 'vm-A'], stdout: xmlOf('vm-A', UA) + '\n' },
  { name: 'dumpxml --inactive', args: ['dumpxml', '--inactive', 'vm-b'], stdout: xmlOf('vm-b', UB) + '\n' },
  {
    name: 'unknown domain',
    args: ['domstate', 'nope'],
    stdout: '',
    stderr: "error: failed to get domain 'nope'\nerror: Domain not found: no domain with matching name 'nope'\n",
    code: 1,
  },
  {
    name: 'unknown id',
    args: ['destroy', '42'],
    stdout: '',
    stderr: "error: failed to get domain '42'\nerror: Domain not found: no domain with matching id 42\n",
    code: 1,
  },
  {
    name: 'destroy of a domain that is not running',
    args: ['destroy', 'vm-A'],
    stdout: '',
    stderr: "error: Failed to destroy domain 'vm-A'\nerror: Requested operation is not valid: domain is not running\n",
    code: 1,
  },
  {
    name: 'shutdown of a domain that is not running',
    args: ['shutdown', 'vm-A'],
    stdout: '',
    stderr: "error: Failed to shutdown domain 'vm-A'\nerror: Requested operation is not valid: domain is not running\n",
    code: 1,
  },
  {
    name: 'shutdown --timeout must be a number',
    args: ['shutdown', 'vm-A', '--timeout', 'soon'],
    stdout: '',
    stderr: "error: invalid argument: Numeric value 'soon' for <timeout> option is malformed or out of range\n",
    code: 1,
  },
  {
    name: '--json error',
    args: ['--json', 'dumpxml', 'nope'],
    stdout: JSON.stringify({ error: { code: 'NO_DOMAIN', message: "Domain not found: no domain with matching name 'nope'" } }, null, 2) + '\n',
    code: 1,
  },
  {
    name: 'list --all --json',
    args: ['list', '--all', '--json'],
    stdout:
      JSON.stringify(
        [
          { name: 'vm-A', uuid: UA, state: 'shutoff', reason: 'unknown', persistent: true, active: false },
          { name: 'vm-b', uuid: UB, state: 'shutoff', reason: 'unknown', persistent: true, active: false },
        ],
        null,
        2,
      ) + '\n',
  },
  {
    name: 'domstate --json',
    args: ['domstate', 'vm-b', '--json'],
    stdout: JSON.stringify({ name: 'vm-b', state: 'shutoff', reason: 'unknown' }, null, 2) + '\n',
  },
];

for (const c of cases) {
  test(`cli: ${c.name}`, async () => {
    const r = await cli(...c.args);
    assert.equal(r.stdout, c.stdout, r.stderr);
    assert.equal(r.stderr, c.stderr ?? '');
    assert.equal(r.code, c.code ?? 0);
  });
}

const badDefines: [string, string, string][] = [
  ['slash', 'a/b', "invalid argument: name a/b cannot contain '/'"],
  ['dot-dot', '..', "invalid argument: domain name '..' is not allowed"],
  ['too long', 'n'.repeat(201), 'invalid argument: domain name is too long (201 bytes, at most 200)'],
  ['empty', '', 'XML error: missing name information in domain'],
];
for (const [label, name, msg] of badDefines) {
  test(`define refuses a bad name: ${label}`, async () => {
    const f = path.join(dir, `bad-${label.replace(/\W/g, '_')}.xml`);
    writeFileSync(f, `<domain type='qemu'><name>${name}</name><os><type>hvm</type></os></domain>`);
    const r = await cli('define', f);
    assert.equal(r.stderr, `error: Failed to define domain from ${f}\nerror: ${msg}\n`);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
  });
}

test('start while another process holds the domain lock fails at once, naming that pid', async () => {
  const lock = await store.lockDomain('vm-A', 'test');
  try {
    const t0 = Date.now();
    const r = await cli('start', 'vm-A');
    assert.equal(
      r.stderr,
      `error: Failed to start domain 'vm-A'\nerror: Requested operation is not valid: domain 'vm-A' is locked by another virt-failover process (pid ${process.pid})\n`,
    );
    assert.equal(r.code, 1);
    assert.ok(Date.now() - t0 < 10_000);
  } finally {
    lock.release();
  }
});

test('a record whose QEMU is gone reads as shut off (crashed), and is cleaned up', async () => {
  const pid = deadPid();
  store.writeStatus({ name: 'vm-b', uuid: UB, state: 'running', reason: 'booted', pid, id: 3, pidStart: '1', runDir: store.runDirFor(UB) });
  store.writePidfile('vm-b', pid);
  mkdirSync(store.runDirFor(UB), { recursive: true });
  assert.equal((await cli('list')).stdout, ' Id   Name   State\n--------------------\n\n');
  assert.equal((await cli('domstate', 'vm-b', '--reason')).stdout, 'shut off (crashed)\n\n');
  assert.equal(existsSync(store.pidPath('vm-b')), false);
  assert.equal(existsSync(store.runDirFor(UB)), false);
  assert.deepEqual(store.readStatus('vm-b'), { format: 1, name: 'vm-b', uuid: UB, state: 'shutoff', reason: 'crashed' });
  assert.equal((await cli('domstate', 'vm-b', '--reason')).stdout, 'shut off (crashed)\n\n');
});

test('VIRT_FAILOVER_STATE_DIR selects the state dir; undefine', async () => {
  const r = await runCliProcess(['list', '--all'], { env: { VIRT_FAILOVER_STATE_DIR: stateDir } });
  assert.match(r.stdout, /vm-A/);
  const u = await cli('undefine', 'vm-A');
  assert.equal(u.stdout, "Domain 'vm-A' has been undefined\n\n");
  assert.equal(existsSync(store.configPath('vm-A')), false);
  assert.equal((await cli('list', '--all')).stdout, ' Id   Name   State\n-----------------------\n -    vm-b   shut off\n\n');
});
