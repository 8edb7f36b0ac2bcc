// `virt-failover demo [XML]`: the live part of `npm run demo`. In a temporary state dir: the test guest
// (distribution kernel + busybox initramfs), the example failover domain (an emulated e1000e primary
// paired with a virtio-net standby) defined and started, the guest's own view awaited (failover
// negotiated, primary enslaved, link up, pings answered), a live migration with live progress (to host B
// over ssh:// when two hosts can be made here, see demo-hosts.ts; else to a second QEMU on this host),
// the guest watched until it answers promptly again on the destination, and a summary of what QEMU
// and what the guest saw per phase. Then destroy + undefine, and the temporary dir removed.
// Every number printed is measured in this run.
import type { Command } from 'commander';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { QemuDriver } from '../qemu/driver/index.js';
import { ensureGuestImage, GuestConsole, guestKernelArgs, type ConsoleLine, type GuestImage, type GuestMode } from '../testbed/index.js';
import type { GuestEvent } from '../testbed/index.js';
import { replugTimeoutText, watchGuestReplug, type ReplugWatch } from '../testbed/index.js';
import { analyzeGuestOutage, marksFromTimeline, phaseTimes, type GuestOutage, type MigrationMarks, type PhaseOutage } from '../testbed/index.js';
import { MigrationFailedError, migrationReportJson, renderTimeline, type MigrationProgress, type MigrationResult } from '../qemu/migration/index.js';
import { OperationFailedError } from '../util/errors.js';
import { type CliIo, printJson } from './io.js';
import { progressPrinter } from './migrate.js';
import { chooseDemoHosts, migrateToHostB } from './demo-hosts.js';

export const DEMO_XML = path.join('examples', 'failover-emulated-primary.xml');

const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

function replaceIn(xml: string, re: RegExp, value: string, what: string, atLeast = 1): string {
  let n = 0;
  const out = xml.replace(re, (_m, open: string, close: string) => {
    n++;
    return `${open}${value}${close}`;
  });
  if (n < atLeast) throw new OperationFailedError(`the demo domain XML has no ${what} to fill in`);
  return out;
}

/**
 * The example domain with this machine's guest: kernel, initrd, kernel command line (guest mode), the
 * serial socket QEMU connects to, and optionally another name (the UUID is then dropped: define makes one).
 */
