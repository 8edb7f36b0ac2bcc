// lint, data-driven: tests/data/lint/NAME.xml -> NAME.lint (the human output
// plus the exit status). Each rule has its own case.
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir, testDataDir } from '../helpers/paths.js';
import { loadLibvirtCaps } from '../../src/qemu/caps/index.js';
import { postParseDomain } from '../../src/qemu/postparse/postparse.js';
import { assertGolden } from '../helpers/golden.js';
import { parseXml } from '../../src/util/xml.js';
import { lintDomainXml, type LintOptions } from '../../src/lint/lint.js';
import { lintExitCode, lintResult, renderLintHuman } from '../../src/cli/lint.js';

const dir = path.join(testDataDir, 'lint');
// Without the corpus only the as-written half runs (and under CI corpusAvailable() fails the run).
const caps = corpusAvailable() ? await loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml')) : undefined;
// Each case twice: with the addresses as written (NAME.lint), and after
// post-parse with libvirt's assigned addresses (NAME.postparse.lint).
const modes: [string, LintOptions, string][] = [['as written', {}, '.lint']];
if (caps) modes.push(['post-parsed', { postParse: (d) => postParseDomain(d, caps, { profile: 'default' }) }, '.postparse.lint']);
for (const f of readdirSync(dir).filter((x) => x.endsWith('.xml')).sort()) for (const [mode, opts, ext] of modes) {
  test(`lint (${mode}): ${f}`, () => {
    const findings = lintDomainXml(parseXml(readFileSync(path.join(dir, f)), { source: f }), opts);
    const result = lintResult(f, findings);
    assertGolden(renderLintHuman(result) + `exit ${lintExitCode([result])}\n`, path.join(dir, f.replace(/\.xml$/, ext)));
  });
}
