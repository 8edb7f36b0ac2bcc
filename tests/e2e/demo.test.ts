// `npm run demo` end to end, once: scripts/demo.mjs (with --no-build: the test run has just built dist)
// runs the CLI on examples/, then boots the failover guest, migrates it (to host B, a network namespace with
// its own sshd, when this machine can make one: root, ip, sshd; else locally) and prints the summary.
// (~15 s under TCG; the deadline is 150 s.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive, signalProcessGroup } from '../../src/util/proc.js';
import { twoHostsUnavailable } from '../../src/testbed/two-hosts.js';
import { repoRoot } from '../helpers/paths.js';
import { prerequisite, qemuSkip } from '../helpers/qemu-env.js';

const DEADLINE_MS = 150_000;
const missing = process.env.VIRT_FAILOVER_MISSING_PACKAGES;
const skip = qemuSkip() || prerequisite(!missing, `missing Debian packages: ${missing}`);

/** Runs the demo in its own process group; past the deadline the group gets SIGTERM (the CLI cleans up), then SIGKILL. */
function runDemo(): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'demo.mjs'), '--no-build'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killGroup = (sig: NodeJS.Signals): void => {
    signalProcessGroup(child.pid, sig); // never group 0 or -1: throws on a missing pid
  };
  const term = setTimeout(() => killGroup('SIGTERM'), DEADLINE_MS);
  const kill = setTimeout(() => killGroup('SIGKILL'), DEADLINE_MS + 8000);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => {
    child.once('close', (status, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ status, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** The first number captured by `re` in `text`, asserting it is there. */
function num(text: string, re: RegExp): number {
  const m = re.exec(text);
  assert.ok(m, `no match for ${re} in the demo output`);
  return Number(m[1]);
}

test('npm run demo: examples checked, failover guest migrated (to a second host when one can be made), summary with measured numbers', { skip, timeout: DEADLINE_MS + 15_000 }, async (t) => {
  const r = await runDemo();
  const out = r.stdout;
  t.diagnostic(`demo took ${(r.ms / 1000).toFixed(1)} s`);
  assert.equal(r.status, 0, `demo exited with ${r.status ?? r.signal}\n--- stdout:\n${out}\n--- stderr:\n${r.stderr}`);
  assert.ok(r.ms < 120_000, `the demo took ${Math.round(r.ms)} ms (limit 2 minutes)`);

  // 1. the configuration part ran the real CLI
  assert.match(out, /^\$ virt-failover validate examples\/broken-pair\.xml /m);
  assert.match(out, /^examples\/failover-emulated-primary\.xml: ok$/m);
  assert.match(out, /^examples\/failover-emulated-primary\.xml: clean$/m);
  assert.match(out, /^examples\/broken-pair\.xml: error: .*\[transient-alias-missing\]$/m);

  // 2. the live part: lifecycle, live progress, summary
  assert.match(out, /define: Domain 'failover-demo' defined from examples\/failover-emulated-primary\.xml/);
  const srcPid = num(out, /start: Domain 'failover-demo' started \(QEMU pid (\d+), (?:tcg|kvm)\)/);
  assert.match(out, /guest: init at [\d.]+ s; failover negotiated: master eth\d \(standby eth\d\), primary eth\d plugged by QEMU and enslaved/);
  for (const phase of ['setup', 'wait-unplug', 'active', 'completed', 'replugged']) {
    assert.match(out, new RegExp(`^migration +[\\d.]+ s {2}${phase}\\b`, 'm'), `progress line for ${phase}`);
  }
  assert.match(out, /^migration +[\d.]+ s {2}setup: UNPLUG_PRIMARY ua-primary0$/m);
  assert.match(out, /^migration +[\d.]+ s {2}active +\d+% {2}[\d.]+ MB\/s/m, 'a percent/throughput line while active');
  const dstPid = num(out, /guest answers promptly again on the destination \(QEMU pid (\d+)\)/);
  assert.notEqual(dstPid, srcPid);
  const why = twoHostsUnavailable();
  if (why) assert.match(out, /hosts: migrating on this host: a second host cannot be made here \(/);
  else {
    assert.match(out, /hosts: two hosts: A = this host's network \(10\.231\.\d+\.1 on a veth\), B = network namespace \S+ \(10\.231\.\d+\.2, its own sshd/);
    assert.match(out, /migrate: 'failover-demo' to host B over ssh:\/\/10\.231\.\d+\.2 /);
    assert.match(out, /host B removed \(sshd stopped, namespace \S+ deleted\)/);
  }

  assert.match(out, /^ {2}migration completed: [\d.]+ s from the call/m);
  assert.match(out, /^ {2}ua-primary0 \(standby ua-standby0\): unplugged on the source, primary re-plugged on the destination$/m);
  const waitUnplug = num(out, /wait-unplug (\d+) ms, active \d+ ms/);
  assert.ok(waitUnplug >= 100, `wait-unplug ${waitUnplug} ms (QEMU polls every 250 ms)`);
  assert.ok(num(out, /setup (\d+) ms, wait-unplug/) >= 0);
  assert.ok(num(out, /active (\d+) ms, switchover/) > 0);
  assert.ok(num(out, /QEMU query-migrate: downtime (\d+) ms/) > 0);
  assert.ok(num(out, /downtime \d+ ms, total (\d+) ms/) > waitUnplug);
  assert.ok(num(out, /RAM transferred: ([\d.]+) MB/) > 1);

  const unplug = num(out, /unplug \(migrate -> STOP, source\) +longest gap +(\d+) ms/);
  const sac = num(out, /stop-and-copy \(last source -> first dst\) +gap +(\d+) ms/);
  const replug = num(out, /after the re-plug \(destination\) +longest gap +(\d+) ms/);
  const total = num(out, /guest-observed outage, total +(\d+) ms/);
  assert.ok(unplug > 0 && sac > 0 && replug > 0, `gaps ${unplug}/${sac}/${replug}`);
  assert.ok(Math.abs(total - (unplug + sac + replug)) <= 2, `total ${total} = ${unplug} + ${sac} + ${replug}`);
  const lost = num(out, /guest-observed outage, total +\d+ ms, +(\d+) lost/);
  assert.ok(Number.isInteger(lost));
  assert.match(out, /guest: primary released on the source at \+\d+ ms, enslaved again on the destination at \+\d+ ms, its link up at \+\d+ ms/);
  assert.doesNotMatch(out, /network (is )?restored/i);

  // cleanup
  assert.match(out, /destroy: Domain 'failover-demo' destroyed/);
  assert.match(out, /undefine: Domain 'failover-demo' has been undefined/);
  const dir = /state dir (\S+) \(temporary\)/.exec(out)?.[1];
  assert.ok(dir && !existsSync(dir), `temporary dir ${dir} removed`);
  assert.ok(!isProcessAlive(srcPid) && !isProcessAlive(dstPid), 'no QEMU left running');
  assert.match(out, /^demo done in [\d.]+ s$/m);
  for (const line of out.slice(out.indexOf('Summary')).split('\n').slice(0, 13)) t.diagnostic(line);
});
