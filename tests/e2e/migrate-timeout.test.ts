// A migration that does not converge, through the built CLI against real QEMU (TCG): --max-downtime 1
// (QEMU's downtime-limit) with --bandwidth 16 (MiB/s) lets at most 16 KiB through in the pause, less
// than a running guest keeps dirtying, so the live phase goes on; --timeout SECONDS then does what virsh's does (--timeout-suspend, the default):
// the guest is suspended, the migration completes, and the destination is resumed. Option errors
// are virsh's.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureGuestImage, GuestConsole, type GuestImage } from '../../src/testbed/guest-image.js';
import type { MigrationReportJson } from '../../src/qemu/migration/migration.js';
import { DomainStore } from '../../src/qemu/driver/store.js';
import { isProcessAlive, readCmdline, signalProcess } from '../../src/util/proc.js';
import { runCliProcess } from '../helpers/cli.js';
import { failoverDomainXml } from '../helpers/failover-domain.js';
import { QEMU } from '../helpers/failover-vm.js';
import { qemuSkip } from '../helpers/qemu-env.js';
import { readdirSync } from 'node:fs';

const skip = qemuSkip(QEMU);

let dir = '';
let stateDir = '';
let store: DomainStore;
let image: GuestImage;
const consoles: GuestConsole[] = [];
const env = { VIRT_FAILOVER_QEMU: QEMU };
const cli = (...args: string[]) => runCliProcess(['--state-dir', stateDir, ...args], { env, timeoutMs: 90_000 });

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-mig-timeout-'));
  stateDir = path.join(dir, 'state');
  store = DomainStore.open({ stateDir, env: {} });
  image = await ensureGuestImage();
});

after(async () => {
  if (!dir) return;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (pid !== process.pid && readCmdline(pid)?.some((a) => a.includes(dir))) signalProcess(pid, 'SIGKILL');
  }
  for (const c of consoles) await c.close();
  await rm(dir, { recursive: true, force: true });
});

const NAME = 'slow';

test('option errors as virsh reports them', { skip }, async () => {
  const cases: [string[], string][] = [
    [['--timeout-suspend'], 'error: invalid argument: Option --timeout is required by option --timeout-suspend\n'],
    [['--timeout-postcopy'], 'error: invalid argument: Option --timeout is required by option --timeout-postcopy\n'],
    [['--timeout', '0'], "error: invalid argument: Numeric value '0' for <timeout> option is malformed or out of range\n"],
    [['--timeout', '1.5'], "error: invalid argument: Numeric value '1.5' for <timeout> option is malformed or out of range\n"],
    [['--max-downtime', 'x'], "error: invalid argument: Numeric value 'x' for <max-downtime> option is malformed or out of range\n"],
    [['--bandwidth', '-1'], "error: invalid argument: Numeric value '-1' for <bandwidth> option is malformed or out of range\n"],
    [['--timeout', '5', '--timeout-postcopy'], 'error: Operation not supported: post-copy migration is not supported: --timeout-postcopy cannot be used (use --timeout-suspend)\n'],
  ];
  for (const [args, err] of cases) {
    const r = await cli('migrate', NAME, 'local', ...args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr, err, args.join(' '));
  }
});

test('--max-downtime 1 --bandwidth 16 never converges; --timeout 3 suspends the guest, it completes and runs on the destination', { skip, timeout: 120_000 }, async (t) => {
  const con = await GuestConsole.listen(path.join(dir, `${NAME}.serial`));
  consoles.push(con);
  const file = path.join(dir, `${NAME}.xml`);
  writeFileSync(file, failoverDomainXml(image, NAME, '3f0c1d2e-5b6a-4c7d-8e9f-0a1b2c3d4e51', 'failover', con.socketPath));
  assert.equal((await cli('define', file)).code, 0);
  assert.equal((await cli('start', NAME)).code, 0);
  await con.waitFor((l) => l.event?.kind === 'state' && l.event.enslaved && l.event.link === 'up', 60_000);
  const src = store.readStatus(NAME)!;

  const r = await cli('migrate', NAME, 'local', '--json', '--max-downtime', '1', '--bandwidth', '16', '--timeout', '3');
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as MigrationReportJson & { domain: { pid: number; state: string; reason: string } };
  const tl = rep.timeline;
  const phases = tl.filter((e) => e.event === undefined).map((e) => e.phase);
  assert.deepEqual(phases, ['negotiated', 'setup', 'wait-unplug', 'active', 'completed', 'replugged']);
  assert.ok(tl.some((e) => e.event === 'downtime-limit' && e.detail === '1 ms'), 'downtime-limit set');
  assert.ok(tl.some((e) => e.event === 'max-bandwidth' && e.detail === '16 MiB/s'), 'max-bandwidth set');
  const setupAt = tl.find((e) => e.phase === 'setup' && e.event === undefined)!.at;
  const suspend = tl.find((e) => e.event === 'suspend');
  assert.ok(suspend, 'the guest was suspended: the migration had not converged by the timeout');
  assert.equal(suspend.phase, 'active');
  assert.ok(suspend.at - setupAt >= 3000, `suspended ${Math.round(suspend.at - setupAt)} ms after migrate`);
  const completedAt = tl.find((e) => e.phase === 'completed' && e.event === undefined)!.at;
  assert.ok(completedAt > suspend.at, 'completed only after the suspend');
  assert.ok(tl.some((e) => e.event === 'dst:cont'), 'the destination was resumed');
  assert.deepEqual([rep.domain.state, rep.domain.reason], ['running', 'migrated']);
  assert.equal(isProcessAlive(src.pid!, src.pidStart), false, 'the source has quit');
  assert.equal((await cli('domstate', '--reason', NAME)).stdout, 'running (migrated)\n\n');
  t.diagnostic(`suspended ${Math.round(suspend.at - setupAt)} ms after migrate, completed ${Math.round(completedAt - suspend.at)} ms later; downtime ${rep.downtimeMs} ms`);
  assert.equal((await cli('destroy', NAME)).code, 0);
});
