// pair: tests/data/pair/cases.json lists each case (arguments, optional base
// domain); NAME.out.xml is the generated domain, NAME.err the exact error.
// Every generated pair must also lint clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { testDataDir } from '../helpers/paths.js';
import { assertGolden } from '../helpers/golden.js';
import { parseXml } from '../../src/util/xml.js';
import { isVirtFailoverError } from '../../src/util/errors.js';
import { addFailoverPair, type PairOptions } from '../../src/lint/pair.js';
import { lintDomainXml } from '../../src/lint/lint.js';

interface Case {
  name: string;
  into?: string;
  args: PairOptions;
}

const dir = path.join(testDataDir, 'pair');
const cases = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8')) as Case[];
// A fixed random source, so generated MACs are reproducible.
const random = (n: number) => Uint8Array.from({ length: n }, (_, i) => 0x10 + i);

for (const c of cases) {
  test(`pair: ${c.name}`, () => {
    const base = c.into ? readFileSync(path.join(dir, c.into), 'utf8') : undefined;
    let out: string;
    try {
      out = addFailoverPair(base, { ...c.args, random });
    } catch (e) {
      if (!isVirtFailoverError(e)) throw e;
      assertGolden(`${e.message}\n`, path.join(dir, `${c.name}.err`));
      return;
    }
    assertGolden(out, path.join(dir, `${c.name}.out.xml`));
    const problems = lintDomainXml(parseXml(out)).filter((f) => f.rule !== 'hostdev-mac-not-shown');
    assert.deepEqual(problems, [], 'a generated pair lints clean');
  });
}
