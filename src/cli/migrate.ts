// `virt-failover migrate DOMAIN local|ssh://[USER@]HOST[:PORT][?...] [--unplug-timeout SECONDS]
//   [--require-failover] [--resume] [--timeout SECONDS [--timeout-suspend]] [--max-downtime MS]
//   [--bandwidth MiB/s] [--guest-timeout SECONDS] [--persistent] [--undefinesource] [--tunnelled]`:
// live migration into a second QEMU on this host, or to another host through OpenSSH and the agent
// there (src/qemu/remote). Progress goes to stderr (one rewritten line on a terminal, plain lines otherwise), the
// summary to stdout; --json prints the report (timeline in ms) or, on failure, the failure report.
// Afterwards it waits (--guest-timeout) for the guest's driver to enable each re-plugged primary, as
// QEMU sees it, and warns plainly when the guest does not (docs/replug.md); the migration stands.
// Ctrl-C / SIGTERM / SIGHUP cancel the migration: the guest stays on the source. A kill -9 leaves a
// record that the next command on the domain settles (src/qemu/driver/reconcile.ts).
import type { Command } from 'commander';
import {
  MigrationFailedError,
  migrationFailureJson,
  migrationReportJson,
  renderProgressLine,
  renderSummary,
  renderTimeline,
} from '../qemu/migration/index.js';
import type { MigrationProgress } from '../qemu/migration/index.js';
import type { MigrationResult } from '../qemu/migration/index.js';
import { AgentChannel, RemoteDestination, isSshUri, parseSshUri, type SshTarget } from '../qemu/remote/index.js';
import type { DomainSummary } from '../conf/domain-state.js';
import { InvalidArgError, NoDomainError, OperationUnsupportedError } from '../util/errors.js';
import { printVirsh } from './domain-common.js';
import { type BackendMigrateOptions, connectUri, openBackend, openDriver, parseLibvirtFlags } from './backend.js';
import { type CliIo, printJson } from './io.js';

/** --unplug-timeout: seconds, fractions allowed, more than 0. */
export function parseUnplugTimeout(raw: string): number {
  const v = Number(raw);
  if (!/^\s*\d*\.?\d+\s*$/.test(raw) || !Number.isFinite(v) || v <= 0 || v > 2_000_000) {
    throw new InvalidArgError(`Numeric value '${raw}' for <unplug-timeout> option is malformed or out of range`);
  }
  return Math.round(v * 1000);
}

/** --timeout: whole seconds, at least 1 (virsh's). */
export function parseMigrateTimeout(raw: string): number {
  const v = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < 1 || v > 2_000_000) {
    throw new InvalidArgError(`Numeric value '${raw}' for <timeout> option is malformed or out of range`);
  }
  return v * 1000;
}

/** --max-downtime (ms, up to QEMU's 2 000 000) and --bandwidth (MiB/s): whole numbers from 1. */
export function parsePositiveInt(raw: string, option: string, max: number): number {
  const v = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < 1 || v > max) {
    throw new InvalidArgError(`Numeric value '${raw}' for <${option}> option is malformed or out of range`);
  }
  return v;
}

/** --guest-timeout: seconds as --unplug-timeout (0 is handled by the caller: no wait). */
export function parseGuestTimeout(raw: string): number {
  try {
    return parseUnplugTimeout(raw);
  } catch {
    throw new InvalidArgError(`Numeric value '${raw}' for <guest-timeout> option is malformed or out of range`);
  }
}

/** The plain statement when the guest has not enabled its re-plugged primaries in time (QEMU's view). */
export function guestNotUpText(ids: readonly string[], timeoutMs: number): string {
  const what = ids.length > 1 ? `failover primaries ${ids.map((i) => `'${i}'`).join(', ')}` : `failover primary '${ids[0]}'`;
  return (
    `the migration completed and QEMU has the ${what} plugged on the destination, but the guest has not brought ` +
    `${ids.length > 1 ? 'them' : 'it'} up after ${(timeoutMs / 1000).toFixed(0)} s (its driver has not enabled the device): ` +
    'its traffic stays on the standby (see docs/replug.md)'
  );
}

/** Where progress goes: a terminal gets one line rewritten in place, anything else a line per report. */
export function progressPrinter(write: (s: string) => void, tty: boolean): { onProgress(ev: MigrationProgress): void; end(): void } {
  let open = false;
  return {
    onProgress(ev) {
      const line = renderProgressLine(ev);
      if (tty) {
        write(`\r\x1b[K${line}`);
        open = true;
      } else write(`${line}\n`);
    },
    end() {
      if (open) write('\n');
      open = false;
    },
  };
}