export function fillDemoXml(xml: string, f: { kernel: string; initrd: string; serialPath: string; mode?: GuestMode; name?: string }): string {
  let out = replaceIn(xml, /(<kernel>)[^<]*(<\/kernel>)/g, xmlEscape(f.kernel), '<kernel>');
  out = replaceIn(out, /(<initrd>)[^<]*(<\/initrd>)/g, xmlEscape(f.initrd), '<initrd>');
  out = replaceIn(out, /(<cmdline>)[^<]*(<\/cmdline>)/g, xmlEscape(guestKernelArgs(f.mode ?? 'failover')), '<cmdline>');
  out = replaceIn(out, /(<source mode='connect' path=')[^']*('\/>)/g, xmlEscape(f.serialPath), "serial <source mode='connect'>");
  if (f.name !== undefined) {
    out = replaceIn(out, /(<name>)[^<]*(<\/name>)/, xmlEscape(f.name), '<name>');
    out = out.replace(/^\s*<uuid>[^<]*<\/uuid>\n/m, '');
  }
  return out;
}

/** Waits for a console line whose event satisfies `pred`; on timeout, names what was awaited and shows the last lines. */
export async function waitGuest(
  con: GuestConsole,
  what: string,
  pred: (e: GuestEvent, l: ConsoleLine) => boolean,
  opts: { timeoutMs: number; from?: number; signal?: AbortSignal },
): Promise<ConsoleLine> {
  try {
    return await con.waitFor((l) => l.event !== undefined && pred(l.event, l), Math.max(1, opts.timeoutMs), opts.from ?? 0, opts.signal);
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    const tail = con.lines.slice(-6).map((l) => l.line.trim()).join(' | ');
    throw new OperationFailedError(
      `the guest did not report ${what} within ${(opts.timeoutMs / 1000).toFixed(0)} s${tail ? `; last console lines: ${tail}` : ' (no console output)'}`,
    );
  }
}

/** A ping reply answered promptly (the gateway is local: anything slow is a delayed reply). */
const prompt = (e: GuestEvent): boolean => e.kind === 'ping' && e.timeMs < 100;

export interface GuestReady {
  /** Host times (performance.now) of: init running, the primary enslaved, its link up, the prompt replies. */
  initAt: number;
  enslavedAt: number;
  linkUpAt: number;
  pingingAt: number;
  master: string;
  standby: string;
  primary: string;
}

/**
 * Boot to "ready" as the guest sees it: failover negotiated (QEMU plugs the primary only then), the
 * primary enslaved by the failover master with its link up, and `replies` (20) prompt ping replies after that.
 * block-unplug guests also wait for their GPEs to be masked (VFBLOCK).
 */
export async function waitGuestReady(
  con: GuestConsole,
  mode: GuestMode,
  opts: { timeoutMs: number; signal?: AbortSignal; replies?: number },
): Promise<GuestReady> {
  const want = opts.replies ?? 20;
  const end = performance.now() + opts.timeoutMs;
  const o = (from = 0) => ({ timeoutMs: end - performance.now(), from, signal: opts.signal });
  const init = await waitGuest(con, 'its init (VFINIT)', (e) => e.kind === 'init', o());
  const up = await waitGuest(con, 'the failover primary enslaved with its link up (VFSTATE)', (e) => e.kind === 'state' && e.enslaved && e.link === 'up', o());
  const enslaved = con.lines.find((l) => l.event?.kind === 'state' && l.event.enslaved) ?? up;
  if (mode === 'block-unplug') await waitGuest(con, 'its ACPI GPEs masked (VFBLOCK)', (e) => e.kind === 'block', o());
  const from = con.lines.indexOf(up) + 1;
  let n = 0;
  const ping = await waitGuest(con, `${want} prompt ping replies`, (e) => prompt(e) && ++n >= want, o(from));
  const st = up.event as Extract<GuestEvent, { kind: 'state' }>;
  return {
    initAt: init.t,
    enslavedAt: enslaved.t,
    linkUpAt: up.t,
    pingingAt: ping.t,
    master: st.master ?? '?',
    standby: st.standby ?? '?',
    primary: st.primary ?? '?',
  };
}

/** How the guest came back on the destination (never a throw: a guest left on the standby is reported). */
export interface GuestRecovery {
  /** The guest's take-back of the re-plugged primary (enslaved, link up), within the deadline or not. */
  replug: ReplugWatch;
  /** `replies` prompt ping replies arrived after the link came up. */
  prompt: boolean;
  /** Host time the observation ended: the last of those replies, else when we stopped waiting. */
  end: number;
  /** The deadline from RESUME, ms. */
  timeoutMs: number;
}

/**
 * After RESUME (host time `resumeAt`): the primary enslaved with its link up again on the destination,
 * then `replies` (10) prompt ping replies, all within `timeoutMs` of RESUME.
 */
export async function waitGuestRecovered(
  con: GuestConsole,
  resumeAt: number,
  opts: { timeoutMs: number; signal?: AbortSignal; replies?: number },
): Promise<GuestRecovery> {
  const replug = await watchGuestReplug(con, resumeAt, opts);
  const timeoutMs = opts.timeoutMs;
  if (!replug.onPrimary) return { replug, prompt: false, end: performance.now(), timeoutMs };
  let n = 0;
  const want = opts.replies ?? 10;
  const from = con.lines.findIndex((l) => l.t === replug.linkUpAt) + 1;
  const left = resumeAt + opts.timeoutMs - performance.now();
  try {
    const last = await waitGuest(con, `${want} prompt ping replies on the destination`, (e) => prompt(e) && ++n >= want, {
      timeoutMs: left,
      from,
      signal: opts.signal,
    });
    return { replug, prompt: true, end: last.t, timeoutMs };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return { replug, prompt: false, end: performance.now(), timeoutMs };
  }
}

/** A migration as the guest saw it, on the host clock of the console lines. */
export interface ObservedMigration {
  result: MigrationResult;
  marks: MigrationMarks;
  outage: GuestOutage;
  /** Wall time of the migrateLocal call (destination start, migration, adoption, source quit). */
  callMs: number;
  newPid: number | undefined;
  recovery: GuestRecovery;
}

/** Host time of the migration's timeline origin, taken from its first progress report. */
export function timelineClock(): { onProgress(ev: { at: number }): void; offset(): number | undefined } {
  let offset: number | undefined;
  return {
    onProgress: (ev) => {
      offset ??= performance.now() - ev.at;
    },
    offset: () => offset,
  };
}

/** migrateLocal, then the guest watched until it answers promptly on the destination, then the analysis. */
export async function migrateObserved(
  driver: QemuDriver,
  name: string,
  con: GuestConsole,
  opts: {
    unplugTimeoutMs?: number;
    recoverTimeoutMs: number;
    signal?: AbortSignal;
    onProgress?: (ev: MigrationProgress) => void;
    /** Another migration than migrateLocal (the demo's two hosts), given the progress callback. */
    migrate?: (onProgress: (ev: MigrationProgress) => void) => Promise<{ result: MigrationResult; domain: { pid?: number } }>;
  },
): Promise<ObservedMigration> {
  const clock = timelineClock();
  const t0 = performance.now();
  const onProgress = (ev: MigrationProgress): void => {
    clock.onProgress(ev);
    opts.onProgress?.(ev);
  };
  const { result, domain } = opts.migrate
    ? await opts.migrate(onProgress)
    : await driver.migrateLocal(name, { unplugTimeoutMs: opts.unplugTimeoutMs, signal: opts.signal, onProgress });
  const callMs = performance.now() - t0;
  const offset = clock.offset() ?? t0;
  const marks = marksFromTimeline(result.timeline, offset);
  const resumeAt = marks.resume ?? offset + result.destination.resumedAt;
  const recovery = await waitGuestRecovered(con, resumeAt, { timeoutMs: opts.recoverTimeoutMs, signal: opts.signal });
  const outage = analyzeGuestOutage(con.lines, { ...marks, end: recovery.end });
  return { result, marks, outage, callMs, newPid: domain.pid, recovery };
}

/**
 * Null when the guest answers promptly over its primary again; else what went wrong, plainly (the
 * migration itself completed: this is the guest's side).
 */
export function recoveryProblem(o: Pick<ObservedMigration, 'result' | 'recovery'>): string | null {
  const { replug, prompt: ok, timeoutMs } = o.recovery;
  if (!replug.onPrimary) return replugTimeoutText(replug, o.result.destination.replugged);
  if (!ok) {
    return `the guest brought its primary up on the destination but did not answer pings promptly within ${(timeoutMs / 1000).toFixed(0)} s of the switchover`;
  }
  return null;
}

/**
 * The console lines and marks as a tests/data/guest-observer input (times rounded to 0.1 ms, one line
 * per console line; boot lines up to 1 s before `migrate` left out).
 */
export function renderTrace(lines: readonly ConsoleLine[], marks: MigrationMarks, comment = 'recorded by virt-failover demo'): string {
  const r = (t: number | null | undefined): number | null => (t === null || t === undefined ? null : Math.round(t * 10) / 10);
  const m = Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, r(v as number | null)]));
  const body = lines.filter((l) => l.t >= marks.migrate - 1000).map((l) => `    ${JSON.stringify({ t: r(l.t), line: l.line })}`);
  return `{\n  "comment": ${JSON.stringify(comment)},\n  "marks": ${JSON.stringify(m)},\n  "lines": [\n${body.join(',\n')}\n  ]\n}\n`;
}

