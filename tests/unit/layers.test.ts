// The layout's rules, read from the import lines of src/: layers import only downward, a folder is entered
// only through its index.ts, no two files import each other in a circle, and no file grows past 500 lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

/** What each layer may import (besides itself). src/index.ts, the library's face, may import any layer. */
const ALLOWED: Record<string, string[]> = {
  util: [],
  conf: ['util'],
  host: ['conf', 'util'],
  qemu: ['host', 'conf', 'util'],
  libvirt: ['qemu', 'host', 'conf', 'util'],
  lint: ['qemu', 'libvirt', 'host', 'conf', 'util'],
  testbed: ['qemu', 'host', 'conf', 'util'],
  cli: ['lint', 'testbed', 'qemu', 'libvirt', 'host', 'conf', 'util'],
};
/** Folders whose files are private: other folders import them only through FOLDER/index.ts. */
const INDEXED = /^src\/(qemu\/[a-z-]+|lint|testbed|host|libvirt)$/;
const MAX_LINES = 500;

function files(dir: string, ext = '.ts'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), ext) : e.name.endsWith(ext) ? [path.join(dir, e.name)] : [],
  );
}

const rel = (f: string) => path.relative(repoRoot, f).split(path.sep).join('/');
const srcFiles = files(path.join(repoRoot, 'src')).map(rel);

/** Every relative import of a file, resolved to a repo-relative .ts path. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(repoRoot, file), 'utf8');
  return [...text.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) =>
    path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
  );
}
const graph = new Map(srcFiles.map((f) => [f, importsOf(f)]));

const layerOf = (f: string) => (f.split('/').length > 2 ? f.split('/')[1]! : '');
function folderOf(f: string): string {
  const parts = f.split('/');
  if (parts[1] === 'qemu' && parts.length > 3) return parts.slice(0, 3).join('/');
  return parts.slice(0, parts.length > 2 ? 2 : 1).join('/');
}

test('every src/ file belongs to a known layer', () => {
  const unknown = srcFiles.filter((f) => layerOf(f) !== '' && !(layerOf(f) in ALLOWED));
  assert.deepEqual(unknown, []);
});

for (const [layer, allowed] of Object.entries(ALLOWED)) {
  test(`src/${layer} imports only from ${allowed.join(', ') || 'nothing of ours'}`, () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      if (layerOf(f) !== layer) continue;
      for (const d of deps) if (layerOf(d) !== layer && !allowed.includes(layerOf(d))) bad.push(`${f} imports ${d}`);
    }
    assert.deepEqual(bad, []);
  });
}

test('other folders enter a folder only through its index.ts', () => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      const target = folderOf(d);
      if (target !== folderOf(f) && INDEXED.test(target) && d !== `${target}/index.ts`) bad.push(`${f} imports ${d}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the domain verbs reach an engine only through src/cli/backend.ts (the demo runs its own driver)', () => {
  const demo = new Set(['src/cli/demo.ts', 'src/cli/demo-hosts.ts']);
  const direct = [...graph]
    .filter(([f]) => f.startsWith('src/cli/') && f !== 'src/cli/backend.ts' && !demo.has(f))
    .flatMap(([f, deps]) => deps.filter((d) => d.startsWith('src/qemu/driver/') || d.startsWith('src/libvirt/')).map((d) => `${f} imports ${d}`));
  assert.deepEqual(direct, []);
});

test("src/libvirt builds on QEMU's monitor and migration logic, never on the embedded driver", () => {
  const bad = [...graph].filter(([f]) => f.startsWith('src/libvirt/')).flatMap(([f, deps]) => deps.filter((d) => d.startsWith('src/qemu/driver/')).map((d) => `${f} imports ${d}`));
  assert.deepEqual(bad, []);
});

test('no import circles between files of src/', () => {
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      circles.push([...stack.slice(stack.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...stack, f]);
    state.set(f, 'done');
  };
  for (const f of srcFiles) visit(f, []);
  assert.deepEqual(circles, []);
});

test(`no file of src, tests, bench or scripts is over ${MAX_LINES} lines`, () => {
  const all = [...files(path.join(repoRoot, 'src')), ...files(path.join(repoRoot, 'tests')), ...files(path.join(repoRoot, 'bench')), ...files(path.join(repoRoot, 'scripts'), '.mjs')];
  const long = all.map((f) => [rel(f), readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
  assert.deepEqual(long, []);
});

test('the rules see the whole tree (a check that reads no import would pass vacuously)', () => {
  assert.ok(srcFiles.length > 50, `only ${srcFiles.length} files found`);
  assert.ok([...graph.values()].flat().length > 200);
});
