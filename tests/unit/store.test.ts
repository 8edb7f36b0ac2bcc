// The domain store: directory rules, name rules, libvirt's name/uuid uniqueness, atomic
// definition writes (a writer killed mid-write leaves the old file intact), id allocation.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { DOMAIN_NAME_MAX_BYTES, checkSocketPath, resolveStateDirs, validateDomainName } from '../../src/qemu/driver/store-paths.js';
import { repoRoot } from '../helpers/paths.js';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-store-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function freshStore(): DomainStore {
  return DomainStore.open({ stateDir: path.join(dir, `s${++n}`), env: {} });
}

const U1 = '11111111-2222-3333-4444-555555555555';
const U2 = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const xmlOf = (name: string, uuid: string, extra = '') => `<domain type='qemu'>\n  <name>${name}</name>\n  <uuid>${uuid}</uuid>${extra}\n</domain>\n`;

const dirCases: { name: string; opts: Parameters<typeof resolveStateDirs>[0]; state: string; run: string }[] = [
  { name: 'root', opts: { uid: 0, env: {} }, state: '/var/lib/virt-failover', run: '/run/virt-failover' },
  {
    name: 'user with XDG dirs',
    opts: { uid: 1000, env: { HOME: '/home/u', XDG_DATA_HOME: '/x/data', XDG_RUNTIME_DIR: '/run/user/1000' } },
    state: '/x/data/virt-failover',
    run: '/run/user/1000/virt-failover',
  },
  {
    name: 'user without XDG (relative XDG values are ignored)',
    opts: { uid: 1000, env: { HOME: '/home/u', XDG_DATA_HOME: 'rel' } },
    state: '/home/u/.local/share/virt-failover',
    run: '/home/u/.local/share/virt-failover/run',
  },
  { name: 'VIRT_FAILOVER_STATE_DIR', opts: { uid: 1000, env: { VIRT_FAILOVER_STATE_DIR: '/srv/vf', XDG_RUNTIME_DIR: '/run/user/1000' } }, state: '/srv/vf', run: '/srv/vf/run' },
  { name: '--state-dir wins over the env, also for root', opts: { uid: 0, stateDir: '/o', env: { VIRT_FAILOVER_STATE_DIR: '/srv/vf' } }, state: '/o', run: '/o/run' },
  { name: 'VIRT_FAILOVER_RUNTIME_DIR', opts: { uid: 1000, stateDir: '/o', env: { VIRT_FAILOVER_RUNTIME_DIR: '/r' } }, state: '/o', run: '/r' },
];
for (const c of dirCases) {
  test(`state dirs: ${c.name}`, () => {
    assert.deepEqual(resolveStateDirs(c.opts), { stateDir: c.state, runtimeDir: c.run });
  });
}

const badNames: [string, string][] = [
  ['', 'invalid argument: domain name must not be empty'],
  ['a/b', "invalid argument: name a/b cannot contain '/'"],
  ['/', "invalid argument: name / cannot contain '/'"],
  ['.', "invalid argument: domain name '.' is not allowed"],
  ['..', "invalid argument: domain name '..' is not allowed"],
  ['a\nb', 'invalid argument: invalid char in name: 0x0a'],
  // internal files are dot-files (locks/.store.lock, locks/.hostdev.lock): a domain named so would share their lock
  ['.store', "invalid argument: domain name '.store' must not start with '.' (names of internal files)"],
  ['.hostdev', "invalid argument: domain name '.hostdev' must not start with '.' (names of internal files)"],
  ['.hidden', "invalid argument: domain name '.hidden' must not start with '.' (names of internal files)"],
  ['...', "invalid argument: domain name '...' must not start with '.' (names of internal files)"],
  ['x'.repeat(DOMAIN_NAME_MAX_BYTES + 1), `invalid argument: domain name is too long (${DOMAIN_NAME_MAX_BYTES + 1} bytes, at most ${DOMAIN_NAME_MAX_BYTES})`],
  ['é'.repeat(101), `invalid argument: domain name is too long (202 bytes, at most ${DOMAIN_NAME_MAX_BYTES})`],
];
for (const [name, msg] of badNames) {
  test(`bad name ${JSON.stringify(name.length > 20 ? name.slice(0, 8) + '...' : name)} is refused`, () => {
    assert.throws(() => validateDomainName(name), { message: msg, code: 'INVALID_ARG' });
    assert.throws(() => freshStore().configPath(name), { message: msg });
  });
}
test('good names pass', () => {
  for (const name of ['vm', 'a.b', 'a.', 'with space', 'ünïcode', 'x'.repeat(DOMAIN_NAME_MAX_BYTES), 'a...']) validateDomainName(name);
});

