// Reads the TAP output of a test run and fails when a skipped test is not in .ci/skip-allowlist
// (a test must not go green by not running). Usage: node .ci/check-skips.mjs TAP-LOG [ALLOWLIST]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [log, allowFile = path.join(here, 'skip-allowlist')] = process.argv.slice(2);
if (!log) {
  console.error('usage: node .ci/check-skips.mjs TAP-LOG [ALLOWLIST]');
  process.exit(2);
}

/** NAME -> reason, from "NAME | REASON" lines ('#' starts a comment line). */
function parseAllowlist(text) {
  const allowed = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const sep = line.lastIndexOf(' | ');
    if (sep < 0) throw new Error(`skip-allowlist: no ' | REASON' in: ${line}`);
    allowed.set(line.slice(0, sep).trim(), line.slice(sep + 3).trim());
  }
  return allowed;
}

/** The names of skipped tests in TAP output: "ok N - NAME # SKIP [reason]" at any depth. */
function skippedTests(tap) {
  const out = [];
  for (const line of tap.split('\n')) {
    const m = /^\s*ok \d+ - (.*?[^\\]) # SKIP\b/.exec(line); // a '#' in a name is escaped: \#
    if (m) out.push(m[1].replace(/\\#/g, '#'));
  }
  return out;
}

const allowed = parseAllowlist(readFileSync(allowFile, 'utf8'));
const skipped = skippedTests(readFileSync(log, 'utf8'));
const unlisted = skipped.filter((name) => !allowed.has(name));
console.log(`ci: ${skipped.length} skipped (allowlist: ${allowed.size})`);
if (unlisted.length > 0 || skipped.length > allowed.size) {
  for (const name of unlisted) console.error(`ci: skipped but not in .ci/skip-allowlist: ${name}`);
  if (skipped.length > allowed.size) console.error(`ci: ${skipped.length} tests skipped, more than the ${allowed.size} allowed`);
  process.exit(1);
}
