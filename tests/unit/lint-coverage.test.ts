// Every lint rule has a case that triggers it and a near miss that does not (tests/data/lint,
// checked through the goldens lint-cases.test.ts compares), and some finding appears only once
// libvirt's addresses are assigned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, testDataDir } from '../helpers/paths.js';

const dir = path.join(testDataDir, 'lint');
const lintSrc = path.join(repoRoot, 'src', 'lint');

/** Rule ids as the lint sources write them (rule: 'id'). */
const rules = [...new Set(readdirSync(lintSrc).filter((f) => f.endsWith('.ts')).flatMap((f) =>
  [...readFileSync(path.join(lintSrc, f), 'utf8').matchAll(/rule: '([a-z0-9-]+)'/g)].map((m) => m[1]!)))].sort();

/** Near misses shared with a case that exists for its own sake; every other rule has RULE-near-miss.xml. */
const NEAR_MISS: Record<string, string> = {
  'emulated-primary-keyval': 'emulated-primary-clean', // the same -device written as JSON
  'emulated-primary-romfile': 'emulated-primary-clean', // romfile='' given
  'hostdev-mac-not-shown': 'clean-pair', // the same VF as <interface type='hostdev'>, which carries the MAC
  'hostdev-not-managed': 'clean-pair', // managed='yes'
  'libvirt-rejects': 'clean-pair',
  'mac-missing': 'clean-pair',
  'persistent-without-transient': 'clean-pair',
  'teaming-duplicate': 'clean-pair',
  'teaming-misplaced': 'clean-pair',
  'teaming-unknown-attribute': 'clean-pair', // persistent= is a known attribute
  'transient-alias-missing': 'clean-pair',
};

/**
 * Rules that depend on more than the file (the connected daemon's version): their trigger and near miss
 * are in a unit test of their own, which must name the rule and check an empty result.
 */
const COVERED_BY_UNIT_TEST: Record<string, string> = {
  'libvirt-version-bug': 'tests/unit/lint-libvirt-version.test.ts',
};

const cases = readdirSync(dir).filter((f) => f.endsWith('.xml')).map((f) => f.slice(0, -4));
const outputs = (name: string): string[] =>
  ['.lint', '.postparse.lint'].map((ext) => path.join(dir, name + ext)).filter(existsSync).map((f) => readFileSync(f, 'utf8'));

test('the lint sources define rules', () => {
  assert.ok(rules.length >= 20, rules.join(' '));
});

for (const rule of rules) {
  test(`lint rule ${rule}: a case triggers it, a near miss does not`, () => {
    const unit = COVERED_BY_UNIT_TEST[rule];
    if (unit) {
      const text = readFileSync(path.join(repoRoot, unit), 'utf8');
      assert.ok(text.includes(`'${rule}'`) && /assert\.deepEqual\([^;]*, \[\]\)/.test(text), `${unit} must trigger [${rule}] and check a near miss`);
      return;
    }
    const triggering = cases.filter((c) => outputs(c).some((o) => o.includes(`[${rule}]`)));
    assert.ok(triggering.length > 0, `no case in tests/data/lint triggers [${rule}]`);
    const near = NEAR_MISS[rule] ?? `${rule}-near-miss`;
    assert.ok(existsSync(path.join(dir, `${near}.xml`)), `no near miss ${near}.xml for [${rule}]`);
    const got = outputs(near);
    assert.equal(got.length, 2, `${near}: both goldens (.lint and .postparse.lint) are needed`);
    for (const o of got) assert.ok(!o.includes(`[${rule}]`), `the near miss ${near} triggers [${rule}]`);
  });
}

test('some findings appear only after libvirt assigns the addresses', () => {
  const findings = (text: string) => text.split('\n').filter((l) => /\[[a-z0-9-]+\]$/.test(l));
  const late = cases.filter((c) => {
    const [written, placed] = outputs(c);
    return written !== undefined && placed !== undefined && findings(placed).some((f) => !findings(written).includes(f));
  });
  assert.deepEqual(late.sort(), ['placement-after-assignment', 'placement-after-assignment-default-model']);
});