// ---- the summary -------------------------------------------------------------------------------

const msText = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${Math.round(v)} ms`);

function phaseLine(label: string, p: PhaseOutage, gapWord: string): string {
  if (!p.longest) return `    ${label.padEnd(40)} no replies to compare`;
  const g = p.longest;
  const lostAll = p.lost !== g.lost ? ` (${p.lost} in the phase)` : '';
  return `    ${label.padEnd(40)} ${gapWord} ${String(Math.round(g.ms)).padStart(5)} ms, ${String(g.lost).padStart(3)} lost${lostAll}`;
}

/** The end-of-demo summary: what QEMU reported and what the guest saw, per phase. */
export function renderDemoSummary(o: ObservedMigration, pingIntervalMs = 10): string {
  const { result: r, outage: g } = o;
  const pt = phaseTimes(r.timeline);
  const lines: string[] = ['Summary'];
  lines.push(`  migration completed: ${(r.elapsedMs / 1000).toFixed(2)} s from the call to the destination's re-plug check ` +
    `(${(o.callMs / 1000).toFixed(2)} s including the source's exit)`);
  for (const p of r.pairs) {
    const how = !p.failover
      ? 'did not fail over (it was not plugged on the source)'
      : p.replugged
        ? 'unplugged on the source, primary re-plugged on the destination'
        : 'unplugged on the source, NOT re-plugged on the destination';
    lines.push(`  ${p.id} (standby ${p.standbyId}): ${how}`);
  }
  const rel = (t: number | null | undefined): string => (t === null || t === undefined ? '-' : `+${Math.round(t - o.marks.migrate)} ms`);
  lines.push(
    `  phases (QEMU events on the source): setup ${msText(pt.setup)}, wait-unplug ${msText(pt.waitUnplug)}, ` +
      `active ${msText(pt.active)}, switchover to destination RESUME ${msText(pt.switchover)}`,
  );
  lines.push(
    `  QEMU query-migrate: downtime ${msText(r.downtimeMs)}, total ${msText(r.totalTimeMs)}, setup-time ${msText(r.setupTimeMs)} (includes wait-unplug)`,
  );
  const ram = r.ramTransferredBytes === null ? '-' : `${(r.ramTransferredBytes / 1e6).toFixed(1)} MB`;
  lines.push(`  RAM transferred: ${ram}`);
  lines.push(
    `  marks after migrate: STOP ${rel(o.marks.stop)}, destination re-plug (FAILOVER_NEGOTIATED) ${rel(o.marks.replug)}, RESUME ${rel(o.marks.resume)}`,
  );
  const gs = g.guest;
  lines.push(
    `  guest: primary released on the source at ${gs.primaryReleasedAt === null ? '-' : `+${Math.round(gs.primaryReleasedAt)} ms`}, ` +
      `enslaved again on the destination at ${gs.primaryEnslavedAt === null ? '-' : `+${Math.round(gs.primaryEnslavedAt)} ms`}, ` +
      `its link up at ${gs.linkUpAt === null ? '-' : `+${Math.round(gs.linkUpAt)} ms`}`,
  );
  lines.push(
    `  guest ping to the gateway every ${pingIntervalMs} ms (replies ${msText(g.baselineMs)} apart before migrate; ` +
      `${g.replies.source} replies on the source, ${g.replies.destination} on the destination):`,
  );
  lines.push(phaseLine('unplug (migrate -> STOP, source)', g.unplug, 'longest gap'));
  lines.push(phaseLine('stop-and-copy (last source -> first dst)', g.stopAndCopy, 'gap        '));
  lines.push(phaseLine('after the re-plug (destination)', g.replug, 'longest gap'));
  if (g.replug.open) lines.push(`    still no reply on the destination for ${Math.round(g.replug.open.ms)} ms when the observation ended`);
  lines.push(`    ${'guest-observed outage, total'.padEnd(40)} ${String(Math.round(g.total.ms)).padStart(17)} ms, ${String(g.total.lost).padStart(3)} lost`);
  if (g.pingRestarts) lines.push(`    (ping restarted ${g.pingRestarts} time(s): losses across a restart are not counted)`);
  const problem = recoveryProblem(o);
  if (problem) lines.push(`  NOT BACK ON THE PRIMARY: ${problem}`);
  else if (r.pairs.some((p) => p.failover && p.replugged)) {
    lines.push(
      '  The gap after the re-plug is the emulated e1000e primary: the guest enslaves it at once but its link comes up',
      '  ~2 s later, and net_failover drops what arrives on the standby meanwhile (docs/replug.md). So the',
      "  guest's traffic is not back at RESUME: the outage above is what the guest measured.",
    );
  }
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

