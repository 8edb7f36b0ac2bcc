// Bad input of every kind: a short `error: ...`, non-zero exit, no stack trace, no hang.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCliProcess } from '../helpers/cli.js';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-badinput-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const minimal = (body: string) => `<domain type='qemu'><name>x</name>${body}</domain>`;

interface Case {
  name: string;
  /** Creates the input and returns the path to pass. */
  make: (d: string) => string;
  /** Expected error text (regex on stderr). */
  expect: RegExp;
}

const cases: Case[] = [
  { name: 'missing file', make: (d) => path.join(d, 'nope.xml'), expect: /^error: Failed to open file '.*nope\.xml': No such file or directory\n$/ },
  { name: 'directory', make: (d) => { const p = path.join(d, 'adir'); mkdirSync(p); return p; }, expect: /^error: Failed to read file '.*adir': Is a directory\n$/ },
  { name: 'empty file', make: (d) => w(d, 'empty.xml', ''), expect: /^error: XML error: .*document is empty\n$/ },
  { name: 'binary garbage', make: (d) => w(d, 'garbage.xml', Buffer.from([0xff, 0x00, 0x13, 0x88, 0xc3, 0x28, 0x01])), expect: /^error: XML error: .*(not valid UTF-8|NUL)/ },
  { name: 'UTF-16', make: (d) => w(d, 'utf16.xml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(minimal(''), 'utf16le')])), expect: /^error: XML error: .*UTF-16 documents are not supported/ },
  { name: 'truncated', make: (d) => w(d, 'trunc.xml', "<domain type='qemu'><name>x</name><devices>"), expect: /^error: XML error: .*trunc\.xml:1:\d+: unclosed tag: devices\n$/ },
  { name: 'wrong root', make: (d) => w(d, 'root.xml', "<network><name>x</name></network>"), expect: /^error: XML error: expecting root element of 'domain', not 'network'\n$/ },
  { name: 'doctype', make: (d) => w(d, 'dtd.xml', '<!DOCTYPE domain [<!ENTITY a "b">]>' + minimal('')), expect: /^error: XML error: .*DOCTYPE declarations are not allowed/ },
  {
    name: 'entity bomb',
    make: (d) => {
      let ents = '<!ENTITY lol0 "lol">';
      for (let i = 1; i < 10; i++) ents += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
      return w(d, 'bomb.xml', `<?xml version="1.0"?><!DOCTYPE lolz [${ents}]><domain type='qemu'><name>&lol9;</name></domain>`);
    },
    expect: /^error: XML error: .*DOCTYPE declarations are not allowed/,
  },
  { name: 'undefined entity', make: (d) => w(d, 'ent.xml', minimal('<title>&xxe;</title>')), expect: /^error: XML error: .*ent\.xml:1:\d+: undefined entity/ },
  { name: 'deep nesting', make: (d) => w(d, 'deep.xml', minimal('<metadata>' + '<a>'.repeat(100000) + '</a>'.repeat(100000) + '</metadata>')), expect: /^error: XML error: .*nesting is deeper than 256 levels/ },
  { name: '50 MB document', make: (d) => w(d, 'huge.xml', minimal(`<description>${'x'.repeat(50 * 1024 * 1024)}</description>`)), expect: /^error: Failed to read file '.*huge\.xml': file is larger than 10485760 bytes\n$/ },
  { name: 'missing domain type', make: (d) => w(d, 'notype.xml', '<domain><name>x</name></domain>'), expect: /^error: XML error: Missing required attribute 'type' in element 'domain'\n$/ },
  { name: 'missing name', make: (d) => w(d, 'noname.xml', "<domain type='kvm'/>"), expect: /^error: XML error: missing name information in domain\n$/ },
];

function w(d: string, name: string, data: string | Buffer): string {
  const p = path.join(d, name);
  writeFileSync(p, data);
  return p;
}

for (const c of cases) {
  for (const verb of ['validate', 'format']) {
    test(`${verb}: ${c.name}`, async () => {
      const sub = path.join(dir, `${verb}-${c.name.replace(/\W+/g, '_')}`);
      mkdirSync(sub);
      const file = c.make(sub);
      const r = await runCliProcess([verb, file], { timeoutMs: 30000 });
      assert.notEqual(r.code, 0, 'must exit non-zero');
      assert.match(r.stderr, c.expect);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(r.stderr.split('\n').length <= 3, 'short message');
    });
  }
}
