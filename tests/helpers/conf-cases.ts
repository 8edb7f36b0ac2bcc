// Data-driven conf cases: DIR/NAME.xml is parsed, formatted and validated; the result is
// DIR/NAME.out.xml (canonical output, which must also format to itself) or
// DIR/NAME.err (the exact message, newline-terminated). Compared through
// assertGolden, so VIRT_FAILOVER_REGENERATE=1 rewrites the expected files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { assertGolden, regenerate } from './golden.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { validateDomain } from '../../src/conf/validate.js';

export function runConfCases(dir: string, suite: string): void {
  const cases = readdirSync(dir).filter((f) => f.endsWith('.xml') && !f.endsWith('.out.xml')).sort();
  for (const file of cases) {
    const name = file.slice(0, -'.xml'.length);
    test(`${suite}: ${name}`, () => {
      const input = readFileSync(path.join(dir, file), 'utf8');
      const outFile = path.join(dir, `${name}.out.xml`);
      const errFile = path.join(dir, `${name}.err`);
      let out: string;
      try {
        const dom = parseDomainXml(input, { source: file });
        out = formatDomain(dom);
        validateDomain(dom);
      } catch (e) {
        if (!regenerate) assert.ok(!existsSync(outFile), `${name}: failed but ${name}.out.xml exists: ${(e as Error).message}`);
        assertGolden(`${(e as Error).message}\n`, errFile);
        return;
      }
      if (!regenerate) assert.ok(!existsSync(errFile), `${name}: succeeded but ${name}.err exists`);
      assertGolden(out, outFile);
      // libvirt's "XML OUT -> XML" step: the canonical form is a fixed point.
      assert.equal(formatDomain(parseDomainXml(out, { source: `${name}.out.xml` })), out);
    });
  }
}
