// <interface> model: text forms (MAC, IP), typed fields, what libvirt ignores,
// and the checks the qemu layer calls. Whole-document cases are data in
// tests/data/conf (conf-cases.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, ElementReader, XmlWriter } from '../../src/util/xml.js';
import { parseMacAddress, normalizeIp, normalizeUuid } from '../../src/conf/interface-util.js';
import {
  type Interface, formatInterface, parseInterface, validateNetQueueSizes, validateNetTeamingModel,
} from '../../src/conf/interface.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { checkDuplicateHostdevs } from '../../src/conf/hostdev-duplicates.js';

function net(xml: string, inactive = true): Interface {
  return parseInterface(new ElementReader(parseXml(xml)), { inactive });
}

function fmt(n: Interface): string {
  const w = new XmlWriter();
  formatInterface(w, n);
  return w.toString();
}

const MACS: [string, string | RegExp][] = [
  ['52:54:00:AB:CD:0F', '52:54:00:ab:cd:0f'],
  ['0:1:2:3:4:5', '00:01:02:03:04:05'],
  ['00:11:22:33:44:55 trailing', '00:11:22:33:44:55'],
  ['00:11:22:33:44', /^XML error: unable to parse mac address '00:11:22:33:44'$/],
  ['00-11-22-33-44-55', /unable to parse mac address/],
  ['00:11:22:33:44:55x', /unable to parse mac address/],
  ['+0:11:22:33:44:55', /unable to parse mac address/],
  ['03:00:00:00:00:01', /^XML error: expected unicast mac address, found multicast '03:00:00:00:00:01'$/],
];

for (const [input, want] of MACS) {
  test(`mac ${JSON.stringify(input)}`, () => {
    if (typeof want === 'string') assert.equal(parseMacAddress(input), want);
    else assert.throws(() => parseMacAddress(input), { message: want });
  });
}

