// bench/migrate: our local live migration (QemuDriver.migrateLocal) against a bare scripted-QMP migration
// of the same guest (same argv, built from examples/failover-emulated-primary.xml; source and destination
// QEMU driven directly: migrate-incoming / migrate, wait for completed + RESUME, as in
// shared/notes/qemu-failover-e2e.md §4). Runs alternate (ours, bare, ours, bare, ...) so both see the same
// machine; every run boots a fresh guest and waits until it answers pings promptly first. Per run: the
// wall time, QEMU's phases and the guest-observed outage per phase (guest-observer.ts).
// Then the unplug deadline: a block-unplug guest (never ejects its primary), unplugTimeoutMs 2000, and
// how long after the deadline migrate_cancel went out (QEMU then sits ~30 s in 'cancelling' waiting for
// the guest; --skip-unplug-timeout leaves this part out).
// Not a test: `npm run build && node dist/bench/migrate.js [--runs N] [--skip-unplug-timeout]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseDomainXml } from '../src/conf/domain.js';
import { findEmulator } from '../src/conf/emulator.js';
import { probeQemuCaps } from '../src/qemu/caps/probe.js';
import { buildCommandLine } from '../src/qemu/command/command.js';
import { QemuDriver } from '../src/qemu/driver/driver.js';
import { ensureGuestImage, GuestConsole, type GuestImage, type GuestMode } from '../src/testbed/guest-image.js';
import { analyzeGuestOutage, phaseTimes, type GuestOutage, type MigrationMarks } from '../src/testbed/guest-observer.js';
import { failoverPrimaries } from '../src/qemu/driver/migrate.js';
import { replugTimeoutText } from '../src/testbed/guest-replug.js';
import { MigrationFailedError, pciQdevIds, type TimelineEntry } from '../src/qemu/migration/migration.js';
import { Monitor, type QmpEvent } from '../src/qemu/monitor/monitor.js';
import { waitForSocket } from '../src/qemu/monitor/socket.js';
import { postParseDomain } from '../src/qemu/postparse/postparse.js';
import { resolveExecutable } from '../src/qemu/driver/process.js';
import { fillDemoXml, migrateObserved, recoveryProblem, timelineClock, waitGuestReady, waitGuestRecovered } from '../src/cli/demo.js';
import { repoRoot } from '../tests/helpers/paths.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(flag('--runs') ?? process.env.BENCH_RUNS ?? 3);
const UNPLUG_TIMEOUT = !args.includes('--skip-unplug-timeout');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs wants a positive integer, not '${flag('--runs') ?? process.env.BENCH_RUNS}'`);
const BOOT_MS = 60_000;
const RECOVER_MS = 20_000;
const UNPLUG_DEADLINE_MS = 2000;

interface Run {
  kind: 'ours' | 'bare';
  /** ours: the migrateLocal call; bare: destination spawn -> completed + RESUME. */
  wallMs: number;
  /** From the start of the timed region to `migrate` sent, and to the destination's RESUME. */
  toMigrateMs: number;
  toResumeMs: number;
  setup: number | null;
  waitUnplug: number | null;
  active: number | null;
  downtime: number | null;
  qemuTotal: number | null;
  ramMB: number | null;
  outage: GuestOutage;
}

/** A run that did not end with the guest back on its primary (or did not migrate): recorded, not fatal. */
class RunFailed extends Error {}

/** The guest's console since 1 s before `migrate`, kept for a failed run (the work dir is removed at the end). */
async function keepConsole(name: string, con: GuestConsole, migrateAt: number): Promise<string> {
  const file = path.join(os.tmpdir(), `vf-bench-migrate-${process.pid}-${name}.console.txt`);
  const text = con.lines.filter((l) => l.t >= migrateAt - 1000).map((l) => `${(l.t - migrateAt).toFixed(1).padStart(9)} ${l.line}`);
  await writeFile(file, `# ms after migrate\n${text.join('\n')}\n`, { mode: 0o600 });
  return file;
}

const image: GuestImage = await ensureGuestImage();
const template = await readFile(path.join(repoRoot, 'examples', 'failover-emulated-primary.xml'), 'utf8');
const work = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-mig-'));
await chmod(work, 0o700);
let seq = 0;

function domainXml(serialPath: string, mode: GuestMode, name: string): string {
  return fillDemoXml(template, { kernel: image.kernel, initrd: image.initrd, serialPath, mode, name });
}

