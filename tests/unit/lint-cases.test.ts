// lint, data-driven: tests/data/lint/NAME.xml -> NAME.lint (the human output
// plus the exit status). Each rule has its own case.
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { testDataDir } from '../helpers/paths.js';
import { assertGolden } from '../helpers/golden.js';
import { parseXml } from '../../src/util/xml.js';
import { lintDomainXml } from '../../src/qemu/lint.js';
import { lintExitCode, renderLintHuman, type LintResult } from '../../src/cli/lint.js';

const dir = path.join(testDataDir, 'lint');
for (const f of readdirSync(dir).filter((x) => x.endsWith('.xml')).sort()) {
  test(`lint: ${f}`, () => {
    const findings = lintDomainXml(parseXml(readFileSync(path.join(dir, f)), { source: f }));
    const result: LintResult = {
      file: f,
      findings,
      errors: findings.filter((x) => x.severity === 'error').length,
      warnings: findings.filter((x) => x.severity === 'warning').length,
    };
    assertGolden(renderLintHuman(result) + `exit ${lintExitCode([result])}\n`, path.join(dir, f.replace(/\.xml$/, '.lint')));
  });
}
