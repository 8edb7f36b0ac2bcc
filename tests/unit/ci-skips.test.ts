// .ci/check-skips.mjs: a test run fails when a test was skipped that .ci/skip-allowlist does not name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

const script = path.join(repoRoot, '.ci', 'check-skips.mjs');
let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-ciskips-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function check(tap: string, allowlist: string): { status: number | null; out: string } {
  const log = path.join(dir, 'tap.log');
  const allow = path.join(dir, 'allow');
  writeFileSync(log, tap);
  writeFileSync(allow, allowlist);
  const r = spawnSync(process.execPath, [script, log, allow], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const TAP = [
  'TAP version 13',
  '# Subtest: a',
  'ok 1 - a',
  '    ok 1 - nested skipped # SKIP no daemon',
  'ok 2 - libvirt parse error: x # SKIP qemu layer',
  'ok 3 - a name with \\# SKIP in it is not a skip',
  '# tests 3',
].join('\n');

test('every skipped test listed: passes, and the count is printed', () => {
  const r = check(TAP, '# comment\nnested skipped | needs a daemon\nlibvirt parse error: x | qemu layer\n');
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /ci: 2 skipped \(allowlist: 2\)/);
});

test('a skipped test missing from the allowlist fails and is named', () => {
  const r = check(TAP, 'libvirt parse error: x | qemu layer\n');
  assert.equal(r.status, 1);
  assert.match(r.out, /skipped but not in \.ci\/skip-allowlist: nested skipped/);
});

test('an entry without a reason is refused', () => {
  const r = check(TAP, 'nested skipped\n');
  assert.notEqual(r.status, 0);
  assert.match(r.out, /no ' \| REASON'/);
});

test('.ci/run sets CI=1 itself and runs the skip check', () => {
  const run = readFileSync(path.join(repoRoot, '.ci', 'run'), 'utf8');
  assert.match(run, /^export CI=1$/m);
  assert.match(run, /node \.ci\/check-skips\.mjs "\$log"/);
});
