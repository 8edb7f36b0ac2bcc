// One place that compares output with an expected file. With
// VIRT_FAILOVER_REGENERATE=1 it rewrites expected files under tests/data
// (ours) — never the libvirt corpus in ../shared.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { sharedDir, testDataDir } from './paths.js';

export const regenerate = process.env.VIRT_FAILOVER_REGENERATE === '1';

export function assertGolden(actual: string, expectedFile: string): void {
  const ours = path.resolve(expectedFile).startsWith(testDataDir + path.sep);
  if (regenerate && ours) {
    const old = existsSync(expectedFile) ? readFileSync(expectedFile, 'utf8') : undefined;
    if (old !== actual) {
      mkdirSync(path.dirname(expectedFile), { recursive: true });
      writeFileSync(expectedFile, actual);
      console.log(`# regenerated ${path.relative(testDataDir, expectedFile)}`);
    }
    return;
  }
  if (path.resolve(expectedFile).startsWith(sharedDir + path.sep) || !ours) {
    // libvirt's files are the yardstick: compared, never rewritten.
  }
  assert.ok(existsSync(expectedFile), `expected output ${expectedFile} is missing (VIRT_FAILOVER_REGENERATE=1 creates ours)`);
  assert.equal(actual, readFileSync(expectedFile, 'utf8'));
}