interface MigrateOpts {
  unplugTimeout: string;
  guestTimeout: string;
  requireFailover?: boolean;
  resume?: boolean;
  timeout?: string;
  timeoutSuspend?: boolean;
  timeoutPostcopy?: boolean;
  maxDowntime?: string;
  bandwidth?: string;
  libvirtFlags?: string;
  migrateuri?: string;
  live?: boolean;
  persistent?: boolean;
  undefinesource?: boolean;
  tunnelled?: boolean;
}

interface Migrated {
  result: MigrationResult;
  domain: DomainSummary;
  /** Another host: its URI and hostname, and what is left here. */
  remote?: { uri: string; hostname: string; source: 'shutoff' | 'undefined' };
}

/** `migrate NAME ssh://HOST`: the agent there through ssh, the embedded driver here. */
async function migrateToHost(program: Command, ref: string, target: SshTarget, opts: MigrateOpts, common: BackendMigrateOptions): Promise<Migrated> {
  const tunnelled = !!opts.tunnelled;
  const ch = await AgentChannel.open(target, { tunnelled });
  try {
    const r = await openDriver(program).migrateTo(ref, new RemoteDestination(ch, { tunnelled }), {
      ...common,
      persistent: !!opts.persistent,
      undefineSource: !!opts.undefinesource,
      tunnelled,
    });
    return { ...r, remote: { uri: target.label, hostname: ch.remote.hostname, source: r.source } };
  } finally {
    await ch.close();
  }
}

