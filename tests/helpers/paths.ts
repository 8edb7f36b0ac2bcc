// Locations used by tests. Compiled tests live in dist/tests/..., sources in tests/...
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (works from dist/tests/helpers and tests/helpers). */
export const repoRoot = here.includes(`${path.sep}dist${path.sep}`)
  ? path.resolve(here, '../../..')
  : path.resolve(here, '../..');
export const testDataDir = path.join(repoRoot, 'tests', 'data');
export const sharedDir = path.resolve(repoRoot, '..', 'shared');
export const corpusDir = path.join(sharedDir, 'conformance', 'libvirt');

/**
 * The libvirt corpus lives beside the repo. Missing: skip with a message,
 * unless CI is set, where a missing corpus is a failure.
 */
export function corpusAvailable(): boolean {
  if (existsSync(corpusDir)) return true;
  if (process.env.CI) throw new Error(`conformance corpus not found at ${corpusDir} (CI requires it)`);
  console.log(`# skipping conformance tests: ${corpusDir} not found`);
  return false;
}
