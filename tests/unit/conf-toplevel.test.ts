// Top-level elements (os, features, cpu, clock, pm, memory units, element
// order): parse + format to libvirt's canonical form, and libvirt's errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { featureEnabled } from '../../src/conf/features.js';
import path from 'node:path';
import { testDataDir } from '../helpers/paths.js';
import { runConfCases } from '../helpers/conf-cases.js';

runConfCases(path.join(testDataDir, 'conf-toplevel'), 'conf toplevel');

test('features: unknown elements are kept (validation reports them), known ones typed', () => {
  const xml = `<domain type='kvm'>\n  <name>f</name>\n  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n  </os>\n  <features>\n    <x-future state='on' level='2'/>\n    <vmport state='off'/>\n    <acpi/>\n  </features>\n</domain>\n`;
  const dom = parseDomainXml(xml);
  assert.equal(featureEnabled(dom.features, 'acpi'), true);
  assert.equal(featureEnabled(dom.features, 'vmport'), false);
  assert.equal(dom.os.machine, 'q35');
  assert.equal(dom.os.arch, 'x86_64');
  assert.match(formatDomain(dom), /<features>\n {4}<acpi\/>\n {4}<vmport state='off'\/>\n {4}<x-future state='on' level='2'\/>\n {2}<\/features>/);
});