test('define stores the XML 0600 under domains/, runtime dir is 0700', async () => {
  const s = freshStore();
  assert.deepEqual(await s.defineConfig('vm1', U1, xmlOf('vm1', U1)), { created: true });
  assert.equal(readFileSync(path.join(s.stateDir, 'domains', 'vm1.xml'), 'utf8'), xmlOf('vm1', U1));
  assert.equal(statSync(s.configPath('vm1')).mode & 0o777, 0o600);
  assert.equal(statSync(s.runtimeDir).mode & 0o777, 0o700);
  assert.deepEqual(s.listConfigs(), [{ name: 'vm1', uuid: U1, xml: xmlOf('vm1', U1) }]);
  // Redefining with the same name and uuid replaces it.
  assert.deepEqual(await s.defineConfig('vm1', U1, xmlOf('vm1', U1, '<memory>1</memory>')), { created: false });
  assert.match(s.readConfig('vm1')!, /<memory>1<\/memory>/);
  await assert.rejects(s.defineConfig('.hidden', U2, xmlOf('.hidden', U2)), { code: 'INVALID_ARG' });
  assert.deepEqual(s.configNames(), ['vm1'], 'a name with a leading dot is never stored');
  assert.equal(s.removeConfig('vm1'), true);
  assert.equal(s.removeConfig('vm1'), false);
  assert.deepEqual(s.configNames(), []);
});

test("uniqueness: libvirt's messages for a taken uuid or name", async () => {
  const s = freshStore();
  await s.defineConfig('vm1', U1, xmlOf('vm1', U1));
  await assert.rejects(s.defineConfig('vm2', U1, xmlOf('vm2', U1)), {
    message: `operation failed: domain 'vm1' is already defined with uuid ${U1}`,
    code: 'OPERATION_FAILED',
  });
  await assert.rejects(s.defineConfig('vm1', U2, xmlOf('vm1', U2)), {
    message: `operation failed: domain 'vm1' already exists with uuid ${U1}`,
  });
  assert.deepEqual(s.configNames(), ['vm1']);
});

test('uniqueness counts running transient domains, not shut-off records', async () => {
  const s = freshStore();
  s.writeStatus({ name: 't1', uuid: U2, state: 'running', reason: 'booted', pid: process.pid, id: 1 });
  await assert.rejects(s.defineConfig('other', U2, xmlOf('other', U2)), /domain 't1' is already defined with uuid/);
  await assert.rejects(s.defineConfig('t1', U1, xmlOf('t1', U1)), /domain 't1' already exists with uuid aaaaaaaa/);
  assert.equal((await s.defineConfig('t1', U2, xmlOf('t1', U2))).created, true, 'same name+uuid makes it persistent');
  s.writeStatus({ name: 'old', uuid: U1, state: 'shutoff', reason: 'destroyed' });
  await s.defineConfig('new', U1, xmlOf('new', U1));
});

