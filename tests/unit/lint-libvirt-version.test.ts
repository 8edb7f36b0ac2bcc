// `lint --connect` names the failover bugs of the connected daemon's libvirt release (measured on 9.0.0):
// an <interface type='hostdev'> teaming primary crashes 9.0's daemon, a plain <hostdev> one is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lintLibvirtVersion } from '../../src/lint/index.js';
import { parseXml } from '../../src/util/xml.js';
import { testDataDir } from '../helpers/paths.js';

const root = (file: string) => parseXml(readFileSync(path.join(testDataDir, 'lint', file)), { source: file });

test('9.0.x: the hostdev interface primary of a clean pair is named, with the version', () => {
  const f = lintLibvirtVersion(root('clean-pair.xml'), [9, 0, 0]);
  assert.deepEqual(f.map((x) => [x.severity, x.rule, x.path]), [['warning', 'libvirt-version-bug', '/domain/devices/interface[2]']]);
  assert.match(f[0]!.message, /^libvirt 9\.0\.0 \(the daemon connected to\) crashes its daemon/);
  assert.deepEqual(lintLibvirtVersion(root('clean-pair.xml'), [9, 0, 7]).length, 1);
});

test('other releases, and domains without a hostdev primary, get nothing', () => {
  assert.deepEqual(lintLibvirtVersion(root('clean-pair.xml'), [9, 1, 0]), []);
  assert.deepEqual(lintLibvirtVersion(root('clean-pair.xml'), [11, 3, 0]), []);
  assert.deepEqual(lintLibvirtVersion(root('emulated-primary-clean.xml'), [9, 0, 0]), []);
});
