// libvirt's "QEMU XML def -> XML" step: for every corpus input NAME.xml with an
// expected NAME.x86_64-latest.xml (or .x86_64-7.2.0.xml), parse + post-parse with
// the matching recorded capabilities and format: the result must be byte-identical.
// PARSE_ERROR cases (.err without an .xml output) must fail with libvirt's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';
import { ConformanceSummary } from '../helpers/conformance.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { validateDomain } from '../../src/conf/validate.js';
import { loadLibvirtCaps } from '../../src/qemu/caps/index.js';
import type { QemuCaps } from '../../src/qemu/caps/model.js';
import { postParseDomain } from '../../src/qemu/postparse/postparse.js';
import { validateDomainForQemu } from '../../src/qemu/postparse/validate.js';
import { validateDeviceAddressesForQemu } from '../../src/qemu/postparse/validate-address.js';

/**
 * Outputs we do not reproduce, each with the reason. The runner has no other
 * special cases: a name here is still run, as a `todo`.
 */
const KNOWN_DEVIATIONS: Record<string, string> = {};

interface Case {
  /** Output file name, the test's name. */
  name: string;
  input: string;
  expected: string;
  kind: 'xml' | 'err';
  capsFile: string;
  /** DO_TEST_CAPS_LATEST strips machine aliases from the caps; DO_TEST_CAPS_VER does not. */
  stripMachineAliases: boolean;
  abiUpdate: boolean;
}

function collectCases(dir: string): Case[] {
  const files = new Set(readdirSync(dir));
  const latest = path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml');
  const v720 = path.join(corpusDir, 'qemucaps', 'caps_7.2.0_x86_64.xml');
  const cases: Case[] = [];
  const outputs: [RegExp, string, boolean, boolean][] = [
    [/^(.*)\.x86_64-latest\.xml$/, latest, true, false],
    [/^(.*)\.x86_64-latest\.abi-update\.xml$/, latest, true, true],
    [/^(.*)\.x86_64-7\.2\.0\.xml$/, v720, false, false],
  ];
  for (const f of [...files].sort()) {
    for (const [re, capsFile, strip, abiUpdate] of outputs) {
      const m = re.exec(f);
      if (m && files.has(`${m[1]}.xml`)) {
        cases.push({ name: f, input: `${m[1]}.xml`, expected: f, kind: 'xml', capsFile, stripMachineAliases: strip, abiUpdate });
      }
    }
    // A PARSE_ERROR test has an .err and no XML output; with an XML output the
    // error comes later (command line), outside post-parse.
    const e = /^(.*)\.x86_64-latest\.err$/.exec(f);
    if (e && files.has(`${e[1]}.xml`) && !files.has(`${e[1]}.x86_64-latest.xml`)) {
      cases.push({ name: f, input: `${e[1]}.xml`, expected: f, kind: 'err', capsFile: latest, stripMachineAliases: true, abiUpdate: false });
    }
  }
  return cases;
}

function run(c: Case, dir: string, caps: QemuCaps): string {
  const text = readFileSync(path.join(dir, c.input), 'utf8');
  const dom = parseDomainXml(text, { source: c.input });
  const out = postParseDomain(dom, caps, {
    profile: 'libvirt-test',
    stripMachineAliases: c.stripMachineAliases,
    abiUpdate: c.abiUpdate,
  });
  validateDomain(out);
  validateDomainForQemu(out);
  validateDeviceAddressesForQemu(out, caps);
  return formatDomain(out);
}

if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'qemuxmlconf');
  const cases = collectCases(dir);
  const capsCache = new Map<string, QemuCaps>();
  for (const c of cases) {
    if (!capsCache.has(c.capsFile) && existsSync(c.capsFile)) capsCache.set(c.capsFile, await loadLibvirtCaps(c.capsFile));
  }
  const summary = new ConformanceSummary('xml2xml-postparse', 'byte-exact');
  for (const c of cases) {
    const todo = KNOWN_DEVIATIONS[c.name];
    test(`post-parse: ${c.name}`, todo ? { todo } : {}, () => {
      const expected = readFileSync(path.join(dir, c.expected), 'utf8');
      const caps = capsCache.get(c.capsFile);
      assert.ok(caps, `capabilities ${c.capsFile} missing`);
      try {
        if (c.kind === 'xml') {
          assert.equal(run(c, dir, caps), expected);
        } else {
          assert.throws(() => run(c, dir, caps), (e: Error) => {
            assert.equal(`${e.message}\n`, expected);
            return true;
          });
        }
        summary.pass(c.name);
      } catch (e) {
        summary.fail(c.name);
        throw e;
      }
    });
  }

  // libvirt's "QEMU XML OUT -> XML" step: an expected output read back and
  // post-parsed again comes out unchanged.
  const again = new ConformanceSummary('xml2xml-postparse-idempotent', 'byte-exact');
  for (const c of cases.filter((x) => x.kind === 'xml')) {
    test(`post-parse again: ${c.name}`, () => {
      const caps = capsCache.get(c.capsFile);
      assert.ok(caps, `capabilities ${c.capsFile} missing`);
      try {
        assert.equal(run({ ...c, input: c.expected }, dir, caps), readFileSync(path.join(dir, c.expected), 'utf8'));
        again.pass(c.name);
      } catch (e) {
        again.fail(c.name);
        throw e;
      }
    });
  }
}
