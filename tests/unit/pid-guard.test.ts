// A pid from a child or a record is checked before any signal: kill(0, ...) reaches our own
// process group and kill(-1, ...) every process of the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { checkedPid, signalProcess, signalProcessGroup } from '../../src/util/proc.js';

test('checkedPid accepts only safe integers > 0', () => {
  assert.equal(checkedPid(process.pid), process.pid);
  for (const bad of [undefined, null, -1, 0, Number.NaN, 1.5, 2 ** 60]) {
    assert.throws(() => checkedPid(bad), { code: 'INTERNAL_ERROR' }, String(bad));
  }
});

test('signalProcess and signalProcessGroup refuse -1, 0 and a missing pid instead of signalling', () => {
  for (const bad of [-1, 0, Number.NaN]) assert.throws(() => signalProcess(bad, 0), { code: 'INTERNAL_ERROR' });
  for (const bad of [undefined, -1, 0]) assert.throws(() => signalProcessGroup(bad, 0), { code: 'INTERNAL_ERROR' });
  assert.equal(signalProcess(process.pid, 0), true);
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sources(p);
    return /\.(ts|mjs)$/.test(e.name) ? [p] : [];
  });
}

test('process.kill is called only by util/proc.ts, the guarded watchdog, or on our own pid', () => {
  const allowed = new Set(['src/util/proc.ts', 'scripts/test.mjs']);
  const bad: string[] = [];
  for (const dir of ['src', 'tests', 'scripts', 'bench']) {
    for (const file of sources(path.join(repoRoot, dir))) {
      const rel = path.relative(repoRoot, file);
      if (allowed.has(rel) || rel === 'tests/unit/pid-guard.test.ts') continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/process\.kill\(/.test(line) && !/process\.kill\(process\.pid\b/.test(line)) bad.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
  }
  assert.deepEqual(bad, []);
});
