// Options shared by the verbs that need a QEMU: --caps, --profile, --emulator,
// and the post-parse step they all run before addresses or argv exist.
import type { Command } from 'commander';
import { InvalidArgError } from '../util/errors.js';
import type { Domain } from '../conf/domain.js';
import { findEmulator } from '../conf/emulator.js';
import { loadLibvirtCaps, probeQemuCaps, type QemuCaps } from '../qemu/caps/index.js';
import { defineDomain, postParseDomain } from '../qemu/postparse/index.js';

export const DEFAULT_EMULATOR = '/usr/bin/qemu-system-x86_64';
export type Profile = 'default' | 'libvirt-test';

export interface QemuCliOptions {
  caps?: string;
  profile?: string;
  emulator?: string;
}

export function addQemuOptions(cmd: Command): Command {
  return cmd
    .option('--caps <file>', "libvirt QEMU capabilities XML (as in /var/cache/libvirt/qemu/capabilities/) instead of probing the emulator")
    .option('--profile <name>', "'default', or 'libvirt-test' to reproduce libvirt's test environment", 'default');
}

export function profileOf(opts: QemuCliOptions): Profile {
  const p = opts.profile ?? 'default';
  if (p !== 'default' && p !== 'libvirt-test') throw new InvalidArgError(`unknown profile '${p}': use 'default' or 'libvirt-test'`);
  return p;
}

const capsFiles = new Map<string, Promise<QemuCaps>>();

/** Capabilities from --caps (read once per file), else a (cached) probe of the domain's emulator. */
export async function capsFor(opts: QemuCliOptions, dom?: Domain): Promise<QemuCaps> {
  if (opts.caps) {
    let caps = capsFiles.get(opts.caps);
    if (!caps) capsFiles.set(opts.caps, (caps = loadLibvirtCaps(opts.caps)));
    return caps;
  }
  const binary = opts.emulator ?? (dom ? findEmulator(dom.devices) : undefined) ?? DEFAULT_EMULATOR;
  return probeQemuCaps(binary);
}

export async function postParseWithOptions(dom: Domain, opts: QemuCliOptions): Promise<{ dom: Domain; caps: QemuCaps; profile: Profile }> {
  const profile = profileOf(opts);
  const caps = await capsFor(opts, dom);
  return { dom: postParseDomain(dom, caps, { profile }), caps, profile };
}

/** virsh define's checks (post-parse, then the validators): what validate and format --post-parse run. */
export async function defineWithOptions(dom: Domain, opts: QemuCliOptions): Promise<{ dom: Domain; caps: QemuCaps; profile: Profile }> {
  const profile = profileOf(opts);
  const caps = await capsFor(opts, dom);
  return { dom: defineDomain(dom, caps, { profile }), caps, profile };
}