const IPS: [string, string | undefined][] = [
  ['192.168.1.1', '192.168.1.1'],
  ['2001:DB8:0:0:0:0:0:FEED', '2001:db8::feed'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
  ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
  ['0:0:0:0:0:0:0:0', '::'],
  ['1:0:0:0:0:0:0:0', '1::'],
  ['::1', '::1'],
  ['::0.0.0.1', '::1'],
  ['::1.2.3.4', '::1.2.3.4'],
  ['::FFFF:1.2.3.4', '::ffff:1.2.3.4'],
  ['FE80:0::1%eth0', 'fe80::1%eth0'],
  ['example.org', undefined],
];

for (const [input, want] of IPS) {
  test(`ip ${input}`, () => assert.equal(normalizeIp(input), want));
}

test('uuid: libvirt spelling, dashes optional', () => {
  assert.equal(normalizeUuid('09B11C53-8B5C-4EEB-8F00-D84EAA0AAA4F'), '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f');
  assert.equal(normalizeUuid('09b11c538b5c4eeb8f00d84eaa0aaa4f'), '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f');
  assert.equal(normalizeUuid('09b11c53'), undefined);
});

test('typed fields keep libvirt names and values', () => {
  const n = net(`<interface type='network' trustGuestRxFilters='yes'>
    <mac address='00:11:22:33:44:55' type='static' check='no'/>
    <source network='default' portgroup='pg'/>
    <model type='virtio'/>
    <driver name='vhost' queues='4' rx_queue_size='512'><host csum='off'/></driver>
    <teaming type='persistent'/>
    <link state='up'/>
    <mtu size='1500'/>
    <tune><sndbuf>0</sndbuf></tune>
  </interface>`);
  assert.equal(n.type, 'network');
  assert.equal(n.trustGuestRxFilters, 'yes');
  assert.deepEqual(n.mac, { address: '00:11:22:33:44:55', type: 'static', check: 'no' });
  assert.equal(n.source?.network, 'default');
  assert.equal(n.source?.portgroup, 'pg');
  assert.equal(n.model?.type, 'virtio');
  assert.deepEqual(n.driver, { name: 'vhost', queues: 4, rx_queue_size: 512, host: { csum: 'off' } });
  assert.deepEqual(n.teaming, { type: 'persistent' });
  assert.deepEqual(n.link, { state: 'up' });
  assert.deepEqual(n.mtu, { size: 1500 });
  assert.deepEqual(n.tune, { sndbuf: 0 });
  assert.equal(n.ignored, undefined);
  assert.equal(n.extra, undefined);
});

test('missing type is user; ViRtIo is virtio', () => {
  const n = net("<interface><model type='ViRtIo'/></interface>");
  assert.equal(n.type, 'user');
  assert.equal(n.model?.type, 'virtio');
  assert.equal(fmt(n), "<interface type='user'>\n  <model type='virtio'/>\n</interface>\n");
});

test('type=hostdev: the host device lives on the net, teaming too', () => {
  const n = net(`<interface type='hostdev' managed='yes'>
    <source><address type='pci' domain='0x0000' bus='0x03' slot='0x07' function='0x1'/></source>
    <teaming type='transient' persistent='ua-backup0'/>
  </interface>`);
  assert.equal(n.hostdev?.type, 'pci');
  assert.equal(n.hostdev?.managed, 'yes');
  assert.deepEqual(n.hostdev?.type === 'pci' && n.hostdev.source.address, { type: 'pci', domain: 0, bus: 3, slot: 7, function: 1 });
  assert.deepEqual(n.teaming, { type: 'transient', persistent: 'ua-backup0' });
  assert.equal(n.source, undefined);
});

test('what libvirt reads past is listed in ignored, and not printed', () => {
  const n = net(`<interface type='hostdev' managed='no'>
    <source><address type='pci' domain='0x0000' bus='0x06' slot='0x12' function='0x1'/></source>
    <model type='virtio'/>
    <filterref filter='myfilter'/>
    <driver queues='4'/>
  </interface>`);
  assert.deepEqual(n.ignored, ['driver/@queues', 'filterref']);
  assert.doesNotMatch(fmt(n), /filterref|queues|managed/);
  const e1000 = net("<interface type='user'><model type='e1000'/><driver txmode='timer'><host csum='off'/></driver></interface>");
  assert.deepEqual(e1000.ignored, ['driver/@txmode', 'driver/host']);
  assert.doesNotMatch(fmt(e1000), /driver/);
});

test('portid and generated target names: kept for live XML, dropped from definitions', () => {
  const xml = `<interface type='network'>
    <source network='default' portid='873BE5A0-6b8a-4a0b-a1df-ef3659cd64bc'/>
    <target dev='vnet3'/>
  </interface>`;
  const inactive = net(xml);
  assert.deepEqual(inactive.ignored, ['source/@portid', 'target/@dev']);
  const live = net(xml, false);
  assert.equal(live.source?.portid, '873be5a0-6b8a-4a0b-a1df-ef3659cd64bc');
  assert.equal(live.target?.dev, 'vnet3');
  assert.match(fmt(live), /<source network='default' portid='873be5a0-6b8a-4a0b-a1df-ef3659cd64bc'\/>/);
});

test('validateNetTeamingModel: the QEMU driver checks #7 and #8', () => {
  for (const model of ['virtio', 'virtio-transitional', 'virtio-non-transitional']) {
    validateNetTeamingModel(net(`<interface type='user'><model type='${model}'/><teaming type='persistent'/></interface>`));
  }
  validateNetTeamingModel(net("<interface type='network'><source network='n'/><teaming type='transient' persistent='ua-x'/></interface>"));
  assert.throws(
    () => validateNetTeamingModel(net("<interface type='user'><model type='rtl8139'/><teaming type='persistent'/></interface>")),
    { message: "unsupported configuration: virtio-net teaming persistent interface must be <model type='virtio'/>, not 'rtl8139'" },
  );
  assert.throws(
    () => validateNetTeamingModel(net("<interface type='bridge'><source bridge='br0'/><teaming type='transient' persistent='ua-x'/></interface>")),
    { code: 'CONFIG_UNSUPPORTED', message: "unsupported configuration: virtio-net teaming transient interface must be type='hostdev', not 'bridge'" },
  );
});

test('validateNetQueueSizes: powers of two, virtio only', () => {
  validateNetQueueSizes(net("<interface><model type='virtio'/><driver rx_queue_size='1024' tx_queue_size='256'/></interface>"));
  validateNetQueueSizes(net("<interface><model type='e1000'/><driver rx_queue_size='511'/></interface>"));
  assert.throws(
    () => validateNetQueueSizes(net("<interface><model type='virtio'/><driver rx_queue_size='511'/></interface>")),
    { message: 'unsupported configuration: rx_queue_size has to be a power of two' },
  );
});

test('checkDuplicateHostdevs: different functions are different devices', () => {
  const dom = parseDomainXml(`<domain type='qemu'><name>x</name><os><type>hvm</type></os><devices>
    <interface type='hostdev'><source><address type='pci' domain='0' bus='3' slot='7' function='1'/></source></interface>
    <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='3' slot='7' function='2'/></source></hostdev>
  </devices></domain>`);
  checkDuplicateHostdevs(dom);
});

// Not a tests/data case: every .out.xml there must validate against libvirt's
// schema, and unknown XML does not.
test('unknown attributes and children survive, in the model (for lint) and in the output', () => {
  const dom = parseDomainXml(`<domain type='qemu'><name>x</name><os><type>hvm</type></os><devices>
    <interface type='user' foo='bar'>
      <mac address='00:11:22:33:44:55' x-note='keep'/>
      <model type='virtio'/>
      <teaming type='persistent' x-extra='1'/>
      <wibble level='3'><wobble/></wibble>
      <alias name='ua-backup0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes' x-hostdev='1'>
      <source x-src='2'><address domain='0x0000' bus='0x03' slot='0x07' function='0x1'/></source>
      <teaming type='transient' persistent='ua-backup0'/>
      <x-child/>
    </hostdev>
  </devices></domain>`);
  const n = dom.devices[0] as Interface;
  assert.deepEqual(n.extra?.attrs, [['foo', 'bar']]);
  assert.deepEqual(n.extra?.children.map((c) => c.name), ['wibble']);
  assert.deepEqual(n.mac?.extra?.attrs, [['x-note', 'keep']]);
  assert.deepEqual(n.teaming?.extra?.attrs, [['x-extra', '1']]);
  assert.equal(formatDomain(dom), [
    "<domain type='qemu'>",
    '  <name>x</name>',
    '  <os>',
    '    <type>hvm</type>',
    '  </os>',
    "  <clock offset='utc'/>",
    '  <devices>',
    "    <interface type='user' foo='bar'>",
    "      <mac address='00:11:22:33:44:55' x-note='keep'/>",
    "      <model type='virtio'/>",
    "      <teaming type='persistent' x-extra='1'/>",
    "      <alias name='ua-backup0'/>",
    "      <wibble level='3'>",
    '        <wobble/>',
    '      </wibble>',
    '    </interface>',
    "    <hostdev mode='subsystem' type='pci' managed='yes' x-hostdev='1'>",
    "      <source x-src='2'>",
    "        <address domain='0x0000' bus='0x03' slot='0x07' function='0x1'/>",
    '      </source>',
    "      <teaming type='transient' persistent='ua-backup0'/>",
    '      <x-child/>',
    '    </hostdev>',
    '  </devices>',
    '</domain>',
    '',
  ].join('\n'));
});
