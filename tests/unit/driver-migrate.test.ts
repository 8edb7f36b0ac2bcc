// migrate NAME local, the parts that need no QEMU: libvirt's refusals (exact messages), the failover
// primaries handed to migrateFailover (hostdevs, hostdev interfaces, emulated primaries), the checks
// the driver makes before touching the monitor, and the CLI's option parsing and progress output.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseDomainXml } from '../../src/conf/domain.js';
import { parseUnplugTimeout, progressPrinter } from '../../src/cli/migrate.js';
import type { QemuCaps } from '../../src/qemu/caps/model.js';
import { QemuDriver } from '../../src/qemu/driver/driver.js';
import { comparableArgs, failoverPrimaries, localMigrationBlocker, migrationBlocker } from '../../src/qemu/driver/migrate.js';
import { readProcStat } from '../../src/util/proc.js';
import { NoDomainError, OperationFailedError, OperationInvalidError, OperationUnsupportedError } from '../../src/util/errors.js';

const UUID = '6c1d7f5e-2f1b-4b53-9a55-3f8a2c1d0e10';
const QEMU_NS = "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'";

function domainXml(devices: string, opts: { name?: string; uuid?: string; tail?: string; ns?: boolean } = {}): string {
  return `<domain type='qemu'${opts.ns ? ` ${QEMU_NS}` : ''}>
  <name>${opts.name ?? 'vm'}</name>
  <uuid>${opts.uuid ?? UUID}</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
${devices}
  </devices>${opts.tail ?? ''}
</domain>
`;
}

const pciSource = (slot: string) => `<source><address type='pci' domain='0x0000' bus='0x06' slot='${slot}' function='0x0'/></source>`;
const STANDBY = `<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/><teaming type='persistent'/><alias name='ua-standby0'/></interface>`;
const HOSTDEV_PCI = `<hostdev mode='subsystem' type='pci' managed='yes'>${pciSource('0x10')}</hostdev>`;
const HOSTDEV_PCI_TRANSIENT = `<hostdev mode='subsystem' type='pci' managed='yes'>${pciSource('0x11')}<teaming type='transient' persistent='ua-standby0'/></hostdev>`;
const NET_HOSTDEV = `<interface type='hostdev' managed='yes'><mac address='52:54:00:aa:bb:dd'/>${pciSource('0x12')}</interface>`;
const NET_HOSTDEV_TRANSIENT = `<interface type='hostdev' managed='yes'><mac address='52:54:00:aa:bb:cc'/>${pciSource('0x13')}<teaming type='transient' persistent='ua-standby0'/></interface>`;
const HOSTDEV_USB = `<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>`;
const HOSTDEV_SCSI = `<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>`;
const HOSTDEV_MDEV = `<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>`;
const HOSTDEV_CAPS = `<hostdev mode='capabilities' type='net'><source><interface>eth0</interface></source></hostdev>`;
const EMULATED = `
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=hostua-primary0'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='{"driver":"e1000e","netdev":"hostua-primary0","id":"ua-primary0","failover_pair_id":"ua-standby0","mac":"52:54:00:aa:bb:cc","bus":"pci.4","romfile":""}'/>
  </qemu:commandline>`;

const blockerCases: { name: string; devices: string; tail?: string; message?: string }[] = [
  { name: 'plain PCI hostdev', devices: HOSTDEV_PCI, message: "Operation not supported: cannot migrate a domain with <hostdev mode='subsystem' type='pci'>" },
  { name: 'hostdev interface without teaming', devices: NET_HOSTDEV, message: "Operation not supported: cannot migrate a domain with <interface type='hostdev'>" },
  { name: 'SCSI hostdev', devices: HOSTDEV_SCSI, message: "Operation not supported: cannot migrate a domain with <hostdev mode='subsystem' type='scsi'>" },
  { name: 'mdev hostdev', devices: HOSTDEV_MDEV, message: "Operation not supported: cannot migrate a domain with <hostdev mode='subsystem' type='mdev'>" },
  { name: 'capabilities hostdev', devices: HOSTDEV_CAPS, message: "Operation not supported: cannot migrate a domain with <hostdev mode='capabilities'>" },
  { name: 'USB hostdev (libvirt lets it migrate)', devices: HOSTDEV_USB },
  { name: 'transient-teaming PCI hostdev', devices: `${STANDBY}${HOSTDEV_PCI_TRANSIENT}` },
  { name: 'transient-teaming hostdev interface', devices: `${STANDBY}${NET_HOSTDEV_TRANSIENT}` },
  { name: 'emulated primary', devices: STANDBY, tail: EMULATED },
  {
    name: 'a failover pair beside a plain PCI hostdev',
    devices: `${STANDBY}${HOSTDEV_PCI_TRANSIENT}${HOSTDEV_PCI}`,
    message: "Operation not supported: cannot migrate a domain with <hostdev mode='subsystem' type='pci'>",
  },
  {
    name: 'interface hostdevs are checked before plain hostdevs (libvirt order)',
    devices: `${HOSTDEV_CAPS}${NET_HOSTDEV}`,
    message: "Operation not supported: cannot migrate a domain with <interface type='hostdev'>",
  },
];