// ---- ours ------------------------------------------------------------------------------------------

async function oursRun(driver: QemuDriver): Promise<Run> {
  const name = `bench-ours-${++seq}`;
  const con = await GuestConsole.listen(path.join(work, `${name}.serial`));
  try {
    await driver.define(domainXml(con.socketPath, 'failover', name));
    await driver.start(name);
    await waitGuestReady(con, 'failover', { timeoutMs: BOOT_MS });
    const t0 = performance.now();
    const o = await migrateObserved(driver, name, con, { unplugTimeoutMs: 10_000, recoverTimeoutMs: RECOVER_MS });
    const problem = recoveryProblem(o);
    if (problem) throw new RunFailed(`${problem}; console: ${await keepConsole(name, con, o.marks.migrate)}`);
    const r = o.result;
    const pt = phaseTimes(r.timeline);
    return {
      kind: 'ours',
      wallMs: o.callMs,
      toMigrateMs: o.marks.migrate - t0,
      toResumeMs: (o.marks.resume ?? NaN) - t0,
      setup: pt.setup,
      waitUnplug: pt.waitUnplug,
      active: pt.active,
      downtime: r.downtimeMs,
      qemuTotal: r.totalTimeMs,
      ramMB: r.ramTransferredBytes === null ? null : r.ramTransferredBytes / 1e6,
      outage: o.outage,
    };
  } finally {
    await driver.destroy(name).catch(() => undefined);
    await driver.undefine(name).catch(() => undefined);
    await con.close();
  }
}

// ---- bare QMP --------------------------------------------------------------------------------------

interface Qemu {
  child: ChildProcess;
  monitor: Monitor;
  exited: Promise<void>;
}

/** The argv the driver would build for this XML, with its runtime files in `runDir`. */
async function bareCommand(xml: string, runDir: string): Promise<{ binary: string; args: string[]; env: NodeJS.ProcessEnv }> {
  const dom = parseDomainXml(xml, { source: 'bench', inactive: true });
  const caps = await probeQemuCaps(resolveExecutable(findEmulator(dom.devices) ?? 'qemu-system-x86_64'));
  postParseDomain(dom, caps, { profile: 'default', abiUpdate: true });
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(runDir, 'master-key.aes'), randomBytes(32), { mode: 0o600 });
  const cmd = buildCommandLine(dom, caps, { profile: 'default', runtimeDir: runDir });
  return { binary: cmd.binary, args: cmd.args, env: Object.fromEntries(cmd.env) };
}

async function spawnQemu(cmd: { binary: string; args: string[]; env: NodeJS.ProcessEnv }, runDir: string, extra: string[]): Promise<Qemu> {
  const log = openSync(path.join(runDir, 'qemu.log'), 'a', 0o600);
  const child = spawn(cmd.binary, [...cmd.args, ...extra], { env: cmd.env, stdio: ['ignore', log, log], detached: true });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const died = new AbortController();
  void exited.then(() => died.abort(new Error(`QEMU exited; see ${runDir}/qemu.log`)));
  const sock = path.join(runDir, 'monitor.sock');
  await waitForSocket(sock, { timeoutMs: 30_000, signal: died.signal });
  const monitor = await Monitor.connect(sock, { timeoutMs: 30_000, signal: died.signal });
  return { child, monitor, exited };
}

async function stopQemu(q: Qemu | undefined): Promise<void> {
  if (!q) return;
  if (q.child.exitCode === null && q.child.signalCode === null) q.child.kill('SIGKILL');
  await q.exited;
  await q.monitor.close();
}

const EVENTS_ON = { capabilities: [{ capability: 'events', state: true }] };