test('a definition write killed mid-way leaves the old file intact; the temp file is ignored and cleaned', { timeout: 30_000 }, async () => {
  const s = freshStore();
  const old = xmlOf('vm1', U1);
  await s.defineConfig('vm1', U1, old);
  const storeUrl = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'qemu', 'driver', 'store.js')).href;
  // In a child: make fs.writeSync write half of the definition and then SIGKILL the process,
  // so the real writeFileAtomic dies in the middle of writing its temp file.
  const code = `
    import { createRequire, syncBuiltinESMExports } from 'node:module';
    const fs = createRequire(import.meta.url)('node:fs');
    const real = fs.writeSync;
    fs.writeSync = (fd, buf, off = 0, len, pos) => {
      const b = typeof buf === 'string' ? Buffer.from(buf) : buf;
      if (b.includes('CRASH-MARKER')) { real(fd, b, 0, b.length >> 1); process.kill(process.pid, 'SIGKILL'); }
      return real(fd, buf, off, len, pos);
    };
    syncBuiltinESMExports();
    const { DomainStore } = await import(${JSON.stringify(storeUrl)});
    const s = DomainStore.open({ stateDir: ${JSON.stringify(s.stateDir)}, env: {} });
    await s.defineConfig('vm1', ${JSON.stringify(U1)}, ${JSON.stringify(xmlOf('vm1', U1, '<!-- CRASH-MARKER -->' + 'x'.repeat(100_000)))});
    process.stdout.write('not killed');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', `child: ${r.stdout} ${r.stderr}`);
  const leftovers = readdirSync(s.configDir).filter((f) => f.endsWith('.tmp'));
  assert.equal(leftovers.length, 1, 'the half-written temp file is there');
  assert.ok(statSync(path.join(s.configDir, leftovers[0])).size > 0);
  assert.equal(s.readConfig('vm1'), old, 'old definition intact');
  assert.deepEqual(s.configNames(), ['vm1']);
  assert.deepEqual(s.listConfigs().map((c) => c.uuid), [U1]);
  // The next write (its store lock was left by the killed child: stale, taken over) cleans up.
  await s.defineConfig('vm1', U1, xmlOf('vm1', U1, '<title>t</title>'));
  assert.deepEqual(readdirSync(s.configDir).filter((f) => f.endsWith('.tmp')), []);
  assert.match(s.readConfig('vm1')!, /<title>t<\/title>/);
});

test('status records, pidfile, live XML, run files', () => {
  const s = freshStore();
  assert.equal(s.readStatus('vm'), undefined);
  s.writeStatus({ name: 'vm', uuid: U1, state: 'running', reason: 'booted', pid: 123, id: 4, runDir: s.runDirFor(U1) });
  assert.deepEqual(s.readStatus('vm'), { format: 1, name: 'vm', uuid: U1, state: 'running', reason: 'booted', pid: 123, id: 4, runDir: s.runDirFor(U1) });
  assert.equal(statSync(s.statusPath('vm')).mode & 0o777, 0o600);
  s.writePidfile('vm', 123);
  assert.equal(readFileSync(s.pidPath('vm'), 'utf8'), '123\n');
  s.writeLiveXml('vm', '<domain/>');
  assert.equal(s.readLiveXml('vm'), '<domain/>');
  s.removeRunFiles('vm', s.runDirFor(U1));
  assert.equal(existsSync(s.pidPath('vm')), false);
  assert.equal(s.readLiveXml('vm'), undefined);
  assert.deepEqual(s.statusNames(), ['vm']);
  s.removeStatus('vm');
  assert.deepEqual(s.listStatuses(), []);
});

test('ids count from 1 and skip ids held by live records', async () => {
  const s = freshStore();
  assert.equal(await s.allocateId(), 1);
  assert.equal(await s.allocateId(), 2);
  s.writeStatus({ name: 'x', uuid: U1, state: 'running', reason: 'booted', pid: 1, id: 7 });
  assert.equal(await s.allocateId(), 8);
});

test('domain lock: second holder fails fast with a libvirt-style message naming the pid', async () => {
  const s = freshStore();
  const l = await s.lockDomain('vm', 'start');
  await assert.rejects(s.lockDomain('vm', 'destroy'), {
    message: `Requested operation is not valid: domain 'vm' is locked by another virt-failover process (pid ${process.pid})`,
    code: 'OPERATION_INVALID',
  });
  assert.equal(await s.tryLockDomain('vm', 'x'), undefined);
  l.release();
  (await s.lockDomain('vm', 'destroy')).release();
});

test('unix socket paths longer than 107 bytes are refused with the fix named', () => {
  checkSocketPath(`/${'a'.repeat(106)}`);
  const long = `/${'a'.repeat(107)}`;
  assert.throws(() => checkSocketPath(long), {
    message: `invalid argument: unix socket path '${long}' is 108 bytes, longer than the 107 a socket address allows; use a shorter --state-dir or set VIRT_FAILOVER_RUNTIME_DIR`,
  });
});
