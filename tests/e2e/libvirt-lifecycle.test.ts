// The domain verbs on a real libvirt daemon (`--connect`), one test host of our own (namespaces, private
// /etc/libvirt and /run/libvirt: tests/helpers/libvirt-host.ts): define / list / domstate / dumpxml /
// start / destroy / undefine of the failover test guest with the same output as on our store,
// `domfailover` before the guest negotiated failover (started paused) and after, `lint` of broken pairs
// defined in libvirt, with the daemon's known failover bugs named by version.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureGuestImage, GuestConsole, type GuestImage } from '../../src/testbed/guest-image.js';
import type { GuestEvent } from '../../src/testbed/guest-init.js';
import type { DomfailoverReport } from '../../src/cli/domfailover.js';
import type { LintResult } from '../../src/cli/lint.js';
import { runCliProcess } from '../helpers/cli.js';
import { LibvirtHost, libvirtSkip, pidsUsing } from '../helpers/libvirt-host.js';
import { libvirtGuestXml, STANDBY_MAC } from '../helpers/libvirt-guest.js';
import { qemuSkip } from '../helpers/qemu-env.js';
import { signalProcess } from '../../src/util/proc.js';

const skip = qemuSkip() || libvirtSkip();
/** Why the libvirt daemons of this file could not start (outside CI only). */
let unavailable: string | undefined;

let dir = '';
let host: LibvirtHost | undefined;
let image: GuestImage;
const consoles: GuestConsole[] = [];
const cli = (...args: string[]) => runCliProcess(['--connect', host!.uri, ...args], { timeoutMs: 60_000 });

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-lv-life-'));
  image = await ensureGuestImage();
  try {
    host = await LibvirtHost.start({ dir, name: 'lvhostA' });
  } catch (e) {
    // a daemon that cannot run here says why: a failure in CI, a skip elsewhere
    if (process.env.CI) throw e;
    unavailable = (e as Error).message;
  }
});

