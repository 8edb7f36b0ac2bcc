// <hostdev> model: typed PCI fields, what libvirt ignores, raw-kept types.
// Whole-document cases are data in tests/data/conf (conf-cases.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, ElementReader, XmlWriter } from '../../src/util/xml.js';
import { type Hostdev, formatHostdev, isPciHostdev, parseHostdev, validateHostdev } from '../../src/conf/hostdev.js';

function hostdev(xml: string): Hostdev {
  return parseHostdev(new ElementReader(parseXml(xml)), { inactive: true });
}

function fmt(h: Hostdev): string {
  const w = new XmlWriter();
  formatHostdev(w, h);
  return w.toString();
}

test('PCI hostdev: typed fields with libvirt names', () => {
  const h = hostdev(`<hostdev mode='subsystem' type='pci' managed='yes' display='on' ramfb='off'>
    <driver name='vfio' model='vfio-pci-igb'/>
    <source writeFiltering='no'><address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/></source>
    <teaming type='transient' persistent='ua-backup0'/>
    <alias name='ua-vf0'/>
  </hostdev>`);
  assert.ok(isPciHostdev(h));
  assert.equal(h.subsys.managed, 'yes');
  assert.equal(h.subsys.display, 'on');
  assert.equal(h.subsys.ramfb, 'off');
  assert.deepEqual(h.subsys.driver, { name: 'vfio', model: 'vfio-pci-igb' });
  assert.equal(h.subsys.source.writeFiltering, 'no');
  assert.deepEqual(h.subsys.source.address, { type: 'pci', domain: 1, bus: 2, slot: 3, function: 4 });
  assert.deepEqual(h.teaming, { type: 'transient', persistent: 'ua-backup0' });
  assert.equal(h.info.alias, 'ua-vf0');
  validateHostdev(h);
});

test('mode defaults to subsystem; managed prints yes or no', () => {
  const h = hostdev("<hostdev type='pci' managed='maybe'><source/></hostdev>");
  assert.equal(fmt(h), [
    "<hostdev mode='subsystem' type='pci' managed='no'>",
    '  <source>',
    "    <address domain='0x0000' bus='0x00' slot='0x00' function='0x0'/>",
    '  </source>',
    '</hostdev>',
    '',
  ].join('\n'));
});

test('readonly/shareable only count for SCSI', () => {
  const pci = hostdev("<hostdev mode='subsystem' type='pci'><source/><readonly/><shareable/></hostdev>");
  assert.deepEqual(pci.ignored, ['readonly', 'shareable']);
  assert.doesNotMatch(fmt(pci), /readonly|shareable/);
  const scsi = hostdev("<hostdev mode='subsystem' type='scsi'><source><adapter name='a'/></source><shareable/></hostdev>");
  assert.ok(scsi.mode === 'subsystem' && scsi.shareable && !scsi.readonly);
  assert.match(fmt(scsi), /<shareable\/>/);
});

const ERRORS: [string, string][] = [
  ["<hostdev mode='bogus' type='pci'><source/></hostdev>", "XML error: Invalid value for attribute 'mode' in element 'hostdev': 'bogus'."],
  ["<hostdev mode='subsystem'><source/></hostdev>", "XML error: Missing required attribute 'type' in element 'hostdev'"],
  ["<hostdev mode='subsystem' type='pci' sgio='filtered'><source/></hostdev>", 'XML error: sgio is only supported for scsi host device'],
  ["<hostdev mode='subsystem' type='pci' rawio='yes'><source/></hostdev>", 'XML error: rawio is only supported for scsi host device'],
  ["<hostdev mode='subsystem' type='pci'><source startupPolicy='optional'/></hostdev>", 'unsupported configuration: Setting startupPolicy is only allowed for USB devices'],
  ["<hostdev mode='subsystem' type='pci'><driver name='nvidia'/><source/></hostdev>", "XML error: Invalid value for attribute 'name' in element 'driver': 'nvidia'."],
  ["<hostdev mode='subsystem' type='mdev'><source/></hostdev>", "XML error: Missing required attribute 'model' in element 'hostdev'"],
];

for (const [xml, message] of ERRORS) {
  test(`parse error: ${message}`, () => assert.throws(() => hostdev(xml), { message }));
}

test('validate: unfiltered sgio is refused', () => {
  const h = hostdev("<hostdev mode='subsystem' type='scsi' sgio='unfiltered'><source><adapter name='a'/></source></hostdev>");
  assert.throws(() => validateHostdev(h), { message: 'unsupported configuration: unfiltered sgio is no longer supported' });
});
