// `validate` is `virsh define`: post-parse, then the validators. Over libvirt's whole x86_64
// corpus it must give libvirt's verdict (ok, or the exact .err of a PARSE_ERROR test) wherever
// our post-parse matches libvirt, and it never disagrees with `format --post-parse`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir, testDataDir } from '../helpers/paths.js';
import { fullCorpusCases } from '../helpers/full-corpus.js';
import { runCliProcess } from '../helpers/cli.js';
import { validateFile } from '../../src/cli/validate.js';
import { defineWithOptions } from '../../src/cli/qemu-options.js';
import { readDomainFile } from '../../src/cli/io.js';
import { formatDomain } from '../../src/conf/domain.js';

if (corpusAvailable()) {
  const caps = path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml');
  const opts = { caps, profile: 'libvirt-test' };
  // Cases the CLI can express: no harness-only options, no changed caps, not an ABI update.
  const cases = fullCorpusCases().filter((c) => existsSync(c.input) && !c.unapplied.length && !c.reg.capsDel.length && !c.reg.capsAdd.length && !c.reg.abiUpdate);
  const postparsePasses = new Set(readFileSync(path.join(testDataDir, 'conformance', 'qemuxmlconf-full-postparse.txt'), 'utf8').split('\n'));

  test('validate agrees with format --post-parse and with libvirt over the corpus', async () => {
    const disagree: string[] = [];
    const wrong: string[] = [];
    for (const c of cases) {
      const v = await validateFile(c.input, opts);
      let formatted: string | undefined;
      try {
        formatted = formatDomain((await defineWithOptions(await readDomainFile(c.input), opts)).dom);
      } catch (e) {
        if (v.ok || v.error?.message !== (e as Error).message) disagree.push(`${c.id}: validate ${v.ok ? 'ok' : v.error?.message}, format: ${(e as Error).message}`);
      }
      if (formatted !== undefined && !v.ok) disagree.push(`${c.id}: validate ${v.error?.message}, format ok`);
      if (!postparsePasses.has(c.id)) continue;
      const want = c.reg.parseError && c.expectedErr ? readFileSync(c.expectedErr, 'utf8').replace(/\n$/, '') : undefined;
      const got = v.ok ? undefined : v.error?.message;
      if (got !== want) wrong.push(`${c.id}: validate says ${got ?? 'ok'}, libvirt ${want ?? 'ok'}`);
    }
    assert.ok(cases.length > 700, `only ${cases.length} cases`);
    assert.deepEqual(disagree, []);
    assert.deepEqual(wrong, []);
  });

  test('the CLI: validate and format --post-parse give the same error', async () => {
    const c = cases.find((x) => x.reg.parseError && postparsePasses.has(x.id) && x.id.startsWith('disk-'));
    assert.ok(c, 'no parse-error case');
    const v = await runCliProcess(['validate', '--caps', caps, '--profile', 'libvirt-test', c.input]);
    const f = await runCliProcess(['format', '--post-parse', '--caps', caps, '--profile', 'libvirt-test', c.input]);
    assert.equal(v.code, 1);
    assert.equal(f.code, 1);
    assert.equal(v.stderr, f.stderr);
    assert.equal(v.stderr, `error: ${readFileSync(c.expectedErr!, 'utf8')}`);
  });
}
