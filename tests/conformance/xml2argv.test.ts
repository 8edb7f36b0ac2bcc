// libvirt's qemuxml2argv half of qemuxmlconftest: for every corpus NAME.x86_64-latest.args
// (and -7.2.0, abi-update), the post-parsed NAME.x86_64-latest.xml must give the identical
// .args file; FAILURE cases (.err next to an output .xml) must give the identical message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';
import { ConformanceSummary } from '../helpers/conformance.js';
import { parseDomainXml } from '../../src/conf/domain.js';
import { loadLibvirtCaps } from '../../src/qemu/caps/libvirt-xml.js';
import type { QemuCaps } from '../../src/qemu/caps/model.js';
import { buildCommandLine, renderArgsFile } from '../../src/qemu/command/command.js';
import { loadNetworkResolver, type NetworkResolver } from '../../src/qemu/command/network-resolve.js';

/** Cases whose output we knowingly do not reproduce, with the reason. */
const KNOWN_DEVIATIONS: Record<string, string> = {};

interface Case {
  name: string;
  xml: string;
  expected: string;
  caps: '10.0.0' | '7.2.0';
  failure: boolean;
}

function corpusCases(dir: string): Case[] {
  const files = new Set(readdirSync(dir));
  const out: Case[] = [];
  for (const f of [...files].sort()) {
    const m = /^(.*)\.x86_64-(latest|latest\.abi-update|7\.2\.0)\.(args|err)$/.exec(f);
    if (!m) continue;
    const xml = `${m[1]}.x86_64-${m[2]}.xml`;
    if (!files.has(xml)) continue; // a PARSE_ERROR case: nothing reaches the command line
    out.push({ name: f, xml: path.join(dir, xml), expected: path.join(dir, f), caps: m[2] === '7.2.0' ? '7.2.0' : '10.0.0', failure: m[3] === 'err' });
  }
  return out;
}

if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'qemuxmlconf');
  const summary = new ConformanceSummary('xml2argv');
  const caps = new Map<string, Promise<QemuCaps>>([
    ['10.0.0', loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml'))],
    ['7.2.0', loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_7.2.0_x86_64.xml'))],
  ]);
  const support = path.join(corpusDir, 'qemuxmlconf-support');
  let networks: Promise<NetworkResolver> | undefined;
  const cases = corpusCases(dir);
  test('the corpus has xml2argv cases', () => assert.ok(cases.length > 50, `only ${cases.length} cases`));
  for (const c of cases) {
    const deviation = KNOWN_DEVIATIONS[c.name];
    test(`xml2argv: ${c.name}`, deviation ? { todo: deviation } : {}, async () => {
      networks ??= loadNetworkResolver({
        networkDir: path.join(support, 'networkxml2xmlin'),
        portDir: path.join(support, 'virnetworkportxml2xmldata'),
      });
      const expected = readFileSync(c.expected, 'utf8');
      let actual: string;
      try {
        const dom = parseDomainXml(readFileSync(c.xml, 'utf8'), { source: path.basename(c.xml) });
        const cmd = buildCommandLine(dom, await caps.get(c.caps)!, { profile: 'libvirt-test', networks: await networks });
        actual = renderArgsFile(cmd);
      } catch (e) {
        if (!c.failure) {
          summary.fail(c.name);
          throw e;
        }
        actual = `${e instanceof Error ? e.message : String(e)}\n`;
      }
      try {
        assert.equal(actual, expected);
        summary.pass(c.name);
      } catch (e) {
        summary.fail(c.name);
        throw e;
      }
      if (deviation) assert.fail(`${c.name} matches libvirt now: remove it from KNOWN_DEVIATIONS`);
    });
  }
}
