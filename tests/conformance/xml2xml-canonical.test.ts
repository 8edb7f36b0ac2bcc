// For every *.x86_64-latest.xml in libvirt's corpus: format(parse(file)) is byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';
import { ConformanceSummary } from '../helpers/conformance.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';

if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'qemuxmlconf');
  const files = readdirSync(dir).filter((f) => f.endsWith('.x86_64-latest.xml') || f.endsWith('.x86_64-latest.abi-update.xml') || f.endsWith('.x86_64-7.2.0.xml')).sort();
  const summary = new ConformanceSummary('xml2xml-canonical', 'byte-exact');
  for (const f of files) {
    test(`canonical round trip: ${f}`, () => {
      const text = readFileSync(path.join(dir, f), 'utf8');
      try {
        assert.equal(formatDomain(parseDomainXml(text, { source: f })), text);
        summary.pass(f);
      } catch (e) {
        summary.fail(f);
        throw e;
      }
    });
  }
}
