// bench/replug: does the test guest take its primary back after every live migration? One failover
// guest (examples/failover-emulated-primary.xml, driver path as `virt-failover migrate NAME local`)
// migrated N times in a row. Per run: when the guest enslaved the re-plugged primary and when its link
// came up (ms after the destination's RESUME), and whether that happened within the deadline (20 s).
// A run that misses it, or whose guest kernel crashes (oops/panic, a new VFINIT), is recorded with evidence
// in the dump directory: the migration timeline (QMP
// events incl. FAILOVER_NEGOTIATED, UNPLUG_PRIMARY, DEVICE_DELETED), the destination's query-pci and
// query-status, the destination's QMP events while we kept watching (up to --late more seconds) and the
// guest's console since `migrate`. A guest that never comes back is rebooted and the series goes on.
// --fresh boots a new guest before every migration (as bench/migrate does).
// Not a test: `npm run build && node dist/bench/replug.js [--runs 30] [--deadline 20] [--late 40] [--fresh] [--dump DIR]`.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fillDemoXml, timelineClock, waitGuest, waitGuestReady } from '../src/cli/demo.js';
import { QemuDriver } from '../src/qemu/driver/index.js';
import { ensureGuestImage, GuestConsole, type ConsoleLine } from '../src/testbed/index.js';
import { replugTimeoutText, watchGuestReplug, type ReplugWatch } from '../src/testbed/index.js';
import { marksFromTimeline } from '../src/testbed/index.js';
import { MigrationFailedError, pciQdevIds, renderTimeline, type TimelineEntry } from '../src/qemu/migration/index.js';
import { Monitor, type QmpEvent } from '../src/qemu/monitor/index.js';
import { repoRoot } from '../tests/helpers/paths.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const posInt = (name: string, dflt: number): number => {
  const v = Number(flag(name) ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} wants a positive integer, not '${flag(name)}'`);
  return v;
};
const RUNS = posInt('--runs', Number(process.env.BENCH_RUNS ?? 30));
const DEADLINE_MS = posInt('--deadline', 20) * 1000;
const LATE_MS = posInt('--late', 40) * 1000;
/** Boot a fresh guest before every migration (as bench/migrate does) instead of migrating one guest on and on. */
const FRESH = args.includes('--fresh');
const BOOT_MS = 90_000;
const PRIMARY = 'ua-primary0';

const uptime = (): string => execFileSync('uptime', { encoding: 'utf8' }).trim();
const image = await ensureGuestImage();
const template = await readFile(path.join(repoRoot, 'examples', 'failover-emulated-primary.xml'), 'utf8');
const work = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-replug-'));
await chmod(work, 0o700);
const dump = flag('--dump') ?? path.join(os.tmpdir(), `vf-replug-${new Date().toISOString().replace(/[:.]/g, '-')}`);
await mkdir(dump, { recursive: true, mode: 0o700 });
const driver = QemuDriver.open({ stateDir: path.join(work, 'state'), runtimeDir: path.join(work, 'run') });
const name = 'replug';

interface RunRow {
  run: number;
  boot: number;
  outcome: 'on-primary' | 'late' | 'never' | 'guest-crashed' | 'migration-failed';
  /** ms after RESUME; null: not seen. */
  enslavedMs: number | null;
  linkUpMs: number | null;
  /** FAILOVER_NEGOTIATED on the destination, ms before (negative) or after RESUME. */
  negotiatedMs: number | null;
  downtimeMs: number | null;
  /** The destination's query-pci listed the primary when the migration completed (QEMU re-plugged it). */
  qemuReplugged: boolean | null;
  detail: string;
}

let con: GuestConsole | undefined;
let boots = 0;

async function boot(): Promise<void> {
  if (con) {
    await driver.destroy(name).catch(() => undefined);
    await driver.undefine(name).catch(() => undefined);
    await con.close();
  }
  boots++;
  con = await GuestConsole.listen(path.join(work, `serial-${boots}.sock`));
  await driver.define(fillDemoXml(template, { kernel: image.kernel, initrd: image.initrd, serialPath: con.socketPath, name }));
  await driver.start(name);
  await waitGuestReady(con, 'failover', { timeoutMs: BOOT_MS });
}

/** Console lines from `from` on, times relative to `t0`, one per line. */
function consoleText(lines: readonly ConsoleLine[], t0: number, from: number, pings: boolean): string {
  return lines
    .filter((l) => l.t >= from && (pings || l.event?.kind !== 'ping'))
    .map((l) => `${(l.t - t0).toFixed(1).padStart(9)} ${l.line}`)
    .join('\n');
}

/** A run that missed the deadline: keep watching (with the destination's QMP) and write the evidence. */
async function investigate(run: number, tl: TimelineEntry[], resumeAt: number, migrateAt: number, w: ReplugWatch): Promise<{ late: ReplugWatch; text: string; dir: string }> {
  const c = con!;
  const dir = path.join(dump, `run-${String(run).padStart(2, '0')}`);
  await mkdir(dir, { recursive: true });
  const sock = driver.store.readStatus(name)?.monitor;
  const events: QmpEvent[] = [];
  let pci: unknown = null;
  let status: unknown = null;
  let mon: Monitor | undefined;
  try {
    if (sock) {
      mon = await Monitor.connect(sock, { timeoutMs: 10_000 });
      const stream = mon.events(null);
      void (async () => {
        for await (const e of stream) events.push(e);
      })().catch(() => undefined);
      pci = await mon.execute('query-pci');
      status = await mon.execute('query-status');
    }
    const late = await watchGuestReplug(c, resumeAt, { timeoutMs: DEADLINE_MS + LATE_MS });
    const ids = [...pciQdevIds(pci ?? [])].filter((id) => id === PRIMARY);
    const text = replugTimeoutText(late.crash ? late : w, ids);
    await writeFile(path.join(dir, 'timeline.txt'), `${renderTimeline(tl).join('\n')}\n`);
    await writeFile(path.join(dir, 'query-pci.json'), `${JSON.stringify(pci, null, 2)}\n`);
    await writeFile(path.join(dir, 'query-status.json'), `${JSON.stringify(status)}\n`);
    await writeFile(path.join(dir, 'dst-events.txt'), events.map((e) => `${(e.receivedAt - migrateAt).toFixed(1)} ${e.event} ${JSON.stringify(e.data)}`).join('\n') + '\n');
    await writeFile(path.join(dir, 'console.txt'), `# ms after migrate; RESUME at ${(resumeAt - migrateAt).toFixed(1)}\n${consoleText(c.lines, migrateAt, migrateAt - 2000, true)}\n`);
    await writeFile(
      path.join(dir, 'summary.txt'),
      `${text}\nwatched ${(late.waitedMs / 1000).toFixed(1)} s after RESUME in all: ${late.onPrimary ? `on the primary at +${Math.round(late.linkUpAt! - resumeAt)} ms` : 'never on the primary'}\n${uptime()}\n`,
    );
    return { late, text, dir };
  } finally {
    await mon?.close();
  }
}

