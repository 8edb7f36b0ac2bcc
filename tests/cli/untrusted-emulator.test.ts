// A domain file someone sends must never run a program: lint, validate, format --post-parse and
// domxml-to-native take the capabilities from --caps, --emulator, the cache or the default
// QEMU, never by starting the file's own <emulator>.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCliProcess } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';
import { qemuSkip } from '../helpers/qemu-env.js';

let dir = '';
let marker = '';
let xmlFile = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-untrusted-'));
  marker = path.join(dir, 'ran');
  const script = path.join(dir, 'evil-emulator');
  writeFileSync(script, `#!/bin/sh\necho ran > '${marker}'\nexit 1\n`);
  chmodSync(script, 0o755);
  const example = readFileSync(path.join(repoRoot, 'examples', 'failover-pair.xml'), 'utf8');
  xmlFile = path.join(dir, 'sent.xml');
  writeFileSync(xmlFile, example.replace(/<emulator>[^<]*<\/emulator>/, `<emulator>${script}</emulator>`));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// Without a QEMU on this machine the verbs fail, but the marker must still never appear.
const haveQemu = qemuSkip() === false;

const verbs: [string, string[], number[]][] = [
  ['lint', ['lint'], [0, 2]],
  ['validate', ['validate'], [0]],
  ['format --post-parse', ['format', '--post-parse'], [0]],
  ['domxml-to-native', ['domxml-to-native'], [0]],
];

for (const [name, args, okCodes] of verbs) {
  test(`${name}: the file's <emulator> is never run`, { timeout: 120_000 }, async () => {
    const r = await runCliProcess([...args, xmlFile], { timeoutMs: 110_000 });
    assert.equal(existsSync(marker), false, `${name} ran the file's emulator`);
    if (!haveQemu) return;
    assert.ok(okCodes.includes(r.code ?? -1), `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /^note: using the capabilities of the default QEMU \S+, not running the file's <emulator> \S+evil-emulator\n/);
  });
}