// ---- the demo ----------------------------------------------------------------------------------

export interface DemoOptions {
  xmlFile: string;
  io: CliIo;
  signal?: AbortSignal;
  bootTimeoutMs?: number;
  recoverTimeoutMs?: number;
  unplugTimeoutMs?: number;
  /** Write the console lines and marks (a tests/data/guest-observer input) to this file. */
  traceFile?: string;
  /** Parent of the temporary state dir (default the OS temp dir). */
  tmpDir?: string;
  image?: GuestImage;
  /** Migrate on this host even when a second host could be made. */
  local?: boolean;
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const { io } = opts;
  const t0 = performance.now();
  const say = (s: string): void => {
    if (!io.json) io.out(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
  };
  const template = await readFile(opts.xmlFile, 'utf8');
  const image = opts.image ?? (await ensureGuestImage());
  say(`guest: kernel ${image.kernel}, initramfs ${image.initrd} (busybox + ${image.modules.length} modules)`);

  const dir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'vf-demo-'));
  await chmod(dir, 0o700);
  let con: GuestConsole | undefined;
  let driver: QemuDriver | undefined;
  let name: string | undefined;
  let place: Awaited<ReturnType<typeof chooseDemoHosts>> | undefined;
  try {
    driver = QemuDriver.open({ stateDir: path.join(dir, 'state'), runtimeDir: path.join(dir, 'run') });
    const serialPath = path.join(dir, 'serial.sock');
    con = await GuestConsole.listen(serialPath);
    const xmlPath = path.join(dir, path.basename(opts.xmlFile));
    await writeFile(xmlPath, fillDemoXml(template, { kernel: image.kernel, initrd: image.initrd, serialPath }), { mode: 0o600 });
    say(`state dir ${dir} (temporary); the guest's serial console is ${serialPath}`);

    const def = await driver.define(await readFile(xmlPath), { source: xmlPath });
    name = def.name;
    say(`define: Domain '${def.name}' defined from ${opts.xmlFile} (kernel, initrd and serial path filled in)`);
    const started = await driver.start(def.name);
    const startedAt = performance.now();
    say(`start: Domain '${def.name}' started (QEMU pid ${started.pid}, ${started.accel})`);

    const ready = await waitGuestReady(con, 'failover', { timeoutMs: opts.bootTimeoutMs ?? 60_000, signal: opts.signal });
    const since = (t: number): string => `${((t - startedAt) / 1000).toFixed(1)} s`;
    say(
      `guest: init at ${since(ready.initAt)}; failover negotiated: master ${ready.master} (standby ${ready.standby}), ` +
        `primary ${ready.primary} plugged by QEMU and enslaved at ${since(ready.enslavedAt)}, link up at ${since(ready.linkUpAt)}; ` +
        `pinging the gateway every 10 ms`,
    );

    place = await chooseDemoHosts(!!opts.local);
    say(`hosts: ${place.said}`);
    const hosts = place.hosts;
    const where = hosts ? `host B over ssh://${hosts.b.addr} (agent: this build)` : 'a second QEMU on this host';
    say(`migrate: '${def.name}' to ${where} (live, unplug deadline ${((opts.unplugTimeoutMs ?? 10_000) / 1000).toFixed(0)} s)`);
    const progress = progressPrinter((s) => io.out(s), false);
    let observed: ObservedMigration;
    const source: QemuDriver = driver;
    try {
      observed = await migrateObserved(driver, def.name, con, {
        unplugTimeoutMs: opts.unplugTimeoutMs ?? 10_000,
        recoverTimeoutMs: opts.recoverTimeoutMs ?? 20_000,
        signal: opts.signal,
        onProgress: io.json ? undefined : (ev) => progress.onProgress(ev),
        migrate: hosts
          ? async (onProgress) => {
              const r = await migrateToHostB(source, def.name, hosts, { unplugTimeoutMs: opts.unplugTimeoutMs ?? 10_000, signal: opts.signal, onProgress });
              driver = r.hostB; // the guest and its definition are B's now (cleanup below)
              return r;
            }
          : undefined,
      });
    } catch (e) {
      if (e instanceof MigrationFailedError && !io.json) io.out(`Timeline:\n${renderTimeline(e.timeline).map((l) => `  ${l}\n`).join('')}`);
      throw e;
    }
    const problem = recoveryProblem(observed);
    const onB = hosts ? ' on host B' : '';
    if (!problem) say(`guest answers promptly again on the destination (QEMU pid ${observed.newPid ?? '?'})${onB}`);
    else say(`the guest has NOT taken its primary back on the destination (QEMU pid ${observed.newPid ?? '?'})${onB}`);
    if (opts.traceFile) {
      await writeFile(opts.traceFile, renderTrace(con.lines, observed.marks));
    }
    if (io.json) {
      const r = observed.recovery;
      printJson(io, {
        migration: migrationReportJson(observed.result),
        phases: phaseTimes(observed.result.timeline),
        guest: observed.outage,
        guestOnPrimary: { ok: problem === null, problem, lastState: r.replug.lastState, crash: r.replug.crash, waitedMs: r.replug.waitedMs },
      });
    } else {
      io.out(`${renderDemoSummary(observed)}\n`);
    }
    // The migration completed, but the product's promise (traffic back on the primary) did not hold: say so, exit 1.
    if (problem) throw new OperationFailedError(`${problem} (see docs/replug.md)`);
  } finally {
    if (driver && name) {
      const st = await driver.getState(name).catch(() => undefined);
      if (st?.active) {
        await driver.destroy(name);
        say(`destroy: Domain '${name}' destroyed`);
      }
      if (st?.persistent) {
        await driver.undefine(name);
        say(`undefine: Domain '${name}' has been undefined`);
      }
    }
    await con?.close();
    if (place?.hosts) {
      await place.hosts.dispose();
      say(`host B removed (sshd stopped, namespace ${place.hosts.b.ns} deleted)`);
    }
    await rm(dir, { recursive: true, force: true });
    say('temporary state dir removed');
  }
}

interface DemoCliOpts {
  bootTimeout: string;
  trace?: string;
  local?: boolean;
}

export function registerDemo(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('demo')
    .description('boot the example failover guest, live-migrate it (to a second host when one can be made here) and report what QEMU and the guest saw')
    .argument('[xml]', 'the failover domain to run (its kernel, initrd and serial path are filled in)', DEMO_XML)
    .option('--boot-timeout <seconds>', 'how long the guest gets to boot and enslave its primary', '60')
    .option('--trace <file>', 'write the guest console lines and migration marks as JSON')
    .option('--local', 'migrate on this host even when a second host (network namespace + sshd) could be made')
    .action(async (xml: string, opts: DemoCliOpts) => {
      const ac = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        if (!ac.signal.aborted) ac.abort(new OperationFailedError(`demo interrupted (${sig})`));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const boot = Number(opts.bootTimeout);
        await runDemo({
          xmlFile: xml,
          io,
          signal: ac.signal,
          bootTimeoutMs: Number.isFinite(boot) && boot > 0 ? boot * 1000 : 60_000,
          traceFile: opts.trace,
          local: !!opts.local,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