for (const c of blockerCases) {
  test(`migration blocker: ${c.name}`, () => {
    const dom = parseDomainXml(domainXml(c.devices, { tail: c.tail, ns: !!c.tail }));
    const b = migrationBlocker(dom);
    if (c.message === undefined) assert.equal(b, undefined);
    else {
      assert.ok(b instanceof OperationUnsupportedError);
      assert.equal(b.code, 'OPERATION_UNSUPPORTED');
      assert.equal(b.message, c.message);
    }
  });
}

test('failover primaries: hostdev interface, PCI hostdev and emulated primary, with their QEMU ids', () => {
  const xml = domainXml(`${STANDBY}${HOSTDEV_PCI_TRANSIENT}${NET_HOSTDEV_TRANSIENT}${HOSTDEV_USB}`, { tail: EMULATED, ns: true });
  // libvirt names hostdev interfaces first (hostdev0), then the <hostdev>s (hostdev1, hostdev2 for the USB one).
  const expected = [
    { id: 'hostdev0', standbyId: 'ua-standby0' },
    { id: 'hostdev1', standbyId: 'ua-standby0' },
    { id: 'ua-primary0', standbyId: 'ua-standby0' },
  ];
  assert.deepEqual(failoverPrimaries(parseDomainXml(xml)), expected);
  // The live XML carries the aliases the running QEMU got; they are taken as they are.
  const live = xml.replace(`${pciSource('0x11')}<teaming`, `${pciSource('0x11')}<alias name='hostdev7'/><teaming`);
  assert.deepEqual(failoverPrimaries(parseDomainXml(live, { inactive: false }))[1], { id: 'hostdev7', standbyId: 'ua-standby0' });
});

test('failover primaries: none without teaming or passthrough', () => {
  assert.deepEqual(failoverPrimaries(parseDomainXml(domainXml(`${STANDBY}${HOSTDEV_PCI}`))), []);
});

test('local destination: a unix chardev the source listens on is refused, connect mode is fine', () => {
  const serial = (mode: string) =>
    `<serial type='unix'><source mode='${mode}' path='/run/vm.serial'/><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>`;
  const b = localMigrationBlocker(parseDomainXml(domainXml(serial('bind'))));
  assert.ok(b instanceof OperationUnsupportedError);
  assert.equal(
    b.message,
    "Operation not supported: cannot migrate a domain with <serial type='unix'> in mode='bind' to this host: " +
      "the destination QEMU would take over the socket '/run/vm.serial' of the source (use mode='connect' or a pty)",
  );
  assert.equal(localMigrationBlocker(parseDomainXml(domainXml(serial('connect')))), undefined);
});

test('command comparison: -S, a destination\'s -incoming/-qmp and file chardev append= do not count', () => {
  const started = ['-name', 'guest=vm', '-S', '-chardev', 'file,id=charserial0,path=/var/log/vm.log', '-device', 'isa-serial'];
  const adopted = [
    '-name', 'guest=vm', '-chardev', 'file,id=charserial0,path=/var/log/vm.log,append=on', '-device', 'isa-serial',
    '-incoming', 'defer', '-qmp', 'unix:/run/vf/vf-migrate-dst-x/qmp.sock,server=on,wait=off',
  ];
  const built = ['-name', 'guest=vm', '-chardev', 'file,id=charserial0,path=/var/log/vm.log', '-device', 'isa-serial'];
  assert.deepEqual(comparableArgs(started), built);
  assert.deepEqual(comparableArgs(adopted), built);
  assert.notDeepEqual(comparableArgs(['-name', 'guest=vm', '-device', 'e1000e']), comparableArgs(['-name', 'guest=vm', '-device', 'e1000']));
});

// ---- the driver, before it talks to QEMU --------------------------------------------------------------