async function bareRun(): Promise<Run> {
  const name = `bench-bare-${++seq}`;
  const con = await GuestConsole.listen(path.join(work, `${name}.serial`));
  const xml = domainXml(con.socketPath, 'failover', name);
  const srcDir = path.join(work, `${name}.src`);
  const dstDir = path.join(work, `${name}.dst`);
  let src: Qemu | undefined;
  let dst: Qemu | undefined;
  try {
    src = await spawnQemu(await bareCommand(xml, srcDir), srcDir, []);
    await src.monitor.execute('cont');
    await waitGuestReady(con, 'failover', { timeoutMs: BOOT_MS });
    const dstCmd = await bareCommand(xml, dstDir);
    dstCmd.args = dstCmd.args.filter((a) => a !== '-S');

    const srcEvents: QmpEvent[] = [];
    const dstEvents: QmpEvent[] = [];
    const srcStream = src.monitor.events(['MIGRATION', 'STOP', 'UNPLUG_PRIMARY']);
    const collect = async (s: AsyncIterable<QmpEvent>, into: QmpEvent[], until: (e: QmpEvent) => boolean): Promise<void> => {
      for await (const e of s) {
        into.push(e);
        if (until(e)) return;
      }
    };
    // timed region: destination start -> source completed and destination RESUME
    const t0 = performance.now();
    dst = await spawnQemu(dstCmd, dstDir, ['-incoming', 'defer']);
    const dstStream = dst.monitor.events(['MIGRATION', 'RESUME', 'FAILOVER_NEGOTIATED']);
    await dst.monitor.execute('migrate-set-capabilities', EVENTS_ON);
    await dst.monitor.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' });
    const q = await dst.monitor.execute<{ 'socket-address'?: { port?: string }[] }>('query-migrate');
    const port = q['socket-address']?.[0]?.port;
    await src.monitor.execute('migrate-set-capabilities', EVENTS_ON);
    const completed = collect(srcStream, srcEvents, (e) => e.event === 'MIGRATION' && ['completed', 'failed', 'cancelled'].includes(String(e.data.status)));
    const resumed = collect(dstStream, dstEvents, (e) => e.event === 'RESUME');
    const migrateAt = performance.now();
    await src.monitor.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    await Promise.all([completed, resumed]);
    const t1 = performance.now();
    srcStream.close();
    dstStream.close();

    const st = await src.monitor.execute<{ status: string; downtime?: number; 'total-time'?: number; ram?: { transferred?: number } }>('query-migrate');
    if (st.status !== 'completed') throw new Error(`bare migration ended '${st.status}'`);
    const at = (evs: QmpEvent[], pred: (e: QmpEvent) => boolean): number | null => evs.find(pred)?.receivedAt ?? null;
    const status = (s: string) => (e: QmpEvent) => e.event === 'MIGRATION' && e.data.status === s;
    const resumeAt = at(dstEvents, (e) => e.event === 'RESUME');
    const marks: MigrationMarks = {
      migrate: migrateAt,
      stop: at(srcEvents, (e) => e.event === 'STOP'),
      resume: resumeAt,
      replug: at(dstEvents, (e) => e.event === 'FAILOVER_NEGOTIATED'),
    };
    const rec = await waitGuestRecovered(con, resumeAt ?? t1, { timeoutMs: RECOVER_MS });
    if (!rec.replug.onPrimary || !rec.prompt) {
      const plugged = pciQdevIds(await dst.monitor.execute('query-pci'));
      const primaries = failoverPrimaries(parseDomainXml(xml, { source: 'bench' })).map((p) => p.id).filter((id) => plugged.has(id));
      const problem = rec.replug.onPrimary ? 'the guest took its primary back but did not answer pings promptly' : replugTimeoutText(rec.replug, primaries);
      throw new RunFailed(`${problem}; console: ${await keepConsole(name, con, migrateAt)}`);
    }
    const end = rec.end;
    // QEMU's own phase times, as the timeline would record them
    const timeline: TimelineEntry[] = [{ phase: 'negotiated', at: migrateAt, event: 'migrate' }];
    for (const s of ['setup', 'wait-unplug', 'active', 'device', 'completed'] as const) {
      const x = at(srcEvents, status(s));
      if (x !== null) timeline.push({ phase: s, at: x });
    }
    if (resumeAt !== null) timeline.push({ phase: 'completed', at: resumeAt, event: 'dst:RESUME' });
    const pt = phaseTimes(timeline);
    return {
      kind: 'bare',
      wallMs: t1 - t0,
      toMigrateMs: migrateAt - t0,
      toResumeMs: (resumeAt ?? NaN) - t0,
      setup: pt.setup,
      waitUnplug: pt.waitUnplug,
      active: pt.active,
      downtime: st.downtime ?? null,
      qemuTotal: st['total-time'] ?? null,
      ramMB: st.ram?.transferred === undefined ? null : st.ram.transferred / 1e6,
      outage: analyzeGuestOutage(con.lines, { ...marks, end }),
    };
  } finally {
    await stopQemu(dst);
    await stopQemu(src);
    await con.close();
  }
}

// ---- the unplug deadline -------------------------------------------------------------------------

