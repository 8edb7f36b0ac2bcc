// Every document our formatter writes must validate against libvirt's RNG
// schema (xmllint --relaxng): corpus inputs and outputs, our cases, examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { corpusAvailable, corpusDir, repoRoot, testDataDir } from '../helpers/paths.js';
import { ConformanceSummary } from '../helpers/conformance.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';

function xmllintAvailable(): boolean {
  const r = spawnSync('xmllint', ['--version']);
  if (r.status === 0) return true;
  if (process.env.CI) throw new Error('xmllint (Debian libxml2-utils) is required in CI');
  console.log('# skipping RNG validation: xmllint not installed (apt-get install libxml2-utils)');
  return false;
}

function listXml(dir: string, pred: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listXml(p, pred));
    else if (pred(p)) out.push(p);
  }
  return out.sort();
}

if (corpusAvailable() && xmllintAvailable()) {
  test('formatter output validates against libvirt domain.rng', () => {
    const sources = [
      ...listXml(path.join(corpusDir, 'qemuxmlconf'), (f) => f.endsWith('.xml')),
      ...listXml(testDataDir, (f) => f.endsWith('.out.xml') || f.endsWith('.x86_64-latest.xml')),
      ...listXml(path.join(repoRoot, 'examples'), (f) => f.endsWith('.xml')),
    ];
    const tmp = mkdtempSync(path.join(tmpdir(), 'vf-rng-'));
    const summary = new ConformanceSummary('rng-valid-output', 'documents validate');
    try {
      const written: [string, string][] = [];
      sources.forEach((src, i) => {
        const out = path.join(tmp, `${i}.xml`);
        let text: string;
        try {
          text = formatDomain(parseDomainXml(readFileSync(src), { source: src }));
        } catch (e) {
          // libvirt's own parse-error cases (NAME.xml beside NAME.x86_64-latest.err) have no output.
          if (existsSync(src.replace(/\.xml$/, '.x86_64-latest.err'))) return;
          throw e;
        }
        writeFileSync(out, text);
        written.push([src, out]);
      });
      const r = spawnSync('xmllint', ['--noout', '--relaxng', path.join(corpusDir, 'schemas', 'domain.rng'), ...written.map((w) => w[1])], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      const failures: string[] = [];
      for (const [src, out] of written) {
        const name = path.relative(repoRoot, src);
        if (r.stderr.includes(`${out} validates`)) summary.pass(name);
        else {
          summary.fail(name);
          failures.push(name);
        }
      }
      assert.deepEqual(failures, [], `not RNG-valid:\n${r.stderr.split('\n').filter((l) => !l.endsWith('validates')).slice(0, 40).join('\n')}`);
      assert.ok(written.length > 100);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
  test('xmllint rejects what the schema forbids (the check can fail)', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'vf-rng-neg-'));
    try {
      const bad = path.join(tmp, 'bad.xml');
      writeFileSync(bad, "<domain type='qemu'><name>x</name><devices><interface type='user'><teaming type='none'/></interface></devices></domain>\n");
      const r = spawnSync('xmllint', ['--noout', '--relaxng', path.join(corpusDir, 'schemas', 'domain.rng'), bad], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /fails to validate/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