const rows: RunRow[] = [];
const t0 = performance.now();
const loadBefore = uptime();
console.log(`bench/replug: ${RUNS} local migrations of ${FRESH ? 'a freshly booted' : 'one'} failover guest (${path.basename(image.kernel)}), deadline ${DEADLINE_MS / 1000} s; dumps in ${dump}`);
console.log(`load before: ${loadBefore}`);
try {
  await boot();
  for (let run = 1; run <= RUNS; run++) {
    if (FRESH && run > 1) await boot();
    const c = con!;
    const clock = timelineClock();
    let tl: TimelineEntry[];
    let downtime: number | null = null;
    let qemuReplugged: boolean | null = null;
    try {
      const { result } = await driver.migrateLocal(name, { unplugTimeoutMs: 30_000, onProgress: clock.onProgress });
      tl = result.timeline;
      downtime = result.downtimeMs;
      qemuReplugged = result.destination.replugged.includes(PRIMARY);
    } catch (e) {
      const why = e instanceof MigrationFailedError ? `${e.reason}: ${e.message}` : String(e);
      rows.push({ run, boot: boots, outcome: 'migration-failed', enslavedMs: null, linkUpMs: null, negotiatedMs: null, downtimeMs: null, qemuReplugged: null, detail: why });
      console.log(`  run ${run}: migration failed: ${why}`);
      await boot();
      continue;
    }
    const marks = marksFromTimeline(tl, clock.offset() ?? t0);
    const resumeAt = marks.resume ?? NaN;
    const rel = (t: number | null | undefined): number | null => (t === null || t === undefined ? null : Math.round(t - resumeAt));
    const w = await watchGuestReplug(c, resumeAt, { timeoutMs: DEADLINE_MS });
    const row: RunRow = {
      run,
      boot: boots,
      outcome: 'on-primary',
      enslavedMs: rel(w.enslavedAt),
      linkUpMs: rel(w.linkUpAt),
      negotiatedMs: rel(marks.replug),
      downtimeMs: downtime,
      qemuReplugged,
      detail: '',
    };
    if (!w.onPrimary) {
      const inv = await investigate(run, tl, resumeAt, marks.migrate, w);
      row.outcome = w.crash || inv.late.crash ? 'guest-crashed' : inv.late.onPrimary ? 'late' : 'never';
      row.enslavedMs = rel(inv.late.enslavedAt);
      row.linkUpMs = rel(inv.late.linkUpAt);
      row.detail = `${inv.text}; evidence in ${inv.dir}`;
    } else {
      // steady again before the next migration: prompt pings over the primary
      let n = 0;
      const from = c.lines.findIndex((l) => l.t === w.linkUpAt) + 1;
      await waitGuest(c, '20 prompt ping replies', (e) => e.kind === 'ping' && e.timeMs < 100 && ++n >= 20, { timeoutMs: 20_000, from });
    }
    rows.push(row);
    console.log(
      `  run ${String(run).padStart(2)}: ${row.outcome.padEnd(10)} FAILOVER_NEGOTIATED ${row.negotiatedMs ?? '-'} ms, enslaved +${row.enslavedMs ?? '-'} ms, ` +
        `link up +${row.linkUpMs ?? '-'} ms after RESUME, downtime ${row.downtimeMs ?? '-'} ms, QEMU re-plugged: ${row.qemuReplugged ? 'yes' : 'NO'}${row.detail ? `\n      ${row.detail}` : ''}`,
    );
    await writeFile(path.join(dump, `run-${String(run).padStart(2, '0')}.console.txt`), consoleText(c.lines, marks.migrate, marks.migrate - 1000, false) + '\n');
    if ((row.outcome === 'never' || row.outcome === 'guest-crashed') && !FRESH) await boot();
  }
} finally {
  await driver.destroy(name).catch(() => undefined);
  await driver.undefine(name).catch(() => undefined);
  await con?.close();
  await rm(work, { recursive: true, force: true });
}

