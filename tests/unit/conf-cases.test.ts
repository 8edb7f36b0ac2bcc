// Data-driven conf cases. Ours: tests/data/conf/**/NAME.xml with NAME.out.xml
// (canonical output) or NAME.err (the message + "\n"); VIRT_FAILOVER_REGENERATE=1
// rewrites those. libvirt's: every qemuxmlconf/NAME.x86_64-latest.err whose
// error is a parse-phase one, compared read-only; the others are named below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { assertGolden, regenerate } from '../helpers/golden.js';
import { corpusAvailable, corpusDir, testDataDir } from '../helpers/paths.js';
import { type Domain, formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { validateDomain } from '../../src/conf/validate.js';
import { checkDuplicateHostdevs } from '../../src/conf/hostdev-duplicates.js';
import { type Interface, validateNetQueueSizes, validateNetTeamingModel } from '../../src/conf/interface.js';

/**
 * What libvirt does in qemuxmlconftest's parse step for these elements:
 * parse, the duplicate-hostdev check, conf validation, and the QEMU driver's
 * interface checks (qemu_validate.c) that live beside the model.
 */
function parsePhase(text: string, source: string): Domain {
  const dom = parseDomainXml(text, { source });
  checkDuplicateHostdevs(dom);
  validateDomain(dom);
  for (const d of dom.devices) {
    if (d.kind !== 'interface') continue;
    validateNetTeamingModel(d as Interface);
    validateNetQueueSizes(d as Interface);
  }
  return dom;
}

type Outcome = { ok: true; xml: string } | { ok: false; message: string };

function run(file: string): Outcome {
  try {
    return { ok: true, xml: formatDomain(parsePhase(readFileSync(file, 'utf8'), path.basename(file))) };
  } catch (e) {
    if (e instanceof Error && 'code' in e) return { ok: false, message: e.message };
    throw e;
  }
}

function listCases(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listCases(p));
    else if (e.name.endsWith('.xml') && !e.name.endsWith('.out.xml')) out.push(p);
  }
  return out.sort();
}

const confDir = path.join(testDataDir, 'conf');
for (const input of listCases(confDir)) {
  const base = input.slice(0, -'.xml'.length);
  test(`conf case: ${path.relative(confDir, base)}`, () => {
    const outFile = `${base}.out.xml`;
    const errFile = `${base}.err`;
    const got = run(input);
    const expected = existsSync(errFile) ? 'err' : existsSync(outFile) ? 'out' : undefined;
    if (!regenerate) {
      assert.ok(expected, `${path.relative(confDir, base)}: no .out.xml or .err (VIRT_FAILOVER_REGENERATE=1 creates one)`);
      assert.equal(got.ok ? 'out' : 'err', expected, got.ok ? 'expected an error, parsing succeeded' : `unexpected error: ${got.message}`);
    } else if (expected && expected !== (got.ok ? 'out' : 'err')) {
      assert.fail(`outcome changed for ${path.relative(confDir, base)}: delete the stale .${expected === 'err' ? 'err' : 'out.xml'} first`);
    }
    if (got.ok) assertGolden(got.xml, outFile);
    else assertGolden(`${got.message}\n`, errFile);
  });
}

/** libvirt .err cases that are not parse-phase conf checks, with the reason. */
const NOT_CONF: Record<string, string> = {
  'hostdev-vfio-zpci-wrong-arch': 'needs QEMU capabilities (zPCI); qemu layer',
  'net-hostdev-fail': 'command-line phase (qemuDomainValidateActualNetDef); parsing succeeds',
  'pcie-root-port-too-many': 'PCI address assignment (post-parse); qemu layer',
};

if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'qemuxmlconf');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.x86_64-latest.err')).sort()) {
    const name = f.slice(0, -'.x86_64-latest.err'.length);
    const reason = NOT_CONF[name];
    test(`libvirt parse error: ${name}`, { skip: reason }, () => {
      const got = run(path.join(dir, `${name}.xml`));
      assert.ok(!got.ok, 'expected a parse error');
      assertGolden(`${got.message}\n`, path.join(dir, f));
    });
  }
}
