// The state and runtime directories hold definitions, locks and QEMU's sockets: a symbolic
// link, a directory of another user or one others can write to is refused, and the runtime
// directory's 0700 is never applied through a link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DomainStore } from '../../src/qemu/driver/store.js';

let dir = '';
let n = 0;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-statedirs-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const fresh = (): string => path.join(dir, `case${++n}`);
const uid = process.geteuid?.() ?? 0;

test('a state directory that is a symbolic link is refused', () => {
  const real = fresh();
  mkdirSync(real, { mode: 0o700 });
  const link = fresh();
  symlinkSync(real, link);
  assert.throws(() => DomainStore.open({ stateDir: link, runtimeDir: path.join(real, 'run'), env: {} }), {
    code: 'SYSTEM_ERROR',
    message: `refusing to use state directory '${link}': it is a symbolic link`,
  });
});

test('a runtime directory that is a symbolic link is refused, and its target keeps its mode', () => {
  const target = fresh();
  mkdirSync(target, { mode: 0o755 });
  chmodSync(target, 0o755);
  const link = fresh();
  symlinkSync(target, link);
  assert.throws(() => DomainStore.open({ stateDir: fresh(), runtimeDir: link, env: {} }), {
    message: `refusing to use runtime directory '${link}': it is a symbolic link`,
  });
  assert.equal(statSync(target).mode & 0o777, 0o755, 'no chmod through the link');
});

test('a state directory writable by group or others is refused', () => {
  const state = fresh();
  mkdirSync(state);
  chmodSync(state, 0o777);
  assert.throws(() => DomainStore.open({ stateDir: state, env: {} }), {
    message: `refusing to use state directory '${state}': it is writable by group or others (mode 0777)`,
  });
});

test("a directory owned by another user is refused", () => {
  const state = fresh();
  // The store runs as uid+1 here: the directories this process made belong to someone else.
  assert.throws(() => DomainStore.open({ stateDir: state, env: {}, uid: uid + 1 }), {
    message: `refusing to use state directory '${state}': it is owned by uid ${uid}, not by uid ${uid + 1}`,
  });
});

test('our own runtime directory with mode 0755 is made 0700; the store opens', () => {
  const state = fresh();
  const run = path.join(state, 'run');
  mkdirSync(run, { recursive: true, mode: 0o755 });
  chmodSync(run, 0o755);
  const s = DomainStore.open({ stateDir: state, env: {} });
  assert.equal(s.runtimeDir, run);
  assert.equal(statSync(run).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(run, 'locks')).mode & 0o777, 0o700);
});