export function registerMigrate(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('migrate')
    .description('live-migrate a running domain; failover primaries are unplugged before and re-plugged after')
    .argument('<domain>', 'domain name, id or uuid')
    .argument('<destination>', "'local' (a second QEMU on this host), ssh://[USER@]HOST[:PORT][?state-dir=DIR&command=PATH&keyfile=F&known_hosts=F], or with --connect SRC_URI the destination's libvirt URI")
    .option('--unplug-timeout <seconds>', 'how long the guest gets to release its failover primaries', '30')
    .option('--require-failover', 'refuse when a failover pair would not fail over (guest without failover driver, primary not plugged)')
    .option('--resume', 'resume a paused guest first (a paused guest cannot release its primaries)')
    .option('--timeout <seconds>', 'suspend the guest when the live migration takes longer (virsh --timeout)')
    .option('--timeout-suspend', 'what --timeout does: suspend the guest so that the migration converges (the default)')
    .option('--timeout-postcopy', 'switch to post-copy at --timeout (not supported)')
    .option('--max-downtime <ms>', "the longest pause QEMU may take for the switchover (its downtime-limit)")
    .option('--bandwidth <MiB/s>', 'migration bandwidth limit in MiB/s (virsh --bandwidth)')
    .option('--live', 'live migration (always: accepted for virsh compatibility)')
    .option('--persistent', 'define the domain on the destination host')
    .option('--undefinesource', 'remove the definition from this host afterwards')
    .option('--tunnelled', 'carry the migration stream inside the SSH connection (nothing listens on the network)')
    .option('--guest-timeout <seconds>', "afterwards, how long the guest gets to take its re-plugged primaries up (0: don't wait)", '20')
    .option('--libvirt-flags <flags>', "with --connect: virsh migrate flags instead of '--live --persistent --undefinesource'")
    .option('--migrateuri <uri>', 'with --connect: where QEMU sends the stream (virsh migrate --migrateuri), e.g. tcp://10.0.0.2')
    .addHelpText(
      'after',
      '\nWith --connect, the pre-checks and the failover timeline use read-only QMP queries through\n' +
        "'virsh qemu-monitor-command' and 'virsh qemu-monitor-event'; libvirt then marks the domain as\n" +
        "tainted 'custom-monitor' (shown by 'virsh dominfo'; nothing else changes). The migration itself is\n" +
        "libvirt's ('virsh migrate'); on --unplug-timeout it is aborted with 'virsh domjobabort'.\n",
    )
    .action(async (ref: string, destination: string, opts: MigrateOpts) => {
      const unplugTimeoutMs = parseUnplugTimeout(opts.unplugTimeout);
      // ssh:// is our own transport, for the embedded driver; with --connect the destination is libvirt's URI.
      const remote = connectUri(program) === undefined && isSshUri(destination) ? parseSshUri(destination) : undefined;
      if (!remote && (opts.persistent || opts.undefinesource || opts.tunnelled)) {
        throw new InvalidArgError('--persistent, --undefinesource and --tunnelled need a destination on another host (ssh://HOST)');
      }
      const guestTimeoutMs = opts.guestTimeout.trim() === '0' ? 0 : parseGuestTimeout(opts.guestTimeout);
      for (const o of ['timeout-suspend', 'timeout-postcopy'] as const) {
        const set = o === 'timeout-suspend' ? opts.timeoutSuspend : opts.timeoutPostcopy;
        if (set && opts.timeout === undefined) throw new InvalidArgError(`Option --timeout is required by option --${o}`);
      }
      if (opts.timeoutSuspend && opts.timeoutPostcopy) {
        throw new InvalidArgError('Options --timeout-suspend and --timeout-postcopy are mutually exclusive');
      }
      if (opts.timeoutPostcopy) {
        throw new OperationUnsupportedError('post-copy migration is not supported: --timeout-postcopy cannot be used (use --timeout-suspend)');
      }
      const timeoutMs = opts.timeout === undefined ? undefined : parseMigrateTimeout(opts.timeout);
      const maxDowntimeMs = opts.maxDowntime === undefined ? undefined : parsePositiveInt(opts.maxDowntime, 'max-downtime', 2_000_000);
      // QEMU takes bytes/s in an int64; virsh's limit in MiB/s.
      const bandwidthMiBs = opts.bandwidth === undefined ? undefined : parsePositiveInt(opts.bandwidth, 'bandwidth', 8_796_093_022_207);
      const progress = progressPrinter((s) => io.err(s), !!process.stderr.isTTY);
      const ac = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        if (ac.signal.aborted) return;
        progress.end();
        io.err(`${sig}: cancelling the migration (the guest stays on the source)\n`);
        ac.abort(sig);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      process.on('SIGHUP', onSignal); // a closed terminal cancels cleanly too
      try {
        const backend = openBackend(program);
        const common: BackendMigrateOptions = {
          unplugTimeoutMs,
          requireFailover: !!opts.requireFailover,
          resume: !!opts.resume,
          timeoutMs,
          maxDowntimeMs,
          bandwidthMiBs,
          signal: ac.signal,
          onProgress: (ev) => progress.onProgress(ev),
          ...(opts.libvirtFlags !== undefined ? { libvirtFlags: parseLibvirtFlags(opts.libvirtFlags) } : {}),
          ...(opts.migrateuri !== undefined ? { migrateUri: opts.migrateuri } : {}),
        };
        const done: Migrated = remote ? await migrateToHost(program, ref, remote, opts, common) : await backend.migrate(ref, destination, common);
        const { result, domain } = done;
        progress.end();
        // The migration is done; whether the guest takes its primaries back is its part, reported plainly.
        // (Not yet between hosts: the guest's QEMU is the other host's.)
        const ids = result.destination.replugged;
        const uptake =
          !done.remote && guestTimeoutMs > 0 && ids.length ? await backend.waitPrimariesEnabled(domain.name, ids, { timeoutMs: guestTimeoutMs }) : [];
        const notUp = uptake.filter((u) => u.enabledAfterMs === null);
        const problem = notUp.length ? guestNotUpText(notUp.map((u) => u.id), guestTimeoutMs) : null;
        if (io.json) {
          printJson(io, {
            ...migrationReportJson(result),
            domain,
            guest: { timeoutMs: guestTimeoutMs, primaries: uptake, problem },
            ...(done.remote ? { destination: done.remote } : {}),
          });
        } else if (done.remote) {
          printVirsh(
            io,
            `${renderSummary(result)}\nDomain '${domain.name}' now runs on ${done.remote.hostname} (${done.remote.uri}) in QEMU pid ${domain.pid ?? '?'}` +
              (done.remote.source === 'undefined' ? '; it is no longer defined here' : ''),
          );
        } else {
          const up = uptake.filter((u) => u.enabledAfterMs !== null);
          const upText = up.map((u) => `\n  guest: ${u.id} enabled by its driver ${((u.enabledAfterMs ?? 0) / 1000).toFixed(1)} s after the migration`).join('');
          const where = domain.pid !== undefined ? `in QEMU pid ${domain.pid}` : `on ${destination}${domain.id !== undefined ? ` (id ${domain.id})` : ''}`;
          printVirsh(io, `${renderSummary(result)}${upText}\nDomain '${domain.name}' now runs ${where}`);
        }
        if (problem) io.err(`warning: ${problem}\n`);
      } catch (e) {
        progress.end();
        if (e instanceof NoDomainError && !io.json) io.err(`error: failed to get domain '${ref}'\n`);
        if (e instanceof MigrationFailedError) {
          if (io.json) {
            printJson(io, migrationFailureJson(e));
            setExit(1);
            return;
          }
          io.err(`Timeline:\n${renderTimeline(e.timeline).map((l) => `  ${l}\n`).join('')}`);
        }
        throw e;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('SIGHUP', onSignal);
      }
    });
}
