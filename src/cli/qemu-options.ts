// Options shared by the verbs that need a QEMU: --caps, --profile, --emulator,
// and the post-parse step they all run before addresses or argv exist.
import type { Command } from 'commander';
import { InvalidArgError } from '../util/errors.js';
import type { Domain } from '../conf/domain.js';
import { findEmulator } from '../conf/emulator.js';
import { cachedQemuCaps, loadLibvirtCaps, probeQemuCaps, type QemuCaps } from '../qemu/caps/index.js';
import { defineDomain, postParseDomain } from '../qemu/postparse/index.js';
import { resolveExecutable } from '../util/proc.js';

/** The QEMU a verb probes when nothing names one (as the driver's default). */
const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';
export type Profile = 'default' | 'libvirt-test';

export interface QemuCliOptions {
  caps?: string;
  profile?: string;
  emulator?: string;
}

export function addQemuOptions(cmd: Command): Command {
  return cmd
    .option('--caps <file>', "libvirt QEMU capabilities XML (as in /var/cache/libvirt/qemu/capabilities/) instead of probing the emulator")
    .option('--emulator <path>', "QEMU binary to probe (default: $VIRT_FAILOVER_QEMU or qemu-system-x86_64 on PATH; the file's own <emulator> is never run)")
    .option('--profile <name>', "'default', or 'libvirt-test' to reproduce libvirt's test environment", 'default');
}

export function profileOf(opts: QemuCliOptions): Profile {
  const p = opts.profile ?? 'default';
  if (p !== 'default' && p !== 'libvirt-test') throw new InvalidArgError(`unknown profile '${p}': use 'default' or 'libvirt-test'`);
  return p;
}

const capsFiles = new Map<string, Promise<QemuCaps>>();

/** Capabilities and where they came from (said on stderr when it is not the file's own emulator). */
export interface CapsChoice {
  caps: QemuCaps;
  source: string;
}

/** The QEMU a verb probes when nothing names one: $VIRT_FAILOVER_QEMU, else qemu-system-x86_64 on PATH. */
export function defaultQemu(env: NodeJS.ProcessEnv = process.env): string {
  return resolveExecutable(env.VIRT_FAILOVER_QEMU || DEFAULT_QEMU_BINARY, env);
}

/**
 * Capabilities from --caps, else a (cached) probe of --emulator, else the cached capabilities of
 * the domain's <emulator>, else a (cached) probe of the default QEMU. A file someone sends must
 * never run a program, so the domain's own <emulator> is only read from the cache, never started
 * (define and start run it, as libvirt does).
 */
export async function chooseCaps(opts: QemuCliOptions, dom?: Domain): Promise<CapsChoice> {
  if (opts.caps) {
    let caps = capsFiles.get(opts.caps);
    if (!caps) capsFiles.set(opts.caps, (caps = loadLibvirtCaps(opts.caps)));
    return { caps: await caps, source: `--caps ${opts.caps}` };
  }
  if (opts.emulator) return { caps: await probeQemuCaps(opts.emulator), source: `--emulator ${opts.emulator}` };
  const own = dom ? findEmulator(dom.devices) : undefined;
  if (own) {
    const cached = await cachedQemuCaps(own);
    if (cached) return { caps: cached, source: `the cached capabilities of ${own}` };
  }
  const binary = defaultQemu();
  return { caps: await probeQemuCaps(binary), source: `the default QEMU ${binary}` };
}

/** The note a verb prints when the capabilities are not those of the file's own emulator. */
export function capsNote(choice: CapsChoice, dom?: Domain): string | undefined {
  const own = dom ? findEmulator(dom.devices) : undefined;
  // --caps and --emulator are the user's own choice: nothing to say then.
  if (!own || choice.source.startsWith('--') || choice.source === `the cached capabilities of ${own}` || choice.source === `the default QEMU ${own}`) return undefined;
  return `note: using the capabilities of ${choice.source}, not running the file's <emulator> ${own}\n`;
}

export async function capsFor(opts: QemuCliOptions, dom?: Domain): Promise<QemuCaps> {
  return (await chooseCaps(opts, dom)).caps;
}

export async function postParseWithOptions(
  dom: Domain,
  opts: QemuCliOptions,
  note?: (text: string) => void,
): Promise<{ dom: Domain; caps: QemuCaps; profile: Profile }> {
  const profile = profileOf(opts);
  const choice = await chooseCaps(opts, dom);
  const text = capsNote(choice, dom);
  if (text) note?.(text);
  const caps = choice.caps;
  return { dom: postParseDomain(dom, caps, { profile }), caps, profile };
}

/** virsh define's checks (post-parse, then the validators): what validate and format --post-parse run. */
export async function defineWithOptions(
  dom: Domain,
  opts: QemuCliOptions,
  note?: (text: string) => void,
): Promise<{ dom: Domain; caps: QemuCaps; profile: Profile }> {
  const profile = profileOf(opts);
  const choice = await chooseCaps(opts, dom);
  const text = capsNote(choice, dom);
  if (text) note?.(text);
  const caps = choice.caps;
  return { dom: defineDomain(dom, caps, { profile }), caps, profile };
}