interface DeadlineRun {
  cancelAfterDeadlineMs: number;
  cancellingAfterDeadlineMs: number | null;
  cancellingMs: number | null;
  reason: string;
  sourceRunning: boolean;
}

async function unplugDeadlineRun(driver: QemuDriver): Promise<DeadlineRun> {
  const name = `bench-block-${++seq}`;
  const con = await GuestConsole.listen(path.join(work, `${name}.serial`));
  try {
    await driver.define(domainXml(con.socketPath, 'block-unplug', name));
    const { pid } = await driver.start(name);
    await waitGuestReady(con, 'block-unplug', { timeoutMs: BOOT_MS });
    const clock = timelineClock();
    const err = await driver.migrateLocal(name, { unplugTimeoutMs: UNPLUG_DEADLINE_MS, onProgress: clock.onProgress }).then(
      () => {
        throw new Error('the block-unplug guest migrated: its unplug was not blocked');
      },
      (e: unknown) => e,
    );
    if (!(err instanceof MigrationFailedError)) throw err;
    const tl = err.timeline;
    const find = (pred: (e: TimelineEntry) => boolean): number | null => tl.find(pred)?.at ?? null;
    // The deadline is armed when `migrate` has been accepted (the setup transition).
    const deadline = (find((e) => e.event === undefined && e.phase === 'setup') ?? NaN) + UNPLUG_DEADLINE_MS;
    const cancelSent = find((e) => e.event === 'migrate_cancel') ?? NaN;
    const cancelling = find((e) => e.event === undefined && e.phase === 'cancelling');
    const final = find((e) => e.event === undefined && (e.phase === 'cancelled' || e.phase === 'failed'));
    const st = await driver.getState(name);
    return {
      cancelAfterDeadlineMs: cancelSent - deadline,
      cancellingAfterDeadlineMs: cancelling === null ? null : cancelling - deadline,
      cancellingMs: cancelling === null || final === null ? null : final - cancelling,
      reason: err.reason,
      sourceRunning: st.state === 'running' && st.pid === pid,
    };
  } finally {
    await driver.destroy(name).catch(() => undefined);
    await driver.undefine(name).catch(() => undefined);
    await con.close();
  }
}

// ---- report ----------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (v: number): string => (Number.isFinite(v) ? String(Math.round(v)) : '-');
function cell(xs: number[], lost?: number[]): string {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (!ok.length) return '-';
  const range = ok.length > 1 ? ` (${fmt(Math.min(...ok))}–${fmt(Math.max(...ok))})` : '';
  return `${fmt(median(ok))}${range}${lost ? `, ${fmt(median(lost))} lost` : ''}`;
}

function table(ours: Run[], bare: Run[]): string {
  const rows: [string, (r: Run) => number, ((r: Run) => number)?][] = [
    ['migration wall time (ours: migrateLocal call; bare: dst start -> completed + RESUME)', (r) => r.wallMs],
    ['  of which: before `migrate` (destination start, pre-checks)', (r) => r.toMigrateMs],
    ['  of which: `migrate` -> destination RESUME', (r) => r.toResumeMs - r.toMigrateMs],
    ['  of which: after RESUME (ours: re-plug check, adoption, source quit)', (r) => r.wallMs - r.toResumeMs],
    ['setup (migrate -> wait-unplug)', (r) => r.setup ?? NaN],
    ['wait-unplug', (r) => r.waitUnplug ?? NaN],
    ['active (RAM copy -> completed)', (r) => r.active ?? NaN],
    ['downtime (QEMU)', (r) => r.downtime ?? NaN],
    ['total-time (QEMU)', (r) => r.qemuTotal ?? NaN],
    ['guest: unplug gap', (r) => r.outage.unplug.longest?.ms ?? NaN, (r) => r.outage.unplug.lost],
    ['guest: stop-and-copy gap', (r) => r.outage.stopAndCopy.longest?.ms ?? NaN, (r) => r.outage.stopAndCopy.lost],
    ['guest: re-plug gap (e1000e link-up)', (r) => Math.max(r.outage.replug.longest?.ms ?? NaN, r.outage.replug.open?.ms ?? 0), (r) => r.outage.replug.lost],
    ['guest: total outage', (r) => r.outage.total.ms, (r) => r.outage.total.lost],
  ];
  const out = [
    `| ms, median (min–max) of ${ours.length} | ours | bare QMP | ours / bare |`,
    '|---|---|---|---|',
  ];
  for (const [label, f, lost] of rows) {
    const a = ours.map(f);
    const b = bare.map(f);
    const ratio = median(b) >= 1 ? median(a) / median(b) : NaN; // nothing to compare with (bare has no such step)
    out.push(`| ${label} | ${cell(a, lost && ours.map(lost))} | ${cell(b, lost && bare.map(lost))} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} |`);
  }
  const ram = (rs: Run[]): string => fmt(median(rs.map((r) => r.ramMB ?? NaN)));
  out.push(`| RAM transferred, MB | ${ram(ours)} | ${ram(bare)} | |`);
  return out.join('\n');
}

