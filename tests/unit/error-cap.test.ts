// Error messages repeat at most MAX_QUOTED_CHARS characters of any input value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MAX_QUOTED_CHARS, XmlError, capQuotedValues, capValue } from '../../src/util/errors.js';
import { parseDomainXml } from '../../src/conf/domain.js';
import { runCliProcess } from '../helpers/cli.js';

test('capValue keeps short values and cuts long ones to the limit plus "..."', () => {
  assert.equal(capValue('abc'), 'abc');
  assert.equal(capValue('x'.repeat(MAX_QUOTED_CHARS)), 'x'.repeat(MAX_QUOTED_CHARS));
  assert.equal(capValue('x'.repeat(MAX_QUOTED_CHARS + 1)), `${'x'.repeat(MAX_QUOTED_CHARS)}...`);
  // a surrogate pair is never split
  const s = `${'x'.repeat(MAX_QUOTED_CHARS - 1)}\u{1F600}tail`;
  assert.equal(capValue(s), `${'x'.repeat(MAX_QUOTED_CHARS - 1)}...`);
});

test('capQuotedValues caps quoted values (with blanks) and long bare runs, leaves the rest', () => {
  const long = 'a b'.repeat(1000);
  assert.equal(capQuotedValues(`bad value '${long}' here`), `bad value '${capValue(long)}' here`);
  const bare = 'z'.repeat(5000);
  assert.equal(capQuotedValues(`Malformed wwn: ${bare}`), `Malformed wwn: ${capValue(bare)}`);
  assert.equal(capQuotedValues("short 'value' stays"), "short 'value' stays");
});

test('every error class caps what it quotes', () => {
  const e = new XmlError(`unknown thing '${'q'.repeat(100_000)}'`);
  assert.ok(e.message.length < MAX_QUOTED_CHARS + 64, `message is ${e.message.length} chars`);
});

test('a 2 MB attribute gives a short error from the parser', () => {
  const big = 'T'.repeat(2 * 1024 * 1024);
  const xml = `<domain type='qemu'><name>x</name><memory>1024</memory><os><type>hvm</type></os><devices><interface type='user'><teaming type='${big}'/></interface></devices></domain>`;
  assert.throws(() => parseDomainXml(xml), (e: Error) => e.message.length < 400 && e.message.includes(`'${'T'.repeat(MAX_QUOTED_CHARS)}...'`));
});

test('the CLI prints one short error line for a 2 MB attribute', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vf-errcap-'));
  try {
    const file = path.join(dir, 'big.xml');
    writeFileSync(file, `<domain type='qemu'><name>x</name><memory>1024</memory><os><type>hvm</type></os><on_poweroff>${'P'.repeat(2 * 1024 * 1024)}</on_poweroff></domain>`);
    const r = await runCliProcess(['validate', file]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.length < 600, `stderr is ${r.stderr.length} bytes`);
    assert.match(r.stderr, /^error: XML error: Invalid value 'P{256}\.\.\.' for element 'on_poweroff'\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
