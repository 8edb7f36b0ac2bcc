// Layers import only downward: cli -> qemu, host -> conf -> util. Reads the import lines of src/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

/** What each layer may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  util: [],
  conf: ['util'],
  host: ['conf', 'util'],
  qemu: ['host', 'conf', 'util'],
  lint: ['qemu', 'host', 'conf', 'util'],
  testbed: ['qemu', 'host', 'conf', 'util'],
  cli: ['lint', 'testbed', 'qemu', 'host', 'conf', 'util'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

for (const [layer, allowed] of Object.entries(ALLOWED)) {
  test(`src/${layer} imports only from ${allowed.join(', ') || 'nothing of ours'}`, () => {
    const bad: string[] = [];
    for (const f of files(path.join(repoRoot, 'src', layer))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/from '\.\.\/(\w+)\//g)) {
        if (!allowed.includes(m[1]!)) bad.push(`${path.relative(repoRoot, f)} imports ../${m[1]}/`);
      }
    }
    assert.deepEqual(bad, []);
  });
}