const driver = QemuDriver.open({ stateDir: path.join(work, 'state'), runtimeDir: path.join(work, 'run') });
const ours: Run[] = [];
const bare: Run[] = [];
const failed: { run: number; kind: 'ours' | 'bare'; why: string }[] = [];
const t0 = performance.now();
try {
  console.log(`bench/migrate: ${RUNS} x (ours, bare), guest ${path.basename(image.kernel)}, 512 MiB, ${os.cpus().length} CPUs`);
  for (let i = 0; i < RUNS; i++) {
    for (const kind of ['ours', 'bare'] as const) {
      let r: Run;
      try {
        r = kind === 'ours' ? await oursRun(driver) : await bareRun();
      } catch (e) {
        // a failed row, with its reason; the next run goes on (the table has the runs that ended on the primary)
        const why = e instanceof RunFailed || e instanceof MigrationFailedError ? e.message : String((e as Error)?.stack ?? e);
        failed.push({ run: i + 1, kind, why });
        console.log(`  run ${i + 1} ${kind.padEnd(4)}: FAILED: ${why}`);
        continue;
      }
      (kind === 'ours' ? ours : bare).push(r);
      const g = r.outage;
      console.log(
        `  run ${i + 1} ${kind.padEnd(4)}: wall ${fmt(r.wallMs)} ms, to migrate ${fmt(r.toMigrateMs)}, to RESUME ${fmt(r.toResumeMs)}, wait-unplug ${fmt(r.waitUnplug ?? NaN)}, ` +
          `active ${fmt(r.active ?? NaN)}, downtime ${fmt(r.downtime ?? NaN)}; guest gaps ${fmt(g.unplug.longest?.ms ?? NaN)}/` +
          `${fmt(g.stopAndCopy.longest?.ms ?? NaN)}/${fmt(g.replug.longest?.ms ?? NaN)} ms, ${g.total.lost} lost`,
      );
    }
  }
  console.log('');
  if (failed.length) {
    console.log(`| failed run | reason |\n|---|---|`);
    for (const f of failed) console.log(`| ${f.run} ${f.kind} | ${f.why.replace(/\|/g, '\\|')} |`);
    console.log(`\n${failed.length} of ${RUNS * 2} runs failed (load: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}); the table has the others\n`);
  }
  console.log(table(ours, bare));
  const ratio = median(ours.map((r) => r.wallMs)) / median(bare.map((r) => r.wallMs));
  console.log(`\nwall-time ratio ours/bare ${ratio.toFixed(3)} (target <= 1.05): ${ratio <= 1.05 ? 'met' : 'NOT met'}`);

  if (UNPLUG_TIMEOUT) {
    console.log(`\nunplug deadline: block-unplug guest, unplugTimeoutMs ${UNPLUG_DEADLINE_MS} (QEMU then waits up to 30 s in 'cancelling')`);
    const d = await unplugDeadlineRun(driver);
    console.log('| unplug deadline | ms |');
    console.log('|---|---|');
    console.log(`| deadline -> migrate_cancel sent | ${d.cancelAfterDeadlineMs.toFixed(1)} (target <= 100: ${d.cancelAfterDeadlineMs <= 100 ? 'met' : 'NOT met'}) |`);
    console.log(`| deadline -> QEMU reports 'cancelling' | ${d.cancellingAfterDeadlineMs === null ? '-' : d.cancellingAfterDeadlineMs.toFixed(1)} |`);
    console.log(`| QEMU in 'cancelling' until cancelled (waits for the guest's unplug) | ${d.cancellingMs === null ? '-' : fmt(d.cancellingMs)} |`);
    console.log(`\nfailure reason '${d.reason}'; guest still running on the source QEMU: ${d.sourceRunning ? 'yes' : 'NO'}`);
  }
  console.log(`\nbench/migrate done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} finally {
  await rm(work, { recursive: true, force: true });
}