const count = (o: RunRow['outcome']): number => rows.filter((r) => r.outcome === o).length;
const sorted = (xs: (number | null)[]): number[] => xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
const med = (xs: number[]): string => (xs.length ? String(xs[xs.length >> 1]) : '-');
const ok = rows.filter((r) => r.outcome === 'on-primary');
const link = sorted(ok.map((r) => r.linkUpMs));
const ensl = sorted(ok.map((r) => r.enslavedMs));
console.log('');
console.log(`| ${rows.length} runs | count |\n|---|---|`);
for (const o of ['on-primary', 'late', 'never', 'guest-crashed', 'migration-failed'] as const) console.log(`| ${o} | ${count(o)} |`);
console.log(`\non time: enslaved ${med(ensl)} ms (${ensl[0] ?? '-'}–${ensl.at(-1) ?? '-'}), link up ${med(link)} ms (${link[0] ?? '-'}–${link.at(-1) ?? '-'}) after RESUME (median, range)`);
console.log(`QEMU listed the primary on the destination (query-pci) in ${rows.filter((r) => r.qemuReplugged).length} of ${rows.length} runs`);
console.log(`guest boots: ${boots}; load before: ${loadBefore}; after: ${uptime()}`);
console.log(`bench/replug done in ${((performance.now() - t0) / 1000).toFixed(0)} s; rows in ${path.join(dump, 'rows.json')}`);
await writeFile(path.join(dump, 'rows.json'), `${JSON.stringify(rows, null, 2)}\n`);
