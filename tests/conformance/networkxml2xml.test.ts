// libvirt's networkxml2xml corpus: every case registered in networkxml2xmltest.c, run the way it is
// registered there: parse in/NAME.xml and compare the format with out/NAME.xml byte for byte
// (VIR_NETWORK_XML_INACTIVE where the harness passes it), or expect the parse to fail.
// Outputs whose input the release tarball lacks (a dangling symlink upstream) are checked for
// idempotence: out -> parse -> format -> out.
// The cases that pass are listed in tests/data/conformance/networkxml2xml-pass.txt; that list may
// only grow: a listed case failing fails the test; VIRT_FAILOVER_REGENERATE=1 rewrites it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir, testDataDir } from '../helpers/paths.js';
import { ConformanceSummary } from '../helpers/conformance.js';
import { regenerate } from '../helpers/golden.js';
import { formatNetwork, formatNetworkPort, parseNetworkPortXml, parseNetworkXml } from '../../src/conf/network/index.js';

interface Case {
  name: string;
  inactive: boolean;
  parseError: boolean;
}

/** The DO_TEST* registrations of libvirt's harness, in order. */
function registeredCases(harness: string): Case[] {
  const out: Case[] = [];
  for (const m of harness.matchAll(/^\s*DO_TEST(_FLAGS|_PARSE_ERROR)?\("([^"]+)"(?:,\s*([A-Z_]+))?\);/gm)) {
    out.push({ name: m[2]!, inactive: m[3] === 'VIR_NETWORK_XML_INACTIVE', parseError: m[1] === '_PARSE_ERROR' });
  }
  return out;
}

const passFile = path.join(testDataDir, 'conformance', 'networkxml2xml-pass.txt');

if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'networkxml2xml');
  const cases = registeredCases(readFileSync(path.join(corpusDir, 'harness', 'networkxml2xmltest.c'), 'utf8'));
  const listed = new Set(existsSync(passFile) ? readFileSync(passFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')) : []);
  const summary = new ConformanceSummary('networkxml2xml', 'byte-exact or refused as registered');
  const passing: string[] = [];

  test('the harness registers the corpus cases', () => assert.ok(cases.length >= 40, `only ${cases.length} DO_TEST lines found`));

  for (const c of cases) {
    const inFile = path.join(dir, 'in', `${c.name}.xml`);
    const outFile = path.join(dir, 'out', `${c.name}.xml`);
    const outOnly = !existsSync(inFile);
    const label = outOnly ? `${c.name} (out only)` : c.name;
    test(`networkxml2xml: ${label}`, () => {
      let problem: string | undefined;
      try {
        if (c.parseError) {
          try {
            parseNetworkXml(readFileSync(inFile, 'utf8'), { source: c.name });
            problem = 'parsed, but libvirt refuses it';
          } catch (e) {
            if (!(e instanceof Error) || !/^(XML error|unsupported configuration|internal error): /.test(e.message)) {
              problem = `refused with an untyped error: ${String(e)}`;
            }
          }
        } else {
          const expected = readFileSync(outFile, 'utf8');
          const input = outOnly ? expected : readFileSync(inFile, 'utf8');
          const actual = formatNetwork(parseNetworkXml(input, { source: c.name }), { inactive: c.inactive });
          if (actual !== expected) problem = `output differs:\n${actual}`;
        }
      } catch (e) {
        problem = `failed: ${(e as Error).message}`;
      }
      if (problem === undefined) {
        summary.pass(label);
        passing.push(c.name);
        return;
      }
      summary.fail(label);
      if (listed.has(c.name)) assert.fail(`${label} is on the pass list but ${problem}`);
      console.log(`# networkxml2xml ${label} (not on the pass list): ${problem.split('\n')[0]}`);
    });
  }

  after(() => {
    const fresh = passing.filter((n) => !listed.has(n));
    if (regenerate) {
      const all = [...new Set([...listed, ...passing])].sort();
      writeFileSync(passFile, `# networkxml2xml cases that pass (may only grow)\n${all.join('\n')}\n`);
      console.log(`# regenerated ${path.relative(testDataDir, passFile)} (${all.length} cases)`);
    } else if (fresh.length) {
      console.log(`# networkxml2xml: ${fresh.length} case(s) pass but are not listed (${fresh.join(', ')}): regenerate with VIRT_FAILOVER_REGENERATE=1`);
    }
  });
}

// The network-port files libvirt's QEMU harness resolves <source network='NET;PORT'/> with are canonical
// <networkport> XML: parse + format gives them back byte for byte.
if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'qemuxmlconf-support', 'virnetworkportxml2xmldata');
  const summary = new ConformanceSummary('networkport round trip', 'byte-exact');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.xml')).sort()) {
    test(`networkport round trip: ${f}`, () => {
      const text = readFileSync(path.join(dir, f), 'utf8');
      try {
        assert.equal(formatNetworkPort(parseNetworkPortXml(text, { source: f })), text);
        summary.pass(f);
      } catch (e) {
        summary.fail(f);
        throw e;
      }
    });
  }
}