after(async () => {
  await host?.stop();
  for (const c of consoles) await c.close();
  for (const pid of dir ? pidsUsing(dir) : []) signalProcess(pid, 'SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function waitGuest(con: GuestConsole, what: string, pred: (e: GuestEvent) => boolean, ms: number): Promise<void> {
  try {
    await con.waitFor((l) => l.event !== undefined && pred(l.event), ms, 0);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}\n--- last console lines:\n${con.lines.slice(-10).map((l) => l.line).join('\n')}`);
  }
}

const NAME = 'lvfo';

test('define, list, domstate, dumpxml, start, destroy, undefine: the same output as on our store', { skip, timeout: 120_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  const con = await GuestConsole.listen(path.join(dir, `${NAME}.serial`));
  consoles.push(con);
  const file = path.join(dir, `${NAME}.xml`);
  await writeFile(file, libvirtGuestXml({ name: NAME, image, mode: 'failover', serial: con.socketPath }));

  const d = await cli('define', file);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, `Domain '${NAME}' defined from ${file}\n\n`);
  assert.equal((await cli('list', '--all')).stdout, ' Id   Name   State\n-----------------------\n -    lvfo   shut off\n\n');
  assert.equal((await cli('domstate', NAME)).stdout, 'shut off\n\n');

  const s = await cli('start', NAME);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, `Domain '${NAME}' started\n\n`);
  assert.equal((await cli('domstate', '--reason', NAME)).stdout, 'running (booted)\n\n');
  const list = JSON.parse((await cli('list', '--json')).stdout) as { name: string; state: string; active: boolean; persistent: boolean; id: number }[];
  assert.deepEqual(list.map((x) => [x.name, x.state, x.active, x.persistent]), [[NAME, 'running', true, true]]);
  assert.ok(list[0]!.id > 0);
  // dumpxml prints libvirt's live XML unchanged (virsh's own output plus virsh's blank line)
  const ours = await cli('dumpxml', NAME);
  assert.equal(ours.stdout, `${(await host!.virsh('dumpxml', NAME)).replace(/\n+$/, '\n')}\n`);
  assert.match(ours.stdout, /<domain type='qemu' id='\d+'/);
  const inactive = await cli('dumpxml', '--inactive', NAME);
  assert.match(inactive.stdout, /^<domain type='qemu' xmlns:qemu=/);

  // the test guest ignores the ACPI power button: only requested, or a timeout that names 'destroy'
  const req = await cli('shutdown', '--timeout', '0', NAME);
  assert.equal(req.stdout, `Domain '${NAME}' is being shutdown\n\n`);
  const late = await cli('shutdown', '--timeout', '1', NAME);
  assert.equal(late.code, 1);
  assert.equal(
    late.stderr,
    `error: Failed to shutdown domain '${NAME}'\nerror: operation failed: domain '${NAME}' did not shut down within 1 seconds: ` +
      "the guest did not act on the ACPI power button (use 'destroy' to force it off)\n",
  );
  const x = await cli('destroy', NAME);
  assert.equal(x.stdout, `Domain '${NAME}' destroyed\n\n`);
  assert.equal((await cli('domstate', '--reason', NAME)).stdout, 'shut off (destroyed)\n\n');

  const missing = await cli('domstate', 'no-such-domain');
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, "error: failed to get domain 'no-such-domain'\nerror: Domain not found: no domain with matching name 'no-such-domain'\n");
});

test('domfailover before the guest negotiated failover (started paused) and after', { skip, timeout: 120_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  const con = consoles[0]!;
  await host!.virsh('start', '--paused', NAME);
  const before = await cli('domfailover', '--json', NAME);
  assert.equal(before.code, 0, before.stderr);
  const b = JSON.parse(before.stdout) as DomfailoverReport;
  assert.equal(b.pairs.length, 1);
  const p0 = b.pairs[0]!;
  assert.deepEqual([p0.id, p0.standbyId, p0.standbyPresent, p0.plugged, p0.negotiated, p0.negotiatedHow], ['ua-primary0', 'ua-standby0', true, false, false, 'guest-features']);
  assert.deepEqual(p0.mac, { standby: STANDBY_MAC, primary: null, equal: null });
  assert.equal(p0.primarySlot, null);
  assert.match(b.via, /virsh qemu-monitor-command/);

  const from = con.lines.length;
  await host!.virsh('resume', NAME);
  await waitGuest(con, 'primary enslaved', (e) => e.kind === 'state' && e.enslaved, 60_000);
  assert.ok(con.lines.length > from);
  const afterNeg = JSON.parse((await cli('domfailover', '--json', NAME)).stdout) as DomfailoverReport;
  const p1 = afterNeg.pairs[0]!;
  assert.deepEqual([p1.plugged, p1.negotiated, p1.negotiatedHow], [true, true, 'guest-features']);
  assert.deepEqual(p1.mac, { standby: STANDBY_MAC, primary: STANDBY_MAC, equal: true });
  assert.equal(p1.primarySlot?.parent, 'pci.4');
  assert.deepEqual(p1.lint, []);
  const human = await cli('domfailover', NAME);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^ {2}primary: {5}ua-primary0, plugged, PCI [0-9a-f]{2}:00\.0 on pci\.4, MAC 52:54:00:aa:bb:cc$/m);
  assert.match(human.stdout, /^ {2}negotiated: {2}yes \(the standby's negotiated guest features/m);
  // what the docs and --help warn about: libvirt marks the domain as tainted by monitor commands
  assert.match(await host!.virsh('dominfo', NAME), /tainted: custom monitor control commands issued/);

  assert.equal((await cli('destroy', NAME)).code, 0);
  const u = await cli('undefine', NAME);
  assert.equal(u.stdout, `Domain '${NAME}' has been undefined\n\n`);
  assert.equal((await cli('list', '--all')).stdout, ' Id   Name   State\n--------------------\n\n');
});

test('lint NAME --connect: broken pairs defined in libvirt, and the daemon version\'s known failover bugs', { skip, timeout: 60_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  const broken = path.join(dir, 'broken.xml');
  await writeFile(broken, libvirtGuestXml({ name: 'lvbroken', image, mode: 'failover', serial: path.join(dir, 'none.serial'), primaryMac: '52:54:00:aa:bb:dd', primaryBus: 'pcie.0' }));
  await host!.virsh('define', broken);
  const hostdevPair = path.join(dir, 'hostdev-pair.xml');
  await writeFile(
    hostdevPair,
    `<domain type='qemu'><name>lvhostdev</name><memory unit='MiB'>256</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <interface type='user'><mac address='${STANDBY_MAC}'/><model type='virtio'/><teaming type='persistent'/><alias name='ua-sb0'/></interface>
    <interface type='hostdev' managed='yes'><mac address='${STANDBY_MAC}'/><source><address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/></source><teaming type='transient' persistent='ua-sb0'/></interface>
  </devices></domain>\n`,
  );
  await host!.virsh('define', hostdevPair);

  const r = await cli('lint', '--json', '--no-probe', 'lvbroken', 'lvhostdev');
  assert.equal(r.code, 1, r.stderr);
  const [b, h] = JSON.parse(r.stdout) as LintResult[];
  assert.deepEqual(b!.findings.filter((f) => f.severity === 'error').map((f) => f.rule).sort(), ['mac-mismatch', 'primary-on-root-bus']);
  const version = /Running against daemon: (\d+)\.(\d+)\.(\d+)/.exec(await host!.virsh('version', '--daemon'))!;
  const bug = h!.findings.filter((f) => f.rule === 'libvirt-version-bug');
  if (version[1] === '9' && version[2] === '0') {
    assert.deepEqual(bug.map((f) => f.path), ['/domain/devices/interface[2]']);
    assert.match(bug[0]!.message, new RegExp(`^libvirt ${version.slice(1).join('\\.')} \\(the daemon connected to\\) crashes its daemon`));
  } else assert.deepEqual(bug, []);
  assert.equal(h!.errors, 0, JSON.stringify(h!.findings));

  const missing = await cli('lint', 'no-such-domain');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: Domain not found: no domain with matching name 'no-such-domain'$/m);
});