let dir = '';
let driver: QemuDriver;
const children: ChildProcess[] = [];
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vf-migrate-unit-'));
  driver = QemuDriver.open({
    stateDir: path.join(dir, 'state'),
    env: {},
    probeCaps: async () => ({}) as QemuCaps,
    postParse: () => undefined,
  });
});
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A process whose command line names the UUID, so the driver takes it for the domain's QEMU. */
async function fakeQemu(): Promise<{ pid: number; pidStart: string }> {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', UUID], { stdio: 'ignore' });
  children.push(c);
  await new Promise((resolve) => c.once('spawn', resolve));
  return { pid: c.pid!, pidStart: readProcStat(c.pid!)!.startTime };
}

async function runningRecord(name: string, devices: string): Promise<void> {
  const xml = domainXml(devices, { name });
  await driver.store.defineConfig(name, UUID, xml);
  const p = await fakeQemu();
  const runDir = driver.store.runDirFor(UUID);
  driver.store.writeStatus({ name, uuid: UUID, id: 1, ...p, runDir, monitor: path.join(runDir, 'monitor.sock'), state: 'running', reason: 'booted' });
  driver.store.writeLiveXml(name, xml);
}

test('driver: unknown domain, and a domain that is not running', async () => {
  await assert.rejects(driver.migrateLocal('nope'), (e: unknown) => e instanceof NoDomainError && e.message === "Domain not found: no domain with matching name 'nope'");
  const other = UUID.replace('6c1d', '0000');
  await driver.store.defineConfig('off', other, domainXml(STANDBY, { name: 'off', uuid: other }));
  await assert.rejects(
    driver.migrateLocal('off'),
    (e: unknown) => e instanceof OperationInvalidError && e.message === 'Requested operation is not valid: domain is not running',
  );
});

test('driver: libvirt refusal before the monitor is touched; the record stays as it was', async () => {
  await runningRecord('pt', `${STANDBY}${HOSTDEV_PCI}`);
  const before = driver.store.readStatus('pt');
  await assert.rejects(
    driver.migrateLocal('pt'),
    (e: unknown) =>
      e instanceof OperationUnsupportedError && e.message === "Operation not supported: cannot migrate a domain with <hostdev mode='subsystem' type='pci'>",
  );
  assert.deepEqual(driver.store.readStatus('pt'), before);
  assert.equal((await driver.getState('pt')).state, 'running');
  driver.store.removeStatus('pt');
  driver.store.removeConfig('pt');
});

test('driver: a migratable domain whose monitor cannot be reached fails cleanly', async () => {
  await runningRecord('nomon', STANDBY);
  await assert.rejects(
    driver.migrateLocal('nomon'),
    (e: unknown) => e instanceof OperationFailedError && /^operation failed: cannot reach the QEMU monitor of domain 'nomon': /.test(e.message),
  );
  assert.equal(driver.store.readStatus('nomon')?.reason, 'booted');
});

// ---- CLI pieces ---------------------------------------------------------------------------------------

test('--unplug-timeout: seconds (fractions allowed) to ms; anything else is refused like virsh', () => {
  assert.equal(parseUnplugTimeout('30'), 30_000);
  assert.equal(parseUnplugTimeout('0.5'), 500);
  for (const bad of ['0', '-1', 'abc', '', '1e3', '3000000']) {
    assert.throws(
      () => parseUnplugTimeout(bad),
      (e: unknown) => e instanceof Error && e.message === `invalid argument: Numeric value '${bad}' for <unplug-timeout> option is malformed or out of range`,
    );
  }
});

test('progress: one rewritten line on a terminal, a line per report otherwise', () => {
  const evs = [
    { phase: 'setup' as const, at: 1 },
    { phase: 'active' as const, at: 300, percent: 50, mbPerSec: 120, transferredBytes: 40e6 },
  ];
  let tty = '';
  const p = progressPrinter((s) => (tty += s), true);
  for (const e of evs) p.onProgress(e);
  p.end();
  assert.equal(tty, '\r\x1b[Kmigration   0.001 s  setup\r\x1b[Kmigration   0.300 s  active   50%  120.0 MB/s  40.0 MB sent\n');
  let plain = '';
  const q = progressPrinter((s) => (plain += s), false);
  for (const e of evs) q.onProgress(e);
  q.end();
  assert.equal(plain, 'migration   0.001 s  setup\nmigration   0.300 s  active   50%  120.0 MB/s  40.0 MB sent\n');
});
